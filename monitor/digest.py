"""Digests: what changed, at a glance, with every report one click away.

    build_digest   store -> Digest      (reads only, through monitor.store.digests: views
                                         `articles`, `stories`, `entities`, `quotes`,
                                         `figures`; `core.digests` for "last")
    render_digest  Digest -> str        (md, html, json, csv)
    record_digest  Digest -> core.digests row, so that `--since last` means since this one
    write_digest   all three, plus the file

A story is in the digest when one of its articles was first seen inside the window
(`first_seen_at` after `since`, up to `generated_at`) and, unless `include_all`, when any
article of the story is relevant. Every report of such a story is listed (the new ones
marked), duplicates folded under their original. The overview counts the new articles.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup

from monitor.errors import ConfigError
from monitor.store import Store, digests, utcnow

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
Format = Literal["md", "html", "json", "csv"]
FORMATS: tuple[Format, ...] = ("md", "html", "json", "csv")
Since = datetime | None | Literal["last"]

STANCES = ("for_withdrawal", "against_withdrawal", "neutral", "unclassified")
STANCE_LABELS = {
    "for_withdrawal": "for withdrawal",
    "against_withdrawal": "against withdrawal",
    "neutral": "neutral",
    "unclassified": "unclassified",
}
ACTOR_KINDS = ("person", "organization", "group")
MAX_ACTORS = 6
MAX_QUOTES = 2
MAX_FIGURES = 6
MAX_QUOTE_CHARS = 320
LEAD_CHARS = 280


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
    role: Literal["origin", "report", "duplicate"]
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
    since_mode: Literal["all", "date", "last"]
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


# --------------------------------------------------------------------------- helpers


def _naive_utc(value: datetime) -> datetime:
    """Stored timestamps are naive UTC; convert aware datetimes to that form."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_since(text: str | None) -> Since:
    """Parse a `--since` value: "last", an ISO date or datetime, or None for everything."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if value.lower() == "last":
        return "last"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since: expected 'last' or a date like 2024-03-01, got {value!r}"
        ) from None
    return _naive_utc(parsed)


def outlet_label(outlet: str | None, url: str, source: str) -> str:
    """The outlet name, else the URL's host without www., else the source name."""
    if outlet and outlet.strip():
        return outlet.strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname
        return host[4:] if host.startswith("www.") else host
    return source


_PLAIN_URL = re.compile(r"[A-Za-z0-9:/?#\[\]@!$&'*+,;=%~._-]*")


def safe_href(url: str) -> str | None:
    """The URL if it is a plain http(s) link, else None (never javascript:, data:, ...)."""
    text = url.strip()
    head = text[:8].lower()
    if head.startswith("https://"):
        rest = text[8:]
    elif head.startswith("http://"):
        rest = text[7:]
    else:
        return None
    if not rest or rest[0] in "/?#":
        return None  # no host
    if _PLAIN_URL.fullmatch(text):
        return text
    # Characters that would end a Markdown link or an attribute are percent-encoded.
    return quote(text, safe=":/?#[]@!$&'*+,;=%~-._")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


# --------------------------------------------------------------------------- build


@dataclass(slots=True)
class _Row:
    article_id: str
    url: str
    outlet: str
    source: str
    title: str | None
    published_at: datetime | None
    date_source: str
    first_seen_at: datetime
    duplicate_of: str | None
    story_key: str
    relevant: bool | None
    relevance_score: float | None
    stance: str
    topics: tuple[str, ...]
    pos: int  # 1 = the origin: earliest published (first seen when undated)
    lead: str
    is_new: bool = False

    @property
    def when(self) -> datetime:
        return self.published_at or self.first_seen_at


