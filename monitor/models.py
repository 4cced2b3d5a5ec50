"""The small frozen records that flow between pipeline stages.

Each stage's input and output is visible in its signature:

    sources  -> Link              (a URL some source handed us, with what the source said of it)
    fetch    -> Page | FetchRecord (every URL ends in a record; a page when a body arrived)
    extract  -> Article           (seeds also produce Article directly)
    prepare  -> Article with its content hash, MinHash signature and Classification
                (done where the text is made: extraction workers, or the seed reader)
    store    -> StoredArticle     (read back for processing, signature included)
    dedup    -> DedupDecision     (exact / near duplicate of an earlier article, or original)
    stories  -> story_id per article
    label    -> Label             (an analyst's verdict, kept apart from the classification)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

DateSource = Literal["metadata", "feed", "url", "text", "story", "unknown"]
# Where exactly a date came from (`date_evidence`, finer than `date_source`; monitor/dates.py).
DateEvidence = Literal[
    "meta",
    "json-ld",
    "microdata",
    "time",
    "url",
    "feed",
    "dateline",
    "relative",
    "page",
    "page-text",
    "copy",
]
OutletSource = Literal["metadata", "feed", "url", "credit", "told", "mapping", "unknown"]
# Where an article's title came from, in order of trust (monitor/titles.py); `lead` is the text's
# first sentence, a title for people only (never the classifier's or clustering's headline).
TitleSource = Literal["metadata", "feed", "text", "lead"]
Stance = Literal["for_withdrawal", "against_withdrawal", "neutral"]
EntityKind = Literal["person", "organization", "group", "place"]
FetchOutcome = Literal["new", "not_modified", "duplicate", "skipped", "error"]
SourceKind = Literal["feed", "sitemap", "gdelt", "url"]


def make_id(key: str) -> str:
    """Stable 16-hex-digit id for a URL or other identity string."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SeedFile:
    """A seed article file on disk, with what `outlets.toml` beside it says of it."""

    path: Path
    outlet: str | None = None
    source_url: str | None = None

    @property
    def name(self) -> str:
        """The file name, which is also the seed's identity."""
        return self.path.name

    @property
    def url(self) -> str:
        """Pseudo-URL under which the seed is stored."""
        return f"seed:{self.path.stem}"


@dataclass(frozen=True)
class Link:
    """A URL that a source handed us, with what the source said about it."""

    url: str
    source: str
    title: str | None = None
    published_at: datetime | None = None
    outlet: str | None = None  # what the source said of this item itself (<source>, domain)
    language: str | None = None
    feed_name: str | None = None  # the feed's own title: an outlet's name only as a last resort


@dataclass(frozen=True)
class Page:
    """A successfully fetched HTML document."""

    url: str
    final_url: str
    source: str
    status_code: int
    html: bytes
    content_type: str | None
    encoding: str | None
    fetched_at: datetime
    elapsed_ms: int
    etag: str | None = None
    last_modified: str | None = None
    link: Link | None = None


@dataclass(frozen=True)
class FetchRecord:
    """One row of the fetch log: what happened to one URL.

    `error_kind` is the class name of the error (`FetchTimeout`, `ParseError`, ...; see
    errors.py) and `error` the one-line reason.
    """

    url: str
    source: str
    fetched_at: datetime
    outcome: FetchOutcome
    status_code: int | None = None
    error: str | None = None
    bytes: int = 0
    elapsed_ms: int = 0
    error_kind: str | None = None


