"""Deduplication: exact copies (same URL key, same normalised text) and near-copies.

A copy keeps its row with `duplicate_of` pointing at its origin, the earliest-published copy.

Near-copies are found with MinHash + LSH (datasketch) over word shingles of the normalised
text. Two signatures per article, made where the text is made (`sign`, called by
`prepare.prepare_articles`) and stored with it: one over the whole text (syndicated copies, light
edits) and one over its lead (a copy cut short shares the original's opening). Their LSH band
buckets are what the store looks up (`store.signatures.known`); LSH only proposes candidates,
each is then checked exactly on shingle sets (Jaccard, or containment of the shorter text in the
longer) and must fall inside a time window.

This module decides; it reads and writes nothing. The store hands it what it knows
(`Known`), it returns decisions and the stored originals that turn out to be copies of an
earlier-published article (`DedupResult`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np

from monitor.models import DedupDecision, StoredArticle, TextSignature
from monitor.urls import url_key

log = logging.getLogger(__name__)

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

# Parameters (see docs/dedup.md).
SHINGLE_WORDS = 4
NUM_PERM = 128
BANDS = 32  # 32 bands x 4 rows: a pair with Jaccard 0.5 is proposed with p ~ 0.87
ROWS = NUM_PERM // BANDS
LEAD_SHINGLES = 120  # the lead signature covers the first 120 shingles
LEAD_BAND_OFFSET = 1000  # lead bands are stored as band numbers 1000..1031
MIN_SHINGLES = 8  # texts shorter than this are only deduplicated exactly
JACCARD_MIN = 0.5
CONTAINMENT_MIN = 0.8
CONTAINMENT_MIN_SHINGLES = 30
NEAR_WINDOW = timedelta(days=14)
MAX_CANDIDATES = 50
_SEED = 1

Reason = Literal["url", "hash", "near"]
Bucket = tuple[int, int]


def normalise_text(text: str) -> str:
    """Lower-cased words only: what two copies of one text have in common."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def content_hash(text: str) -> str:
    """Hash of the normalised text."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:32]


def shingles(text: str, k: int = SHINGLE_WORDS) -> list[str]:
    """Word k-shingles of the normalised text, in text order (duplicates kept)."""
    words = normalise_text(text).split()
    if len(words) < k:
        return [" ".join(words)] if words else []
    return list(map(" ".join, zip(*(words[i:] for i in range(k)), strict=False)))


def _minhashes(sets: Sequence[Iterable[bytes]]) -> list[bytes]:
    # crc32 is stable across processes (signatures are stored) and far cheaper than sha1;
    # MinHash's random permutations do the mixing. datasketch's values are 32-bit.
    # Imported here: datasketch brings SciPy (0.4 s), which a run with nothing to sign (the
    # main process of most runs; signing happens in the extraction workers) does not need.
    from datasketch import MinHash

    hashes = MinHash.bulk(sets, num_perm=NUM_PERM, seed=_SEED, hashfunc=zlib.crc32)
    return [np.asarray(h.hashvalues, dtype=np.uint64).astype("<u4").tobytes() for h in hashes]


def sign(texts: Sequence[str]) -> list[TextSignature]:
    """MinHash signatures (whole text and lead) of many texts at once."""
    if not texts:
        return []  # nothing to import datasketch for (the main process of most runs)
    shingled = [shingles(t) for t in texts]
    sets = [set(sh) for sh in shingled]
    full = _minhashes([[s.encode("utf-8") for s in st] for st in sets])
    lead = _minhashes([[s.encode("utf-8") for s in set(sh[:LEAD_SHINGLES])] for sh in shingled])
    return [TextSignature(f, ld, len(st)) for f, ld, st in zip(full, lead, sets, strict=True)]


def signature_values(blob: bytes) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """A stored signature (NUM_PERM little-endian uint32) as an array."""
    return np.frombuffer(blob, dtype="<u4").astype(np.uint64)


def band_buckets(blob: bytes, offset: int = 0) -> list[Bucket]:
    """(band, bucket) pairs of one signature: each band's rows hashed to a signed 63-bit int."""
    rows = signature_values(blob).astype("<u8").reshape(BANDS, ROWS)
    out = []
    for band in range(BANDS):
        # The band number is hashed in, so a bucket value alone identifies (band, rows):
        # the lookup joins on one integer column.
        key = (band + offset).to_bytes(2, "little") + rows[band].tobytes()
        digest = hashlib.blake2b(key, digest_size=8).digest()
        out.append((band + offset, int.from_bytes(digest, "little") >> 1))
    return out