def build_digest(
    store: Store,
    *,
    since: Since,
    include_all: bool = False,
    now: datetime | None = None,
) -> Digest:
    """Collect the stories with articles first seen since `since` (reads only)."""
    with store.read() as con:
        # Taken while holding the read connection: no other process can be mid-write now,
        # so everything first seen up to this instant is visible, and later articles fall
        # into the next digest's window.
        generated_at = _naive_utc(now) if now is not None else utcnow()
        last = digests.latest(con)
        previous = PreviousDigest(last.digest_id, last.generated_at) if last else None
        mode: Literal["all", "date", "last"]
        if since == "last":
            mode, since_at = "last", previous.generated_at if previous else None
        elif since is None:
            mode, since_at = "all", None
        else:
            mode, since_at = "date", _naive_utc(since)
        window = digests.window(con, now=generated_at, since=since_at, include_all=include_all)
        details = digests.story_details(
            con,
            window,
            actor_kinds=ACTOR_KINDS,
            max_actors=MAX_ACTORS,
            max_figures=MAX_FIGURES,
        )

    rows = [
        _Row(
            article_id=a.article_id,
            url=a.url,
            outlet=outlet_label(a.outlet, a.url, a.source),
            source=a.source,
            title=a.title,
            published_at=a.published_at,
            date_source=a.date_source,
            first_seen_at=a.first_seen_at,
            duplicate_of=a.duplicate_of,
            story_key=a.story_key,
            relevant=a.relevant,
            relevance_score=a.relevance_score,
            stance=a.stance if a.stance in STANCES else "unclassified",
            topics=tuple(a.topics or ()),
            pos=int(a.pos),
            lead=a.text or "",
            is_new=since_at is None or a.first_seen_at > since_at,
        )
        for a in window
    ]
    actors: dict[str, list[Actor]] = defaultdict(list)
    for ac in details.actors:
        actors[ac.story_key].append(
            Actor(ac.name, ac.kind, int(ac.mentions or 0), int(ac.articles))
        )
    quotes: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for q in details.quotes:
        quotes[q.article_id].append((q.speaker, q.quote))
    figures: dict[str, list[FigureItem]] = defaultdict(list)
    for f in details.figures:
        figures[f.story_key].append(
            FigureItem(float(f.value), f.what, _clip(f.sentence, 300), int(f.articles))
        )

    by_story: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_story[row.story_key].append(row)
    stories = [
        _build_story(
            key,
            details.titles.get(key),
            members,
            actors.get(key, []),
            quotes,
            figures.get(key, []),
        )
        for key, members in by_story.items()
    ]
    stories.sort(
        key=lambda s: (s.last_published_at or s.last_seen_at, s.last_seen_at, s.story_id),
        reverse=True,
    )
    digest = Digest(
        digest_id=uuid.uuid4().hex[:16],
        generated_at=generated_at,
        since=since_at,
        since_mode=mode,
        include_all=include_all,
        stories=tuple(stories),
        overview=_overview(stories, rows, previous),
    )
    log.info(
        "digest %s: %d stories, %d new articles since %s",
        digest.digest_id,
        len(stories),
        digest.overview.new_articles,
        since_at or "the start",
    )
    return digest


def _origin_key(row: _Row) -> tuple[datetime, bool, datetime, str]:
    # An undated copy that borrowed the story's date must not displace the real origin.
    return (row.when, row.date_source == "story", row.first_seen_at, row.article_id)


