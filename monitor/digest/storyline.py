"""One storyline as a timeline (`monitor storyline ID`): each story with its date, the outlet that
ran it first, its size and stance mix, and what changed since the previous digest.

Markdown and HTML go through the digest's Jinja environments (`storyline.md.j2`,
`storyline.html.j2`: one self-contained page under the digest's CSP, with its timeline chart);
JSON is one object; the table form is the CLI's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from markupsafe import Markup

from monitor.digest.chart import timeline_chart
from monitor.digest.model import STANCES, DayCount, iso
from monitor.digest.render import _css, _html_env, _md_env
from monitor.errors import ConfigError, StoreError
from monitor.store import Connection, Store, utcnow
from monitor.store import digests as digest_store
from monitor.store import storylines as storyline_store
from monitor.store.storylines import Summary, TimelineRow

ViewFormat = Literal["md", "html", "json"]
VIEW_FORMATS: tuple[ViewFormat, ...] = ("md", "html", "json")


@dataclass(frozen=True)
class TimelineStory:
    """A story on a storyline's timeline, and whether it is new or grew since the last digest."""

    row: TimelineRow
    status: Literal["new", "grew", ""]


@dataclass(frozen=True)
class StorylineView:
    """A storyline, its stories oldest first, and its articles per day by stance."""

    summary: Summary
    stories: tuple[TimelineStory, ...]
    days: tuple[DayCount, ...]  # by publication date, else their story's first (day_counts)
    since: datetime | None  # the previous digest, if any
    generated_at: datetime
    undated: int = 0  # articles of stories with no date at all: not in `days`

    @property
    def new_stories(self) -> int:
        """Stories first seen since the previous digest."""
        return sum(1 for s in self.stories if s.status == "new")

    @property
    def grown_stories(self) -> int:
        """Older stories with reports first seen since the previous digest."""
        return sum(1 for s in self.stories if s.status == "grew")


def build_storyline(store: Store, storyline_id: str) -> StorylineView:
    """Read a storyline (an id merged into another stands for that one) as a timeline."""
    with store.read() as con:
        return storyline_view(con, storyline_id)


def storyline_view(con: Connection, storyline_id: str) -> StorylineView:
    """A storyline as a timeline, read on an open connection (StoreError if there is none)."""
    resolved = storyline_store.resolve(con, storyline_id)
    if resolved is None:
        raise StoreError(f"no storyline {storyline_id!r} (see `monitor storylines`)")
    summary = next((s for s in storyline_store.summaries(con) if s.storyline_id == resolved), None)
    if summary is None:
        raise StoreError(f"storyline {storyline_id!r} has no stories left")
    rows = storyline_store.timeline(con, resolved)
    counts = storyline_store.day_counts(con, resolved)
    previous = digest_store.latest(con)
    since = previous.generated_at if previous else None
    stories = tuple(TimelineStory(row, _status(row, since)) for row in rows)
    by_day: dict[Any, dict[str, int]] = {}
    undated = 0
    for day, stance, n in counts:
        if day is None:
            undated += n
            continue
        by_day.setdefault(day, {s: 0 for s in STANCES})[stance] += n
    days = tuple(DayCount(day, c) for day, c in sorted(by_day.items()))
    return StorylineView(summary, stories, days, since, utcnow(), undated)


def _status(row: TimelineRow, since: datetime | None) -> Literal["new", "grew", ""]:
    if since is None or row.last_seen_at <= since:
        return ""
    return "new" if row.first_seen_at > since else "grew"


def render_storyline(view: StorylineView, fmt: ViewFormat) -> str:
    """A storyline as Markdown, one self-contained HTML page, or JSON."""
    if fmt == "json":
        return json.dumps(storyline_json(view), ensure_ascii=False, indent=2) + "\n"
    context = {"v": view, "s": view.summary}
    if fmt == "html":
        chart = timeline_chart(list(view.days))
        page = _html_env().get_template("storyline.html.j2")
        return page.render(context | {"chart": chart, "css": Markup(_css())})
    if fmt == "md":
        return _md_env().get_template("storyline.md.j2").render(context)
    raise ConfigError(f"unknown storyline format {fmt!r} (md, html, json)")


def storyline_json(view: StorylineView) -> dict[str, Any]:
    """The JSON form of a storyline timeline."""
    s = view.summary
    return {
        "storyline_id": s.storyline_id,
        "title": s.title,
        "first_published_at": iso(s.first_published_at),
        "last_published_at": iso(s.last_published_at),
        "story_count": s.story_count,
        "article_count": s.article_count,
        "outlets": s.outlets,
        "since_previous_digest": iso(view.since),
        "new_stories": view.new_stories,
        "grown_stories": view.grown_stories,
        "stories": [
            {
                "story_id": t.row.story_id,
                "title": t.row.title,
                "first_published_at": iso(t.row.first_published_at),
                "last_published_at": iso(t.row.last_published_at),
                "origin_outlet": t.row.origin_outlet,
                "article_count": t.row.article_count,
                "stance_mix": t.row.stance_mix,
                "status": t.status or None,
            }
            for t in view.stories
        ],
    }
