"""Building a digest: the stored rows of the window (read through `store.digests`) become the
records of `model.py`: stories with their origin, folded copies, actors, quotes and figures,
and the overview.

A story is in the digest when one of its articles was first seen inside the window
(`first_seen_at` after `since`, up to `generated_at`) and, unless `include_all`, when any
article of the story is relevant. Every report of such a story is listed (the new ones
marked), duplicates folded under their original. The overview counts the new articles.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal
from urllib.parse import urlsplit

from monitor.digest.model import (
    ACTOR_KINDS,
    MAX_QUOTES,
    STANCES,
    Actor,
    DayCount,
    Digest,
    EventType,
    FigureItem,
    MovedStoryline,
    OutletStance,
    Overview,
    PreviousDigest,
    QuoteItem,
    Report,
    Since,
    SinceMode,
    Story,
    StorylineRef,
)
from monitor.errors import ConfigError
from monitor.store import Store, digests, utcnow
from monitor.store import storylines as storyline_store
from monitor.store.digests import StoryDetails, WindowArticle
from monitor.store.storylines import Summary
from monitor.titles import without_head_debris

log = logging.getLogger(__name__)

MAX_ACTORS = 6
MAX_FIGURES = 6
MAX_QUOTE_CHARS = 320
LEAD_CHARS = 280


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


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


@dataclass(slots=True)
class _Row:
    """One article of the window, with what the digest derives from it."""

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
    labelled: bool = False

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
        mode: SinceMode
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
        threads = storyline_store.storyline_of_stories(con, sorted({a.story_key for a in window}))

    rows = _rows(window, since_at)
    actors, quotes, figures = _details(details)

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
    stories = [_with_storyline(story, threads.get(story.story_id)) for story in stories]
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
        storylines=_moved(stories, threads),
    )
    log.info(
        "digest %s: %d stories, %d new articles since %s",
        digest.digest_id,
        len(stories),
        digest.overview.new_articles,
        since_at or "the start",
    )
    return digest


def _rows(window: Sequence[WindowArticle], since_at: datetime | None) -> list[_Row]:
    return [
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
            labelled=bool(a.labelled),
        )
        for a in window
    ]


_Details = tuple[
    dict[str, list[Actor]], dict[str, list[tuple[str | None, str]]], dict[str, list[FigureItem]]
]


def _details(details: StoryDetails) -> _Details:
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
    return actors, quotes, figures


def assemble_story(
    window: Sequence[WindowArticle], details: StoryDetails, storyline: StorylineRef | None
) -> Story:
    """One story from its articles and details as a digest shows it (the reader's story page
    reads them for one story: monitor/store/reader.py)."""
    key = window[0].story_key
    actors, quotes, figures = _details(details)
    story = _build_story(
        key,
        details.titles.get(key),
        _rows(window, None),
        actors.get(key, []),
        quotes,
        figures.get(key, []),
    )
    return replace(story, storyline=storyline)


def _with_storyline(story: Story, line: Summary | None) -> Story:
    if line is None:
        return story
    ref = StorylineRef(line.storyline_id, line.title, line.story_count, line.first_published_at)
    return replace(story, storyline=ref)


def _moved(stories: Sequence[Story], threads: Mapping[str, Summary]) -> tuple[MovedStoryline, ...]:
    """The storylines this digest's stories continue, the one with most new stories first."""
    moved: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        if story.storyline is not None:
            moved[story.storyline.storyline_id].append(story)
    out = []
    for members in moved.values():
        line = threads[members[0].story_id]
        out.append(
            MovedStoryline(
                line.storyline_id,
                line.title,
                line.story_count,
                sum(1 for s in members if s.status == "new"),
                sum(1 for s in members if s.status == "grew"),
                line.first_published_at,
                line.last_published_at,
            )
        )
    out.sort(key=lambda m: (-m.new_stories, -m.grown_stories, m.title, m.storyline_id))
    return tuple(out)


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
    # A date the page printed above the text ("date 2020-01-05", "Published 5 Jan 2020 |") is
    # not what the story says: the story's dates are shown beside it.
    lead = without_head_debris(origin.lead)
    if title and lead.startswith(title.rstrip(".")):
        # The title is the text's own first sentence (monitor/titles.py): don't repeat it.
        lead = lead[len(title.rstrip(".")) :].lstrip(" .").strip()
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
        event_types=tuple(
            EventType(t, n) for t, n in sorted(topic_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
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
        labelled=row.labelled,
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
        labelled_articles=sum(1 for r in new_rows if r.labelled),
    )