def _build_story(
    key: str,
    story_title: str | None,
    members: list[_Row],
    actors: Sequence[Actor],
    quotes: Mapping[str, list[tuple[str | None, str]]],
    figures: Sequence[FigureItem],
) -> Story:
    members.sort(key=_origin_key)
    # The SQL window picked the origin with the same ordering; its choice is the one whose
    # text (the lead) was fetched, so it wins should the two ever disagree.
    origin = next((m for m in members if m.pos == 1), members[0])
    if origin is not members[0]:
        members.remove(origin)
        members.insert(0, origin)
    by_id = {m.article_id: m for m in members}

    def root_of(row: _Row) -> _Row:
        seen = {row.article_id}
        while row.duplicate_of in by_id and row.duplicate_of not in seen:
            row = by_id[row.duplicate_of]
            seen.add(row.article_id)
        return row

    # The origin always heads the list, even if the dedup stage marked it as a copy of a
    # later-dated article (dates can be wrong; the earliest report is still where it began).
    roots: dict[str, list[_Row]] = {origin.article_id: []}
    for m in members:
        r = origin if m is origin else root_of(m)
        if r is m:
            roots.setdefault(m.article_id, [])
        else:
            roots.setdefault(r.article_id, []).append(m)
    reports = []
    for rid, dups in roots.items():
        head = by_id[rid]
        also = tuple(_report(d, "duplicate", folded_under=rid) for d in dups)
        reports.append(_report(head, "origin" if head is origin else "report", also_ran=also))

    outlets: list[str] = []
    for m in members:
        if m.outlet not in outlets:
            outlets.append(m.outlet)

    stance_mix = {s: 0 for s in STANCES}
    topic_counts: dict[str, int] = {}
    for m in members:
        stance_mix[m.stance] += 1
        for topic in set(m.topics):
            topic_counts[topic] = topic_counts.get(topic, 0) + 1

    published = [m.published_at for m in members if m.published_at is not None]
    seen = [m.first_seen_at for m in members]
    new_count = sum(1 for m in members if m.is_new)
    title = story_title or origin.title or _clip(origin.lead, 120) or origin.url
    lead = " ".join(origin.lead.split())
    if not origin.title and title and lead.startswith(title):
        lead = lead[len(title) :].strip()  # the title was cut from the text: don't repeat it
    return Story(
        story_id=key,
        title=title,
        lead=_clip(lead, LEAD_CHARS),
        status="new" if new_count == len(members) else "grew",
        first_published_at=min(published) if published else None,
        last_published_at=max(published) if published else None,
        first_seen_at=min(seen),
        last_seen_at=max(seen),
        origin_article_id=origin.article_id,
        outlets=tuple(outlets),
        event_types=tuple(sorted(topic_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        stance_mix=stance_mix,
        key_actors=tuple(actors),
        quotes=_pick_quotes(members, quotes),
        figures=tuple(figures),
        reports=tuple(reports),
        article_count=len(members),
        new_article_count=new_count,
        relevant=any(m.relevant for m in members),
    )


def _report(
    row: _Row,
    role: Literal["origin", "report", "duplicate"],
    *,
    folded_under: str | None = None,
    also_ran: tuple[Report, ...] = (),
) -> Report:
    return Report(
        article_id=row.article_id,
        url=row.url,
        outlet=row.outlet,
        title=row.title or _clip(row.lead, 120) or row.url,
        published_at=row.published_at,
        date_source=row.date_source,
        first_seen_at=row.first_seen_at,
        is_new=row.is_new,
        relevant=row.relevant,
        relevance_score=row.relevance_score,
        stance=row.stance,
        topics=row.topics,
        duplicate_of=row.duplicate_of,
        role=role,
        folded_under=folded_under,
        also_ran=also_ran,
    )


def _pick_quotes(
    members: Sequence[_Row], quotes: Mapping[str, list[tuple[str | None, str]]]
) -> tuple[QuoteItem, ...]:
    candidates: list[tuple[tuple[int, int, int, int], QuoteItem]] = []
    seen_text: set[str] = set()
    for order, m in enumerate(members):
        for speaker, text in quotes.get(m.article_id, ()):
            norm = " ".join(text.split()).casefold()
            if not norm or norm in seen_text:
                continue
            seen_text.add(norm)
            length = len(norm)
            score = (
                0 if speaker else 1,  # attributed quotes first
                0 if 40 <= length <= MAX_QUOTE_CHARS else 1,  # a sentence, not a fragment
                0 if m.duplicate_of is None else 1,
                order,
            )
            item = QuoteItem(_clip(text, MAX_QUOTE_CHARS), speaker, m.article_id, m.outlet)
            candidates.append((score, item))
    candidates.sort(key=lambda c: c[0])
    chosen: list[QuoteItem] = []
    speakers: set[str | None] = set()
    # Prefer two different voices; fall back to a second quote of the same speaker.
    for _, item in candidates:
        if len(chosen) < MAX_QUOTES and (item.speaker not in speakers or item.speaker is None):
            chosen.append(item)
            speakers.add(item.speaker)
    for _, item in candidates:
        if len(chosen) >= MAX_QUOTES:
            break
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def _overview(
    stories: Sequence[Story], rows: Sequence[_Row], previous: PreviousDigest | None
) -> Overview:
    new_rows = [r for r in rows if r.is_new]
    by_outlet: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in STANCES})
    by_day: dict[date, dict[str, int]] = defaultdict(lambda: {s: 0 for s in STANCES})
    totals = {s: 0 for s in STANCES}
    for r in new_rows:
        by_outlet[r.outlet][r.stance] += 1
        by_day[r.when.date()][r.stance] += 1
        totals[r.stance] += 1
    outlet_stance = sorted(
        (OutletStance(o, c) for o, c in by_outlet.items()), key=lambda x: (-x.total, x.outlet)
    )
    return Overview(
        stories=len(stories),
        new_stories=sum(1 for s in stories if s.status == "new"),
        grown_stories=sum(1 for s in stories if s.status == "grew"),
        articles=len(rows),
        new_articles=len(new_rows),
        outlets=len(by_outlet),
        stance_totals=totals,
        stance_by_outlet=tuple(outlet_stance),
        timeline=tuple(DayCount(d, by_day[d]) for d in sorted(by_day)),
        previous_digest=previous,
    )


