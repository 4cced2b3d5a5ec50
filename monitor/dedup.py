"""Deduplication: exact copies (same canonical URL, same normalised text) and near-copies.

A copy keeps its row with `duplicate_of` pointing at its origin, the earliest-published copy.

Near-copies are found with MinHash + LSH (datasketch) over word shingles of the normalised
text. Each article's signature and its LSH band buckets are stored in DuckDB
(`core.minhash`, `core.lsh_bands`), so a run hashes only the new articles and looks their
buckets up in the band table: no all-pairs comparison and no index rebuilt in memory. Two
signatures are banded per article: one over the whole text (syndicated copies, light edits)
and one over its lead (a copy cut short shares the original's opening). LSH only proposes
candidates; each is then checked exactly on shingle sets (Jaccard, or containment of the
shorter text in the longer) and must fall inside a time window.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from courlan import normalize_url
from datasketch import MinHash

from monitor.bulkio import execute, insert_rows
from monitor.models import DedupDecision, StoredArticle
from monitor.store import Connection

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

_TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl|"
    r"ref|ref_src|cmpid|ocid|smid|soc_src|soc_trk|taid|at_medium|at_campaign|output|amp|"
    r"outputtype|__twitter_impression)$",
    re.I,
)
_AMP_SUFFIX = re.compile(r"(?:[./-]amp(?:\.html?)?)$", re.I)


def normalise_url(url: str) -> str:
    """One key for every spelling of a page's URL: no tracking params, AMP, www, fragment."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    with contextlib.suppress(ValueError, AttributeError):
        url = normalize_url(url, strict=True, trailing_slash=False)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for prefix in ("www.", "amp.", "m.", "mobile."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    segments = [s for s in parts.path.split("/") if s and s.lower() not in ("amp", "amp.html")]
    if segments:
        segments[-1] = _AMP_SUFFIX.sub("", segments[-1]) or segments[-1]
    path = "/" + "/".join(segments)
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _TRACKING_PARAMS.match(pair.split("=", 1)[0])
    )
    return urlunsplit(("https", host, path.rstrip("/") or "/", query, ""))