@dataclass(frozen=True)
class CacheEntry:
    """What we remember of one URL for conditional GET and the unchanged-body skip."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class TextSignature:
    """MinHash signatures of a text, over all its shingles and over its lead (dedup.py).

    Each is NUM_PERM little-endian uint32 values, as stored in `core.minhash`.
    """

    full: bytes
    lead: bytes
    shingles: int


@dataclass(frozen=True)
class Article:
    """A cleaned article, from a seed file or an extracted page."""

    url: str
    source: str
    text: str
    title: str | None = None
    canonical_url: str | None = None
    outlet: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    date_source: DateSource = "unknown"
    language: str | None = None
    raw_html: bytes | None = field(default=None, repr=False)
    outlet_source: OutletSource = "unknown"
    date_evidence: DateEvidence | None = None  # None with date_source "unknown"
    title_source: TitleSource | None = None
    # Filled in by `prepare.prepare_articles` where the text is made (extraction workers, the
    # seed reader), so that storing and processing only read them: the raw HTML already
    # zlib-compressed for `raw_pages`, the hash and signatures dedup compares, and the
    # classification of title + text.
    html_zlib: bytes | None = field(default=None, repr=False)
    content_hash: str | None = None
    signature: TextSignature | None = field(default=None, repr=False)
    classification: Classification | None = field(default=None, repr=False)

    @property
    def article_id(self) -> str:
        """Stable id derived from the URL the article was found at."""
        return make_id(self.url)

    @property
    def word_count(self) -> int:
        """Whitespace-separated word count of the text."""
        return len(self.text.split())

    @property
    def headline(self) -> str | None:
        """The article's own headline (not a title made from its lead), for the classifier."""
        return None if self.title_source == "lead" else self.title


@dataclass(frozen=True)
class DedupDecision:
    """Whether an article copies an earlier one, and which."""

    article_id: str
    duplicate_of: str | None
    reason: Literal["url", "hash", "near"] | None = None
    similarity: float | None = None


@dataclass(frozen=True)
class Entity:
    """An actor or place named in an article, under its canonical name."""

    name: str
    kind: EntityKind
    mentions: int


@dataclass(frozen=True)
class Quote:
    """A quotation, with its speaker when one can be attributed."""

    quote: str
    speaker: str | None


@dataclass(frozen=True)
class Figure:
    """A number the article reports (troops, lawmakers, casualties ...)."""

    value: float
    what: str
    sentence: str


@dataclass(frozen=True)
class Classification:
    """Everything the classifier says about one article."""

    article_id: str
    relevant: bool
    relevance_score: float
    stance: Stance
    stance_score: float
    topics: tuple[str, ...]
    entities: tuple[Entity, ...] = ()
    quotes: tuple[Quote, ...] = ()
    figures: tuple[Figure, ...] = ()
    evidence: dict[str, object] = field(default_factory=dict)
    version: str = "0"


@dataclass(frozen=True)
class Label:
    """An analyst's verdict on one article: it wins over the classifier and teaches it."""

    article_id: str
    relevant: bool
    stance: Stance | None = None  # None: the earlier label's (same verdict), else the classifier's
    note: str | None = None  # None: keep the earlier label's note; "": clear it


RunStatus = Literal["running", "completed", "failed", "skipped"]


@dataclass(frozen=True)
class RunReport:
    """What one ingest run did: stored in `runs`, printed by `monitor run`, returned by the
    ingest flow, read by serve, `monitor eval` and the benches.

    The failure counts by reason are for a person to read: sources that failed, pages that
    failed, sources not due by their state, and each seed problem once.
    """

    run_id: str | None
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = "running"
    articles_new: int = 0
    duplicates: int = 0
    errors: int = 0
    not_modified: int = 0
    skipped: int = 0
    relevant: int = 0
    unchanged: int = 0
    failures: tuple[str, ...] = ()
    seed_problems: tuple[str, ...] = ()
    sources_failed: Mapping[str, int] = field(default_factory=dict)
    sources_not_due: Mapping[str, int] = field(default_factory=dict)
    pages_failed: Mapping[str, int] = field(default_factory=dict)
    reason: str | None = None  # why a run was skipped

    @property
    def elapsed_s(self) -> float:
        """Seconds from start to finish (0 while running)."""
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.started_at).total_seconds()

    def line(self) -> str:
        """The run in one line, for logs."""
        if self.status == "skipped":
            return f"skipped: {self.reason}"
        return (
            f"run {self.run_id} {self.status}: {self.articles_new} new, {self.duplicates} "
            f"duplicates, {self.errors} failed, {self.relevant} relevant"
        )


@dataclass(frozen=True)
class StoredArticle:
    """An article as stored, waiting for deduplication, story assignment and classification."""

    article_id: str
    url: str
    canonical_url: str | None
    source: str
    outlet: str | None
    title: str | None
    text: str
    published_at: datetime | None
    date_source: str
    content_hash: str
    first_seen_at: datetime
    url_key: str | None = None
    signature: TextSignature | None = field(default=None, repr=False)
