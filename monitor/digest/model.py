"""What a digest is: the records every format renders, and the models of its JSON form.

    Digest -> Overview (counts, stance by outlet, timeline, previous digest)
           -> Story    (summary: actors, quotes, figures ...) -> Report (one article)

The records are frozen dataclasses, built by `build.py` and read by the templates. The JSON
form is described by the pydantic models below (`DigestJSON` and its parts): `DigestJSON.of`
turns a Digest into one, `render.py` serialises it, and the published JSON Schema
(`digest.schema.json` next to this file) is generated from them (`json_schema`, written by
`python -m monitor.digest.schema`), so the schema cannot drift from what is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema

SCHEMA_VERSION = "1.2"
SCHEMA_FILE = "digest.schema.json"  # packaged next to this module
Format = Literal["md", "html", "json", "csv"]
FORMATS: tuple[Format, ...] = ("md", "html", "json", "csv")
Since = datetime | None | Literal["last"]
SinceMode = Literal["all", "date", "last"]
Role = Literal["origin", "report", "duplicate"]
StanceName = Literal["for_withdrawal", "against_withdrawal", "neutral", "unclassified"]
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
    labelled: bool = False  # an analyst's label decided relevant / stance


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


class EventType(NamedTuple):
    """A topic of a story's reports, with how many reports carry it."""

    type: str
    articles: int


@dataclass(frozen=True)
class StorylineRef:
    """The storyline a story continues, as the story's line in the digest says it."""

    storyline_id: str
    title: str
    story_count: int
    first_published_at: datetime | None


@dataclass(frozen=True)
class MovedStoryline:
    """A storyline with new or grown stories in this digest."""

    storyline_id: str
    title: str
    story_count: int
    new_stories: int
    grown_stories: int
    first_published_at: datetime | None
    last_published_at: datetime | None


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
    event_types: tuple[EventType, ...]
    stance_mix: dict[str, int]
    key_actors: tuple[Actor, ...]
    quotes: tuple[QuoteItem, ...]
    figures: tuple[FigureItem, ...]
    reports: tuple[Report, ...]
    article_count: int
    new_article_count: int
    relevant: bool
    storyline: StorylineRef | None = None

    def all_reports(self) -> Iterable[Report]:
        """Every article of the story, each original followed by its folded duplicates."""
        for report in self.reports:
            yield report
            yield from report.also_ran

    @property
    def articles(self) -> tuple[Report, ...]:
        """Every article of the story in report order (the JSON `articles`)."""
        return tuple(self.all_reports())

    @property
    def outlet_count(self) -> int:
        """How many outlets ran the story."""
        return len(self.outlets)


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
    labelled_articles: int = 0  # new articles whose relevance / stance an analyst's label decided


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
    storylines: tuple[MovedStoryline, ...] = ()

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


# --------------------------------------------------------------------------- JSON form
# Field order is the key order of the JSON objects. Every field is required (present, maybe
# null); consumers must ignore fields they do not know, so objects stay open to additions.

TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "pattern": TIMESTAMP_PATTERN}),
]
Count = Annotated[int, Field(ge=0)]
PositiveCount = Annotated[int, Field(ge=1)]


class _JSON(BaseModel):
    model_config = ConfigDict(frozen=True)


class StanceCounts(_JSON):
    """Articles per stance (`unclassified`: no classification)."""

    for_withdrawal: Count
    against_withdrawal: Count
    neutral: Count
    unclassified: Count


class OutletStanceJSON(_JSON):
    """One outlet's new articles by stance."""

    outlet: str
    for_withdrawal: Count
    against_withdrawal: Count
    neutral: Count
    unclassified: Count
    total: Count


class TimelineDayJSON(_JSON):
    """New articles of one day (publication date, else first seen) by stance."""

    date: date
    for_withdrawal: Count
    against_withdrawal: Count
    neutral: Count
    unclassified: Count
    total: Count