def article_buckets(sig: TextSignature) -> list[Bucket]:
    """All LSH (band, bucket) pairs under which an article is indexed."""
    if sig.shingles < MIN_SHINGLES:
        return []
    return band_buckets(sig.full) + band_buckets(sig.lead, LEAD_BAND_OFFSET)


def similarity(a: AbstractSet[str], b: AbstractSet[str]) -> tuple[float, float]:
    """Jaccard of two shingle sets and the containment of the smaller in the larger."""
    if not a or not b:
        return 0.0, 0.0
    inter = len(a & b)
    return inter / len(a | b), inter / min(len(a), len(b))


def is_near_copy(a: AbstractSet[str], b: AbstractSet[str]) -> tuple[bool, float]:
    """Whether two shingle sets are copies of one text, with the similarity that decided it."""
    jaccard, containment = similarity(a, b)
    if jaccard >= JACCARD_MIN:
        return True, jaccard
    if min(len(a), len(b)) >= CONTAINMENT_MIN_SHINGLES and containment >= CONTAINMENT_MIN:
        return True, containment
    return False, jaccard


# -- what the store is asked, and what it answers ------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What the store is asked about one pending article: its URL key, hash and LSH buckets."""

    article_id: str
    url_key: str
    content_hash: str
    signature: TextSignature
    buckets: tuple[Bucket, ...]


def probes(pending: Sequence[StoredArticle]) -> list[Probe]:
    """The lookups for a batch; signatures come stored with the articles, else are made here."""
    missing = [a.text for a in pending if a.signature is None]
    made = iter(sign(missing))
    out = []
    for article in pending:
        sig = article.signature or next(made)
        key = article.url_key or url_key(article.canonical_url or article.url)
        out.append(
            Probe(article.article_id, key, article.content_hash, sig, tuple(article_buckets(sig)))
        )
    return out


@dataclass(frozen=True)
class Origin:
    """A stored original that a pending article may copy."""

    article_id: str
    published_at: datetime | None
    text: str


@dataclass(frozen=True)
class Known:
    """What the store holds that a batch may copy (`store.signatures.known`).

    URL keys and hashes map to the origin of the earliest-seen stored article with them;
    `lsh_hits` maps each pending article to stored origins sharing LSH buckets with it
    (origin id, number of shared buckets).
    """

    by_url_key: Mapping[str, str] = field(default_factory=dict)
    by_hash: Mapping[str, str] = field(default_factory=dict)
    lsh_hits: Mapping[str, Sequence[tuple[str, int]]] = field(default_factory=dict)
    origins: Mapping[str, Origin] = field(default_factory=dict)


@dataclass(frozen=True)
class Repoint:
    """A stored original found to copy an earlier-published article: it and its copies move."""

    old_origin: str
    new_origin: str
    reason: Reason
    similarity: float


@dataclass(frozen=True)
class DedupResult:
    """Decisions for a batch, and the stored originals that become copies."""

    decisions: list[DedupDecision]
    repoints: list[Repoint]


@dataclass
class _Candidate:
    article_id: str
    published_at: datetime | None
    text: str | None = None
    shingle_set: AbstractSet[str] | None = None

    def shingles(self) -> AbstractSet[str]:
        if self.shingle_set is None:
            self.shingle_set = frozenset(shingles(self.text or ""))
        return self.shingle_set


def _in_window(a: datetime | None, b: datetime | None) -> bool:
    return a is None or b is None or abs(a - b) <= NEAR_WINDOW


