"""What a digest is: the records every format renders.

    Digest -> Overview (counts, stance by outlet, timeline, previous digest)
           -> Story    (summary: actors, quotes, figures ...) -> Report (one article)

The records are frozen dataclasses, built by `build.py` and read by the templates and the
JSON and CSV writers of `render.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

SCHEMA_VERSION = "1.0"
Format = Literal["md", "html", "json", "csv"]
FORMATS: tuple[Format, ...] = ("md", "html", "json", "csv")
Since = datetime | None | Literal["last"]
SinceMode = Literal["all", "date", "last"]
Role = Literal["origin", "report", "duplicate"]
ActorKind = Literal["person", "organization", "group"]

STANCES: tuple[str, ...] = (
    "for_withdrawal",
    "against_withdrawal",
    "neutral",
    "unclassified",
)
STANCE_LABELS = {
    "for_withdrawal": "for withdrawal",
    "against_withdrawal": "against withdrawal",
    "neutral": "neutral",
    "unclassified": "unclassified",
}
ACTOR_KINDS: tuple[ActorKind, ...] = ("person", "organization", "group")  # places are not actors
MAX_QUOTES = 2


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) timestamp as the digest writes it: 2024-01-10T09:00:00Z."""
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Report:
    """One article as the digest shows it; duplicates of it are folded into `also_ran`."""

    article_id: str
    url: str
    outlet: str
    title: str
    published_at: datetime | None
    date_source: str
    first_seen_at: datetime
    is_new: bool
    relevant: bool | None
    relevance_score: float | None
    stance: str
    topics: tuple[str, ...]
    duplicate_of: str | None
    role: Role
    folded_under: str | None = None
    also_ran: tuple[Report, ...] = ()


@dataclass(frozen=True)
class Actor:
    """A key actor of a story: an entity summed over the story's articles."""

    name: str
    kind: str
    mentions: int
    articles: int


@dataclass(frozen=True)
class QuoteItem:
    """A quotation chosen for a story, with its speaker when known."""

    quote: str
    speaker: str | None
    article_id: str
    outlet: str


@dataclass(frozen=True)
class FigureItem:
    """A number reported in a story, with the sentence it came from."""

    value: float
    what: str
    sentence: str
    articles: int


@dataclass(frozen=True)
class Story:
    """One story of the digest: its summary and all its reports."""

    story_id: str
    title: str
    lead: str
    status: Literal["new", "grew"]
    first_published_at: datetime | None
    last_published_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    origin_article_id: str
    outlets: tuple[str, ...]
    event_types: tuple[tuple[str, int], ...]
    stance_mix: dict[str, int]
    key_actors: tuple[Actor, ...]
    quotes: tuple[QuoteItem, ...]
    figures: tuple[FigureItem, ...]
    reports: tuple[Report, ...]
    article_count: int
    new_article_count: int
    relevant: bool

    def all_reports(self) -> Iterable[Report]:
        """Every article of the story, each original followed by its folded duplicates."""
        for report in self.reports:
            yield report
            yield from report.also_ran


@dataclass(frozen=True)
class PreviousDigest:
    """The digest recorded before this one."""

    digest_id: str
    generated_at: datetime


@dataclass(frozen=True)
class DayCount:
    """Articles of one day (publication date, else first seen), by stance."""

    day: date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """All articles of the day."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class OutletStance:
    """How one outlet's new articles split by stance."""

    outlet: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """All new articles of the outlet."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class Overview:
    """The top of the digest: counts, stance by outlet, timeline, changes."""

    stories: int
    new_stories: int
    grown_stories: int
    articles: int
    new_articles: int
    outlets: int
    stance_totals: dict[str, int]
    stance_by_outlet: tuple[OutletStance, ...]
    timeline: tuple[DayCount, ...]
    previous_digest: PreviousDigest | None


@dataclass(frozen=True)
class Digest:
    """Everything a digest shows, independent of format."""

    digest_id: str
    generated_at: datetime
    since: datetime | None
    since_mode: SinceMode
    include_all: bool
    stories: tuple[Story, ...]
    overview: Overview
    schema_version: str = SCHEMA_VERSION

    @property
    def is_empty(self) -> bool:
        """True when nothing new arrived in the window."""
        return not self.stories


@dataclass(frozen=True)
class DigestResult:
    """What write_digest did: the digest, its text, and where it went."""

    digest: Digest
    fmt: Format
    text: str
    path: Path | None

    @property
    def digest_id(self) -> str:
        """The id recorded in core.digests (pass it to notify.deliver)."""
        return self.digest.digest_id