# --------------------------------------------------------------------------- record / write


def record_digest(store: Store, digest: Digest, *, fmt: str, path: Path | None) -> None:
    """Record the digest in core.digests, so `--since last` next time starts after it."""
    with store.write() as con:
        # Writing the same digest in a second format adds the format to the same row.
        digests.record(
            con,
            digest_id=digest.digest_id,
            generated_at=digest.generated_at,
            since=digest.since,
            fmt=fmt,
            path=str(path) if path is not None else None,
            stories=len(digest.stories),
            articles=digest.overview.new_articles,
        )


def write_digest(
    store: Store,
    *,
    since: Since,
    fmt: Format,
    out: Path | None,
    include_all: bool = False,
    now: datetime | None = None,
) -> DigestResult:
    """Build, render, write (or return the text for stdout when out is None) and record."""
    _check_format(fmt)
    digest = build_digest(store, since=since, include_all=include_all, now=now)
    return save_digest(store, digest, fmt=fmt, out=out)


def save_digest(store: Store, digest: Digest, *, fmt: Format, out: Path | None) -> DigestResult:
    """Render a built digest, write it (unless out is None) and record it.

    For several formats of one digest (a file and the Markdown artifact), build once and
    save each: they share one core.digests row, so `--since last` stays right.
    """
    _check_format(fmt)
    text = render_digest(digest, fmt)
    path: Path | None = None
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # newline="" keeps the CSV writer's \r\n row ends as they are.
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
        log.info("wrote %s digest to %s", fmt, path)
    record_digest(store, digest, fmt=fmt, path=path)
    return DigestResult(digest=digest, fmt=fmt, text=text, path=path)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


# --------------------------------------------------------------------------- render


def render_digest(digest: Digest, fmt: Format) -> str:
    """Render a digest as Markdown, one self-contained HTML page, JSON or CSV."""
    if fmt == "json":
        return _render_json(digest)
    if fmt == "csv":
        return _render_csv(digest)
    if fmt == "html":
        return _html_env().get_template("digest.html.j2").render(_context(digest, html=True))
    if fmt == "md":
        return _md_env().get_template("digest.md.j2").render(_context(digest, html=False))
    raise ConfigError(f"unknown digest format {fmt!r}")