class PreviousDigestJSON(_JSON):
    """The digest recorded before this one."""

    digest_id: str
    generated_at: Timestamp


class NewStoryJSON(_JSON):
    """A story all of whose reports are new."""

    story_id: str
    title: str


class GrownStoryJSON(_JSON):
    """A story known before that has new reports."""

    story_id: str
    title: str
    new_articles: PositiveCount


class ChangesJSON(_JSON):
    """What changed since the previous digest."""

    previous_digest: PreviousDigestJSON | None
    new_stories: list[NewStoryJSON]
    grown_stories: list[GrownStoryJSON]


class OverviewJSON(_JSON):
    """Counts over the stories shown; stance, outlets and timeline count their new articles."""

    stories: Count
    new_stories: Count
    grown_stories: Count
    articles: Count
    new_articles: Count
    outlets: Count
    labelled_articles: Count = Field(
        description="New articles whose relevance and stance an analyst's label decided."
    )
    stance_totals: StanceCounts
    stance_by_outlet: list[OutletStanceJSON]
    timeline: list[TimelineDayJSON] = Field(description="Days without articles are left out.")
    changes: ChangesJSON


class EventTypeJSON(_JSON):
    """A topic of a story's reports, with how many reports carry it."""

    type: str
    articles: PositiveCount


class ActorJSON(_JSON):
    """An entity named in a story, summed over its reports."""

    name: str
    kind: ActorKind
    mentions: Count
    articles: PositiveCount


class QuoteJSON(_JSON):
    """A quotation chosen for a story."""

    quote: str
    speaker: str | None
    article_id: str
    outlet: str


class FigureJSON(_JSON):
    """A number reported in a story, with the sentence it came from."""

    value: float
    what: str
    sentence: str
    articles: PositiveCount


class ArticleJSON(_JSON):
    """One report of a story."""

    article_id: str
    url: str
    outlet: str
    title: str
    published_at: Timestamp | None
    date_source: str
    first_seen_at: Timestamp
    is_new: bool = Field(description="First seen inside this digest's window.")
    role: Role = Field(
        description="origin: where the story began; report: another original; duplicate: a copy."
    )
    duplicate_of: str | None
    folded_under: str | None = Field(description="A duplicate's original, listed before it.")
    relevant: bool | None
    relevance_score: Annotated[float, Field(ge=0, le=1)] | None
    stance: StanceName
    topics: list[str]
    labelled: bool = Field(
        description="An analyst's label decided relevant and stance (the classifier's "
        "relevance_score is kept)."
    )


class StorylineRefJSON(_JSON):
    """The storyline a story continues."""

    storyline_id: str
    title: str
    story_count: PositiveCount
    first_published_at: Timestamp | None


class MovedStorylineJSON(_JSON):
    """A storyline with new or grown stories in this digest."""

    storyline_id: str
    title: str
    story_count: PositiveCount
    new_stories: Count
    grown_stories: Count
    first_published_at: Timestamp | None
    last_published_at: Timestamp | None


class StoryJSON(_JSON):
    """One story: its summary and every report, in report order."""

    story_id: str
    title: str
    lead: str
    status: Literal["new", "grew"]
    first_published_at: Timestamp | None
    last_published_at: Timestamp | None
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    origin_article_id: str
    outlets: list[str] = Field(min_length=1)
    outlet_count: PositiveCount
    article_count: PositiveCount
    new_article_count: PositiveCount
    relevant: bool
    event_types: list[EventTypeJSON]
    stance_mix: StanceCounts
    key_actors: list[ActorJSON]
    quotes: list[QuoteJSON] = Field(max_length=MAX_QUOTES)
    figures: list[FigureJSON]
    articles: list[ArticleJSON] = Field(min_length=1)
    storyline: StorylineRefJSON | None = Field(
        default=None, description="The storyline it continues; null: it stands alone."
    )