def normalise_text(text: str) -> str:
    """Lower-cased words only: what two copies of one text have in common."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def content_hash(text: str) -> str:
    """Hash of the normalised text."""
    primed = _PRIMED_HASH.get(text)  # kept: copies of one text are stored one by one
    if primed is not None:
        return primed
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:32]


def shingles(text: str, k: int = SHINGLE_WORDS) -> list[str]:
    """Word k-shingles of the normalised text, in text order (duplicates kept)."""
    words = normalise_text(text).split()
    if len(words) < k:
        return [" ".join(words)] if words else []
    return list(map(" ".join, zip(*(words[i:] for i in range(k)), strict=False)))


@dataclass(frozen=True)
class Signature:
    """MinHash signatures of one text: over all its shingles and over its lead."""

    full: np.ndarray[Any, np.dtype[np.uint64]]
    lead: np.ndarray[Any, np.dtype[np.uint64]]
    size: int
    shingle_set: frozenset[str] = frozenset()


def _minhashes(sets: Sequence[Iterable[bytes]]) -> list[np.ndarray[Any, np.dtype[np.uint64]]]:
    # crc32 is stable across processes (signatures are stored) and far cheaper than sha1;
    # MinHash's random permutations do the mixing.
    hashes = MinHash.bulk(sets, num_perm=NUM_PERM, seed=_SEED, hashfunc=zlib.crc32)
    return [np.asarray(h.hashvalues, dtype=np.uint64) for h in hashes]


def _compute_signatures(texts: Sequence[str]) -> list[Signature]:
    shingled = [shingles(t) for t in texts]
    sets = [frozenset(sh) for sh in shingled]
    full = _minhashes([[s.encode("utf-8") for s in st] for st in sets])
    lead = _minhashes([[s.encode("utf-8") for s in set(sh[:LEAD_SHINGLES])] for sh in shingled])
    return [Signature(f, ld, len(st), st) for f, ld, st in zip(full, lead, sets, strict=True)]


# Signatures computed ahead of time (while extraction workers are still busy), keyed by text;
# `signatures` takes them out again. Bounded: anything never used is simply recomputed.
_PRIMED: dict[str, Signature] = {}
_PRIMED_HASH: dict[str, str] = {}
PRIMED_MAX = 2_000


def clear_primed() -> None:
    """Drop signatures and hashes primed but never used (e.g. the run failed before dedup)."""
    _PRIMED.clear()
    _PRIMED_HASH.clear()


def prime_signatures(texts: Sequence[str]) -> None:
    """Compute and keep the signatures and hashes of texts that storing and dedup will see."""
    todo = [t for t in dict.fromkeys(texts) if t not in _PRIMED]
    if len(_PRIMED) + len(todo) > PRIMED_MAX or len(_PRIMED_HASH) + len(todo) > PRIMED_MAX:
        clear_primed()
        todo = todo[:PRIMED_MAX]
    for text, sig in zip(todo, _compute_signatures(todo), strict=True):
        _PRIMED[text] = sig
        _PRIMED_HASH[text] = content_hash(text)


def signatures(texts: Sequence[str]) -> list[Signature]:
    """MinHash signatures (whole text and lead) of many texts at once."""
    primed = {t: _PRIMED.pop(t) for t in texts if t in _PRIMED}
    todo = [t for t in dict.fromkeys(texts) if t not in primed]
    computed = dict(zip(todo, _compute_signatures(todo), strict=True))
    return [primed[t] if t in primed else computed[t] for t in texts]


def band_buckets(
    signature: np.ndarray[Any, np.dtype[np.uint64]], offset: int = 0
) -> list[tuple[int, int]]:
    """(band, bucket) pairs of one signature: each band's rows hashed to a signed 63-bit int."""
    rows = signature.astype("<u8").reshape(BANDS, ROWS)
    out = []
    for band in range(BANDS):
        # The band number is hashed in, so a bucket value alone identifies (band, rows):
        # the lookup joins on one integer column.
        key = (band + offset).to_bytes(2, "little") + rows[band].tobytes()
        digest = hashlib.blake2b(key, digest_size=8).digest()
        out.append((band + offset, int.from_bytes(digest, "little") >> 1))
    return out


def article_buckets(sig: Signature) -> list[tuple[int, int]]:
    """All LSH (band, bucket) pairs under which an article is indexed."""
    if sig.size < MIN_SHINGLES:
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


@dataclass
class _Known:
    """A stored or earlier-pending original that later articles may copy."""

    article_id: str
    published_at: datetime | None
    shingle_set: AbstractSet[str] | None = None
    text: str | None = None

    def shingle_set_of(self) -> AbstractSet[str]:
        if self.shingle_set is None:
            self.shingle_set = frozenset(shingles(self.text or ""))
        return self.shingle_set


def _in_window(a: datetime | None, b: datetime | None) -> bool:
    return a is None or b is None or abs(a - b) <= NEAR_WINDOW