def _report_json(r: Report) -> dict[str, Any]:
    return {
        "article_id": r.article_id,
        "url": r.url,
        "outlet": r.outlet,
        "title": r.title,
        "published_at": _iso(r.published_at),
        "date_source": r.date_source,
        "first_seen_at": _iso(r.first_seen_at),
        "is_new": r.is_new,
        "role": r.role,
        "duplicate_of": r.duplicate_of,
        "folded_under": r.folded_under,
        "relevant": r.relevant,
        "relevance_score": r.relevance_score,
        "stance": r.stance,
        "topics": list(r.topics),
    }


def digest_to_json(digest: Digest) -> dict[str, Any]:
    """The digest as the JSON object of docs/digest.md (schema_version 1.x)."""
    ov = digest.overview
    prev = ov.previous_digest
    return {
        "schema_version": digest.schema_version,
        "digest_id": digest.digest_id,
        "generated_at": _iso(digest.generated_at),
        "since": _iso(digest.since),
        "since_mode": digest.since_mode,
        "include_all": digest.include_all,
        "overview": {
            "stories": ov.stories,
            "new_stories": ov.new_stories,
            "grown_stories": ov.grown_stories,
            "articles": ov.articles,
            "new_articles": ov.new_articles,
            "outlets": ov.outlets,
            "stance_totals": ov.stance_totals,
            "stance_by_outlet": [
                {"outlet": o.outlet, **o.counts, "total": o.total} for o in ov.stance_by_outlet
            ],
            "timeline": [
                {"date": d.day.isoformat(), **d.counts, "total": d.total} for d in ov.timeline
            ],
            "changes": {
                "previous_digest": None
                if prev is None
                else {"digest_id": prev.digest_id, "generated_at": _iso(prev.generated_at)},
                "new_stories": [
                    {"story_id": s.story_id, "title": s.title}
                    for s in digest.stories
                    if s.status == "new"
                ],
                "grown_stories": [
                    {"story_id": s.story_id, "title": s.title, "new_articles": s.new_article_count}
                    for s in digest.stories
                    if s.status == "grew"
                ],
            },
        },
        "stories": [
            {
                "story_id": s.story_id,
                "title": s.title,
                "lead": s.lead,
                "status": s.status,
                "first_published_at": _iso(s.first_published_at),
                "last_published_at": _iso(s.last_published_at),
                "first_seen_at": _iso(s.first_seen_at),
                "last_seen_at": _iso(s.last_seen_at),
                "origin_article_id": s.origin_article_id,
                "outlets": list(s.outlets),
                "outlet_count": len(s.outlets),
                "article_count": s.article_count,
                "new_article_count": s.new_article_count,
                "relevant": s.relevant,
                "event_types": [{"type": t, "articles": n} for t, n in s.event_types],
                "stance_mix": s.stance_mix,
                "key_actors": [
                    {"name": a.name, "kind": a.kind, "mentions": a.mentions, "articles": a.articles}
                    for a in s.key_actors
                ],
                "quotes": [
                    {
                        "quote": q.quote,
                        "speaker": q.speaker,
                        "article_id": q.article_id,
                        "outlet": q.outlet,
                    }
                    for q in s.quotes
                ],
                "figures": [
                    {
                        "value": f.value,
                        "what": f.what,
                        "sentence": f.sentence,
                        "articles": f.articles,
                    }
                    for f in s.figures
                ],
                "articles": [_report_json(r) for r in s.all_reports()],
            }
            for s in digest.stories
        ],
    }


def _render_json(digest: Digest) -> str:
    # One line per top-level key and per story: greppable, and fast (json's C encoder only
    # runs without indent; a 10,000-article digest is ~10 MB).
    data = digest_to_json(digest)
    stories = data.pop("stories")
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in data.items()]
    body = ",\n    ".join(json.dumps(s, ensure_ascii=False) for s in stories)
    tail = f'  "stories": [\n    {body}\n  ]' if stories else '  "stories": []'
    return "{\n" + "\n".join(lines) + "\n" + tail + "\n}\n"