# Stories are validated straight from the records, in one call: every StoryJSON field is an
# attribute of Story (or a property) under the same name, and so on down to the articles.
_STORIES = TypeAdapter(list[StoryJSON])
_STORYLINES = TypeAdapter(list[MovedStorylineJSON])


class DigestJSON(_JSON):
    """A digest as JSON (docs/digest.md). Timestamps are UTC."""

    model_config = ConfigDict(title="iraq-troop-monitor digest, schema_version 1.x")

    schema_version: str = Field(pattern=r"^1\.[0-9]+$")
    digest_id: str
    generated_at: Timestamp
    since: Timestamp | None = Field(description="Start of the window; null: from the start.")
    since_mode: SinceMode
    include_all: bool = Field(description="Stories without a relevant article included too.")
    overview: OverviewJSON
    storylines: list[MovedStorylineJSON] = Field(
        default_factory=list,
        description="Storylines with new or grown stories in this digest, most active first.",
    )
    stories: list[StoryJSON] = Field(description="Newest first.")

    @classmethod
    def of(cls, digest: Digest) -> DigestJSON:
        """The JSON form of a digest."""
        ov = digest.overview
        prev = ov.previous_digest
        return cls(
            schema_version=digest.schema_version,
            digest_id=digest.digest_id,
            generated_at=digest.generated_at,
            since=digest.since,
            since_mode=digest.since_mode,
            include_all=digest.include_all,
            overview=OverviewJSON(
                stories=ov.stories,
                new_stories=ov.new_stories,
                grown_stories=ov.grown_stories,
                articles=ov.articles,
                new_articles=ov.new_articles,
                outlets=ov.outlets,
                labelled_articles=ov.labelled_articles,
                stance_totals=StanceCounts(**ov.stance_totals),
                stance_by_outlet=[
                    OutletStanceJSON(outlet=o.outlet, **o.counts, total=o.total)
                    for o in ov.stance_by_outlet
                ],
                timeline=[
                    TimelineDayJSON(date=d.day, **d.counts, total=d.total) for d in ov.timeline
                ],
                changes=ChangesJSON(
                    previous_digest=None
                    if prev is None
                    else PreviousDigestJSON(
                        digest_id=prev.digest_id, generated_at=prev.generated_at
                    ),
                    new_stories=[
                        NewStoryJSON(story_id=s.story_id, title=s.title)
                        for s in digest.stories
                        if s.status == "new"
                    ],
                    grown_stories=[
                        GrownStoryJSON(
                            story_id=s.story_id, title=s.title, new_articles=s.new_article_count
                        )
                        for s in digest.stories
                        if s.status == "grew"
                    ],
                ),
            ),
            storylines=_STORYLINES.validate_python(digest.storylines, from_attributes=True),
            stories=_STORIES.validate_python(digest.stories, from_attributes=True),
        )


def digest_to_json(digest: Digest) -> dict[str, Any]:
    """The digest as the JSON object of docs/digest.md (plain dicts and lists)."""
    return DigestJSON.of(digest).model_dump(mode="json")


# --------------------------------------------------------------------------- JSON Schema


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator, without a title on every property, with the schema's identity."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        generated = super().generate(schema, mode=mode)
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:iraq-troop-monitor:digest:1",
            **generated,
        }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the digest JSON, generated from `DigestJSON`."""
    return DigestJSON.model_json_schema(mode="serialization", schema_generator=_SchemaGenerator)


def json_schema_text() -> str:
    """The schema as the packaged `digest.schema.json` holds it (compact, for reading)."""
    return _compact(json_schema(), 0, 0) + "\n"


def _compact(value: Any, indent: int, used: int, width: int = 100) -> str:
    """JSON with what fits on the line (`used` characters taken) kept on it, the rest spread."""
    flat = json.dumps(value, ensure_ascii=False)
    if used + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            head = f"{pad}{json.dumps(k, ensure_ascii=False)}: "
            items.append(head + _compact(v, indent + 2, len(head), width))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + _compact(v, indent + 2, len(pad), width) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