def find_duplicates(
    pending: Sequence[StoredArticle], batch: Sequence[Probe], known: Known
) -> DedupResult:
    """Decide for each pending article whether it copies an earlier stored or pending one."""
    seen_url = dict(known.by_url_key)
    seen_hash = dict(known.by_hash)
    stored = {
        oid: _Candidate(o.article_id, o.published_at, o.text) for oid, o in known.origins.items()
    }
    batch_index: dict[Bucket, list[str]] = {}
    batch_known: dict[str, _Candidate] = {}
    decisions: list[DedupDecision] = []
    repoints: list[Repoint] = []
    for article, probe in zip(pending, batch, strict=True):
        own: AbstractSet[str] | None = None
        original: str | None = None
        reason: Reason | None = None
        sim: float | None = None
        if probe.url_key in seen_url:
            original, reason, sim = seen_url[probe.url_key], "url", 1.0
        elif probe.content_hash in seen_hash:
            original, reason, sim = seen_hash[probe.content_hash], "hash", 1.0
        else:
            votes: dict[str, int] = {}
            for origin_id, shared in known.lsh_hits.get(article.article_id, ()):
                votes[origin_id] = votes.get(origin_id, 0) + shared
            for bucket in probe.buckets:
                for cid in batch_index.get(bucket, ()):
                    votes[cid] = votes.get(cid, 0) + 1
            ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CANDIDATES]
            best = 0.0
            for cid, _ in ranked:
                cand = batch_known.get(cid) or stored.get(cid)
                if cand is None or not _in_window(article.published_at, cand.published_at):
                    continue
                if own is None:
                    own = frozenset(shingles(article.text))
                ok, value = is_near_copy(own, cand.shingles())
                if ok and value > best:
                    original, reason, sim, best = cid, "near", value, value
        if original is not None and reason != "url":
            orig = batch_known.get(original) or stored.get(original)
            if (
                orig is not None
                and article.published_at is not None
                and orig.published_at is not None
                and article.published_at < orig.published_at
            ):
                # A copy published before its stored original: it becomes the origin.
                repoints.append(Repoint(original, article.article_id, reason or "near", sim or 1.0))
                original = None
        if original is None:
            decisions.append(DedupDecision(article.article_id, None))
            seen_url.setdefault(probe.url_key, article.article_id)
            seen_hash.setdefault(probe.content_hash, article.article_id)
            batch_known[article.article_id] = _Candidate(
                article.article_id, article.published_at, article.text, own
            )
            for bucket in probe.buckets:
                batch_index.setdefault(bucket, []).append(article.article_id)
        else:
            seen_url.setdefault(probe.url_key, original)
            decisions.append(DedupDecision(article.article_id, original, reason, sim))
    decisions = _follow_repoints(decisions, repoints)
    log.info(
        "dedup: %d articles, %d copies (%d re-pointed to an earlier origin)",
        len(pending),
        sum(1 for d in decisions if d.duplicate_of),
        len(repoints),
    )
    return DedupResult(decisions, repoints)


def final_origin(target: str, repoints: Sequence[Repoint]) -> str:
    """Where an origin ends up after the repoints (a chain of them followed to its end)."""
    mapping = {r.old_origin: r.new_origin for r in repoints}
    seen: set[str] = set()
    while target in mapping and target not in seen:
        seen.add(target)
        target = mapping[target]
    return target


def _follow_repoints(
    decisions: list[DedupDecision], repoints: Sequence[Repoint]
) -> list[DedupDecision]:
    if not repoints:
        return decisions
    moved = {r.old_origin: r for r in repoints}
    out = []
    for d in decisions:
        if d.article_id in moved:
            r = moved[d.article_id]
            out.append(
                DedupDecision(
                    d.article_id, final_origin(r.new_origin, repoints), r.reason, r.similarity
                )
            )
        elif d.duplicate_of is not None and d.duplicate_of in moved:
            out.append(
                DedupDecision(
                    d.article_id, final_origin(d.duplicate_of, repoints), d.reason, d.similarity
                )
            )
        else:
            out.append(d)
    return out