CSV_COLUMNS = (
    "story_rank",
    "story_id",
    "story_title",
    "story_status",
    "article_id",
    "role",
    "folded_under",
    "duplicate_of",
    "outlet",
    "title",
    "url",
    "published_at",
    "date_source",
    "first_seen_at",
    "is_new",
    "relevant",
    "relevance_score",
    "stance",
    "topics",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _render_csv(digest: Digest) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for rank, s in enumerate(digest.stories, start=1):
        for r in s.all_reports():
            writer.writerow(
                [
                    rank,
                    s.story_id,
                    _cell(s.title),
                    s.status,
                    r.article_id,
                    r.role,
                    r.folded_under or "",
                    r.duplicate_of or "",
                    _cell(r.outlet),
                    _cell(r.title),
                    r.url,
                    _iso(r.published_at) or "",
                    r.date_source,
                    _iso(r.first_seen_at),
                    str(r.is_new).lower(),
                    "" if r.relevant is None else str(r.relevant).lower(),
                    "" if r.relevance_score is None else f"{r.relevance_score:.3f}",
                    r.stance,
                    ";".join(r.topics),
                ]
            )
    return buf.getvalue()


# Markdown: every value printed from a template is escaped unless it is MdRaw, the way
# HTML autoescaping treats Markup. Python-Markdown (used by Apprise for e-mail) passes raw
# HTML through and does not honour "\<", so "<" and ">" become entities.
class MdRaw(str):
    """Markdown text that is already safe to print as is."""


_MD_TABLE = str.maketrans(
    {c: "\\" + c for c in "\\`*_{}[]()#+!|~"}
    | {"<": "&lt;", ">": "&gt;", "\n": " ", "\r": " ", "\t": " "}
)
_MD_NEEDS_WORK = re.compile(r"[\\`*_{}\[\]()#+!|~<>&\n\r\t]|^[-=0-9]")
_ENTITY_LIKE = re.compile(r"&(?=#?\w+;)")
_LEADING_NUMBER = re.compile(r"^(\d+)\.(?=\s|$)")


def md_escape(value: object) -> str:
    """Escape text for Markdown so it shows literally (no links, emphasis, HTML)."""
    text = str(value)
    if " " in text:
        text = " ".join(text.split())
    if not _MD_NEEDS_WORK.search(text):
        return text
    if "&" in text:
        text = _ENTITY_LIKE.sub("&amp;", text)
    text = " ".join(text.translate(_MD_TABLE).split())
    # A leading "-", "1." or "=" would start a list or a heading underline.
    if text[:1] in ("-", "="):
        return "\\" + text
    if text[:1].isdigit():
        return _LEADING_NUMBER.sub(r"\1\\.", text)
    return text


# Outlets, dates and labels repeat thousands of times in a large digest.
_md_escape_cached = functools.lru_cache(maxsize=4096)(md_escape)


def _md_finalize(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, MdRaw | int | float):
        return value
    if type(value) is str and len(value) <= 80:
        return _md_escape_cached(value)
    return md_escape(value)


def _md_link(text: object, url: str) -> MdRaw:
    href = safe_href(url)
    label = md_escape(text)
    if href is None:
        return MdRaw(f"{label} (`{url.replace('`', '')}`)")
    return MdRaw(f"[{label}]({href})")


def _md_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor", "templates"),
        autoescape=False,
        finalize=_md_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["link"] = _md_link
    env.filters["raw"] = MdRaw
    _common_filters(env)
    return env


def _html_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor", "templates"),
        autoescape=True,  # every article field is escaped; only SVG numbers and CSS are ours
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["href"] = safe_href
    _common_filters(env)
    return env


def _fmt_date(value: datetime | date | None) -> str:
    if value is None:
        return "undated"
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return "the start"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _fmt_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _common_filters(env: jinja2.Environment) -> None:
    env.filters["date"] = _fmt_date
    env.filters["datetime"] = _fmt_datetime
    env.filters["number"] = _fmt_number
    env.globals["STANCES"] = STANCES
    env.globals["STANCE_LABELS"] = STANCE_LABELS


def _context(digest: Digest, *, html: bool) -> dict[str, Any]:
    ov = digest.overview
    chart = timeline_chart(ov.timeline) if html else None
    return {
        "d": digest,
        "ov": ov,
        "chart": chart,
        "new_stories": [s for s in digest.stories if s.status == "new"],
        "grown_stories": [s for s in digest.stories if s.status == "grew"],
        "recent_days": ov.timeline[-31:],
        "css": Markup(_css()) if html else "",
    }


def _css() -> str:
    from importlib import resources

    return resources.files("monitor").joinpath("templates/digest.css").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- timeline chart


@dataclass(frozen=True)
class Segment:
    """One stance's slice of one bar."""

    stance: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    """One bar of the timeline: a day, week, month or year."""

    x: float
    width: float
    label: str
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """Geometry of the inline SVG timeline, computed here so the template only prints numbers."""

    width: int
    height: int
    top: int
    plot_height: int
    left: int
    unit: str
    max_count: int
    bars: tuple[Bar, ...]
    first_label: str
    last_label: str


def _bin_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def _next_bin(start: date, unit: str) -> date:
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(days=7)
    if unit == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.replace(year=start.year + 1)


def _bin_label(start: date, unit: str) -> str:
    if unit == "month":
        return start.strftime("%Y-%m")
    if unit == "year":
        return str(start.year)
    if unit == "week":
        return "week of " + start.isoformat()
    return start.isoformat()


def timeline_chart(days: Sequence[DayCount], *, width: int = 420, height: int = 170) -> Chart:
    """Stacked bars of articles by stance over a continuous axis of days (or wider bins)."""
    left, top, bottom = 30, 10, 22
    plot_h = height - top - bottom
    if not days:
        return Chart(width, height, top, plot_h, left, "day", 0, (), "", "")
    first, last = days[0].day, days[-1].day
    span = (last - first).days + 1
    unit = "day" if span <= 62 else "week" if span <= 7 * 60 else "month"
    if unit == "month" and (last.year - first.year) * 12 > 120:
        unit = "year"
    bins: dict[date, dict[str, int]] = {}
    cursor = _bin_start(first, unit)
    while cursor <= last:
        bins[cursor] = {s: 0 for s in STANCES}
        cursor = _next_bin(cursor, unit)
    for d in days:
        bucket = bins[_bin_start(d.day, unit)]
        for stance, n in d.counts.items():
            bucket[stance] += n
    max_count = max((sum(c.values()) for c in bins.values()), default=0) or 1
    slot = (width - left - 4) / len(bins)
    gap = min(2.0, slot * 0.15)
    bar_w = max(min(slot - gap, 40.0), 0.5)  # a few wide bins still read as bars
    bars = []
    for i, (start, counts) in enumerate(bins.items()):
        y = float(top + plot_h)
        segs = []
        for stance in STANCES:
            n = counts[stance]
            if not n:
                continue
            h = plot_h * n / max_count
            y -= h
            segs.append(Segment(stance, n, round(y, 2), round(h, 2)))
        bars.append(
            Bar(
                x=round(left + i * slot + (slot - bar_w) / 2, 2),
                width=round(bar_w, 2),
                label=_bin_label(start, unit),
                total=sum(counts.values()),
                segments=tuple(segs),
            )
        )
    return Chart(
        width,
        height,
        top,
        plot_h,
        left,
        unit,
        max_count,
        tuple(bars),
        _bin_label(_bin_start(first, unit), unit),
        bars[-1].label,
    )