def _root(con: Connection, ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
    """Map article ids to their origin (themselves when original) and its publication date."""
    if not ids:
        return {}
    rows = execute(
        con,
        "SELECT a.article_id, coalesce(a.duplicate_of, a.article_id), o.published_at "
        "FROM core.articles a JOIN core.articles o "
        "ON o.article_id = coalesce(a.duplicate_of, a.article_id) "
        "WHERE a.article_id IN (SELECT unnest($1::VARCHAR[]))",
        [ids],
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def find_duplicates(con: Connection, pending: list[StoredArticle]) -> list[DedupDecision]:
    """Decide for each pending article whether it copies an earlier stored or pending one."""
    if not pending:
        return []
    ids = [a.article_id for a in pending]
    keys = [normalise_url(a.canonical_url or a.url) for a in pending]
    sigs = signatures([a.text for a in pending])
    buckets = [article_buckets(s) for s in sigs]

    seen_url: dict[str, str] = {}
    for url_key, article_id in execute(
        con,
        "SELECT m.url_key, coalesce(a.duplicate_of, a.article_id) FROM core.minhash m "
        "JOIN core.articles a USING (article_id) "
        "WHERE m.url_key IN (SELECT unnest($1::VARCHAR[])) "
        "AND a.article_id NOT IN (SELECT unnest($2::VARCHAR[])) ORDER BY a.first_seen_at",
        [keys, ids],
    ).fetchall():
        seen_url.setdefault(url_key, article_id)
    seen_hash: dict[str, str] = {}
    for digest, article_id in execute(
        con,
        "SELECT content_hash, coalesce(duplicate_of, article_id) FROM core.articles "
        "WHERE content_hash IN (SELECT unnest($1::VARCHAR[])) "
        "AND article_id NOT IN (SELECT unnest($2::VARCHAR[])) ORDER BY first_seen_at",
        [[a.content_hash for a in pending], ids],
    ).fetchall():
        seen_hash.setdefault(digest, article_id)

    # Stored candidates: articles sharing at least one LSH bucket, found by one join.
    execute(
        con,
        "CREATE OR REPLACE TEMP TABLE _q AS SELECT unnest($1::VARCHAR[]) AS qid, "
        "unnest($2::SMALLINT[]) AS band, unnest($3::BIGINT[]) AS bucket",
        [
            [i for i, bs in zip(ids, buckets, strict=True) for _ in bs],
            [b for bs in buckets for b, _ in bs],
            [k for bs in buckets for _, k in bs],
        ],
    )
    hits = execute(
        con,
        "SELECT q.qid, l.article_id, count(*) AS shared FROM _q q "
        "JOIN core.lsh_bands l ON l.bucket = q.bucket "
        "WHERE l.article_id NOT IN (SELECT unnest($1::VARCHAR[])) "
        "GROUP BY q.qid, l.article_id",
        [ids],
    ).fetchall()
    execute(con, "DROP TABLE _q")
    stored_cands: dict[str, list[tuple[int, str]]] = {}
    for qid, cid, shared in hits:
        stored_cands.setdefault(qid, []).append((shared, cid))
    roots = _root(con, sorted({cid for _, cid, _ in hits}))
    known: dict[str, _Known] = {}
    root_ids = sorted({r for r, _ in roots.values()})
    if root_ids:
        for article_id, published_at, text in execute(
            con,
            "SELECT article_id, published_at, text FROM core.articles "
            "WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
            [root_ids],
        ).fetchall():
            known[article_id] = _Known(article_id, published_at, text=text)

    batch_index: dict[tuple[int, int], list[str]] = {}
    batch_known: dict[str, _Known] = {}
    decisions: list[DedupDecision] = []
    repoint: list[tuple[str, str, str, float]] = []  # old origin, new origin, reason, sim
    for article, key, sig, bs in zip(pending, keys, sigs, buckets, strict=True):
        own = sig.shingle_set
        original: str | None = None
        reason: str | None = None
        sim: float | None = None
        if key in seen_url:
            original, reason, sim = seen_url[key], "url", 1.0
        elif article.content_hash in seen_hash:
            original, reason, sim = seen_hash[article.content_hash], "hash", 1.0
        else:
            cands: dict[str, int] = {}
            for shared, cid in stored_cands.get(article.article_id, []):
                root = roots.get(cid)
                if root:
                    cands[root[0]] = cands.get(root[0], 0) + shared
            for b in bs:
                for cid in batch_index.get(b, []):
                    cands[cid] = cands.get(cid, 0) + 1
            ranked = sorted(cands.items(), key=lambda kv: -kv[1])[:MAX_CANDIDATES]
            best = 0.0
            for cid, _ in ranked:
                cand = batch_known.get(cid) or known.get(cid)
                if cand is None or not _in_window(article.published_at, cand.published_at):
                    continue
                ok, value = is_near_copy(own, cand.shingle_set_of())
                if ok and value > best:
                    original, reason, sim, best = cid, "near", value, value
        if original is not None and reason != "url":
            orig = batch_known.get(original) or known.get(original)
            if (
                orig is not None
                and article.published_at is not None
                and orig.published_at is not None
                and article.published_at < orig.published_at
            ):
                # Found a copy published before its stored original: it becomes the origin.
                repoint.append((original, article.article_id, reason or "near", sim or 1.0))
                original = None
        if original is None:
            decisions.append(DedupDecision(article.article_id, None))
            seen_url.setdefault(key, article.article_id)
            seen_hash.setdefault(article.content_hash, article.article_id)
            batch_known[article.article_id] = _Known(
                article.article_id, article.published_at, shingle_set=own
            )
            for b in bs:
                batch_index.setdefault(b, []).append(article.article_id)
        else:
            seen_url.setdefault(key, original)
            decisions.append(
                DedupDecision(article.article_id, original, reason, sim)  # type: ignore[arg-type]
            )
    decisions = _apply_repoints(con, decisions, repoint)
    save_signatures(con, ids, keys, sigs, buckets)
    log.info(
        "dedup: %d articles, %d copies (%d re-pointed to an earlier origin)",
        len(pending),
        sum(1 for d in decisions if d.duplicate_of),
        len(repoint),
    )
    return decisions


def _apply_repoints(
    con: Connection, decisions: list[DedupDecision], repoint: list[tuple[str, str, str, float]]
) -> list[DedupDecision]:
    """Make earlier-published copies the origin of their group, stored and pending alike."""
    if not repoint:
        return decisions
    mapping: dict[str, tuple[str, str, float]] = {}
    for old, new, reason, sim in repoint:
        mapping[old] = (new, reason, sim)

    def final(target: str) -> str:
        seen = set()
        while target in mapping and target not in seen:
            seen.add(target)
            target = mapping[target][0]
        return target

    for old, (new, reason, sim) in mapping.items():
        root = final(new)
        execute(
            con,
            "UPDATE core.articles SET duplicate_of = ? WHERE duplicate_of = ? AND article_id <> ?",
            [root, old, root],
        )
        execute(
            con,
            "UPDATE core.articles SET duplicate_of = ?, duplicate_reason = ?, similarity = ? "
            "WHERE article_id = ?",
            [root, reason, sim, old],
        )
    out = []
    for d in decisions:
        if d.article_id in mapping:
            new, reason, sim = mapping[d.article_id]
            out.append(DedupDecision(d.article_id, final(new), reason, sim))  # type: ignore[arg-type]
        elif d.duplicate_of is not None and d.duplicate_of in mapping:
            out.append(DedupDecision(d.article_id, final(d.duplicate_of), d.reason, d.similarity))
        else:
            out.append(d)
    return out


def signature_blob(signature: np.ndarray[Any, np.dtype[np.uint64]]) -> bytes:
    """A signature as stored: NUM_PERM little-endian uint32 values (datasketch's are 32-bit)."""
    return signature.astype("<u4").tobytes()


def signature_from_blob(blob: bytes) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The inverse of signature_blob."""
    return np.frombuffer(blob, dtype="<u4").astype(np.uint64)


def save_signatures(
    con: Connection,
    ids: Sequence[str],
    keys: Sequence[str],
    sigs: Sequence[Signature],
    buckets: Sequence[list[tuple[int, int]]] | None = None,
) -> None:
    """Persist signatures and LSH buckets of originals and copies alike."""
    if buckets is None:
        buckets = [article_buckets(s) for s in sigs]
    redo = [
        r[0]
        for r in execute(
            con,
            "SELECT article_id FROM core.minhash "
            "WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
            [list(ids)],
        ).fetchall()
    ]
    if redo:  # articles processed again (rare): replace their bands
        execute(
            con,
            "DELETE FROM core.lsh_bands WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
            [redo],
        )
    insert_rows(
        con,
        "core.minhash",
        ["article_id", "url_key", "shingle_count", "signature"],
        [(i, k, s.size, signature_blob(s.full)) for i, k, s in zip(ids, keys, sigs, strict=True)],
        on_conflict="ON CONFLICT DO NOTHING",
    )
    execute(
        con,
        "INSERT INTO core.lsh_bands SELECT unnest($1::SMALLINT[]), unnest($2::BIGINT[]), "
        "unnest($3::VARCHAR[])",
        [
            [b for bs in buckets for b, _ in bs],
            [k for bs in buckets for _, k in bs],
            [i for i, bs in zip(ids, buckets, strict=True) for _ in bs],
        ],
    )
