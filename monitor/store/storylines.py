"""Storylines: `core.storylines`, each story's `storyline_id` (and whether an analyst placed it),
and `core.storyline_actions`, the record of what analysts did."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from monitor.store import bulk
from monitor.store.articles import HEADLINE
from monitor.store.connection import Connection
from monitor.store.stories import OWN_DATE_SQL
from monitor.stories.features import Idf, cue_day, decode_counts
from monitor.storylines import (
    QUESTION_CHARS,
    Placement,
    Report,
    Thread,
    question_weights,
    threads_of,
)

ACTOR_KINDS = ("person", "organization", "group", "place")


def unplaced(con: Connection, story_ids: Sequence[str]) -> list[str]:
    """Those of these stories with no storyline that no analyst has placed."""
    return [
        r[0]
        for r in bulk.select(
            con,
            "SELECT s.story_id FROM core.stories s JOIN {rows} q USING (story_id) "
            "WHERE s.storyline_id IS NULL AND NOT s.storyline_pinned ORDER BY s.story_id",
            {"story_id": sorted(set(story_ids))},
        )
    ]


def threads(con: Connection, story_ids: Sequence[str]) -> list[Thread]:
    """What these stories are about, from their relevant reports (stories with none: left out)."""
    if not story_ids:
        return []
    with bulk.rows(con, {"story_id": sorted(set(story_ids))}) as asked:
        rows = con.execute(
            f"SELECT a.story_id, a.article_id, c.topics, {OWN_DATE_SQL} AS own, a.published_at, "
            f"f.vector, f.cues, {HEADLINE}, left(a.text, {QUESTION_CHARS}), c.stance, "
            "coalesce(a.content_hash, '') "
            "FROM core.articles a JOIN core.classifications c USING (article_id) "
            "LEFT JOIN core.story_features f USING (article_id) "
            f"WHERE a.story_id IN (SELECT story_id FROM {asked}) AND c.relevant "
            "ORDER BY a.story_id, a.article_id"
        ).fetchall()
        kinds = ", ".join(f"'{k}'" for k in ACTOR_KINDS)
        named: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for article_id, name, kind in con.execute(
            "SELECT e.article_id, e.name, e.kind FROM core.entities e JOIN core.articles a "
            f"USING (article_id) WHERE a.story_id IN (SELECT story_id FROM {asked}) "
            f"AND e.kind IN ({kinds})"
        ).fetchall():
            named[article_id].append((name, kind))
    counts = {r[1]: decode_counts(r[5]) for r in rows if r[5]}
    terms = sorted({t for c in counts.values() for t in c})
    df = {
        term: int(n)
        for term, n in bulk.select(
            con,
            "SELECT term, sum(df) FROM core.term_df WHERE term IN (SELECT term FROM {rows}) "
            "GROUP BY term",
            {"term": terms},
        )
    }
    documents = con.execute("SELECT count(*) FROM core.story_features").fetchall()[0][0]
    idf = Idf(df, int(documents))
    return threads_of(
        Report(
            story_id,
            tuple(topics or ()),
            tuple(named.get(article_id, ())),
            idf.vector(counts[article_id]) if article_id in counts else {},
            at if own else None,
            _named_at(cues),
            question_weights(title, text or ""),
            stance not in (None, "neutral"),
            key,
        )
        for story_id, article_id, topics, own, at, _, cues, title, text, stance, key in rows
    )


def _named_at(cues: Sequence[str] | None) -> datetime | None:
    day = cue_day(cues or ())
    return datetime(day.year, day.month, day.day) if day else None


def actor_counts(con: Connection) -> tuple[dict[str, int], int]:
    """In how many stories each actor or place is named, and how many stories there are."""
    kinds = ", ".join(f"'{k}'" for k in ACTOR_KINDS)
    df = {
        name: int(n)
        for name, n in con.execute(
            "SELECT e.name, count(DISTINCT a.story_id) FROM core.entities e "
            "JOIN core.articles a USING (article_id) "
            f"WHERE a.story_id IS NOT NULL AND e.kind IN ({kinds}) GROUP BY e.name"
        ).fetchall()
    }
    row = con.execute("SELECT count(*) FROM core.stories").fetchall()
    return df, int(row[0][0])


def active_members(con: Connection, since: datetime | None) -> dict[str, list[Thread]]:
    """The threads of the stories of every storyline active since `since` (all when None)."""
    rows = con.execute(
        """
        WITH lines AS (
            SELECT s.storyline_id, max(a.published_at) AS last_at
            FROM core.stories s JOIN core.articles a USING (story_id)
            JOIN core.storylines l ON l.storyline_id = s.storyline_id
            WHERE l.merged_into IS NULL
            GROUP BY s.storyline_id
        )
        SELECT s.storyline_id, s.story_id FROM core.stories s JOIN lines USING (storyline_id)
        WHERE $1::TIMESTAMP IS NULL OR lines.last_at IS NULL OR lines.last_at >= $1::TIMESTAMP
        ORDER BY s.storyline_id, s.story_id
        """,
        [since],
    ).fetchall()
    by_story = {t.story_id: t for t in threads(con, [story for _, story in rows])}
    members: dict[str, list[Thread]] = defaultdict(list)
    for storyline_id, story_id in rows:
        thread = by_story.get(story_id)
        if thread is not None:
            members[storyline_id].append(thread)
    return dict(members)


def save(con: Connection, placement: Placement, now: datetime) -> None:
    """New storylines, their stories, and the titles of the storylines that took stories."""
    bulk.insert(
        con,
        "core.storylines",
        {
            "storyline_id": placement.opened,
            "title": [placement.titles[sid] for sid in placement.opened],
            "created_at": [now] * len(placement.opened),
            "updated_at": [now] * len(placement.opened),
        },
        on_conflict="ON CONFLICT DO NOTHING",
    )
    titles = {"storyline_id": list(placement.titles), "title": list(placement.titles.values())}
    bulk.execute(
        con,
        "UPDATE core.storylines l SET title = t.title, updated_at = $1 FROM {rows} t "
        "WHERE l.storyline_id = t.storyline_id",
        titles,
        [now],
    )
    moves = {
        "story_id": list(placement.storyline_of),
        "storyline_id": list(placement.storyline_of.values()),
    }
    bulk.execute(
        con,
        "UPDATE core.stories s SET storyline_id = m.storyline_id FROM {rows} m "
        "WHERE s.story_id = m.story_id AND NOT s.storyline_pinned",
        moves,
    )


# -- what analysts do ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """One storyline as listed: its title, span and size."""

    storyline_id: str
    title: str
    first_published_at: datetime | None
    last_published_at: datetime | None
    story_count: int
    article_count: int
    outlets: list[str]


def summaries(con: Connection) -> list[Summary]:
    """Every storyline (the `storylines` view), the most recently active first."""
    rows = con.execute(
        "SELECT storyline_id, title, first_published_at, last_published_at, story_count, "
        "article_count, outlets FROM storylines "
        "ORDER BY last_published_at DESC NULLS LAST, storyline_id"
    ).fetchall()
    return [Summary(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), list(r[6])) for r in rows]


def resolve(con: Connection, storyline_id: str) -> str | None:
    """The storyline an id stands for today (following merges), or None if there is none."""
    seen: set[str] = set()
    current = storyline_id
    while current not in seen:
        seen.add(current)
        row = con.execute(
            "SELECT merged_into FROM core.storylines WHERE storyline_id = ?", [current]
        ).fetchall()
        if not row:
            return None
        if row[0][0] is None:
            return current
        current = row[0][0]
    return current


def stories_in(con: Connection, storyline_id: str) -> list[str]:
    """The stories of a storyline."""
    return [
        r[0]
        for r in con.execute(
            "SELECT story_id FROM core.stories WHERE storyline_id = ? ORDER BY story_id",
            [storyline_id],
        ).fetchall()
    ]


def existing_stories(con: Connection, story_ids: Sequence[str]) -> list[str]:
    """Those of these ids that are stories."""
    return [
        r[0]
        for r in bulk.select(
            con,
            "SELECT story_id FROM core.stories WHERE story_id IN (SELECT story_id FROM {rows})",
            {"story_id": sorted(set(story_ids))},
        )
    ]


def record(
    con: Connection,
    action: str,
    now: datetime,
    *,
    storyline_id: str | None = None,
    other_id: str | None = None,
    story_ids: Sequence[str] = (),
    title: str | None = None,
) -> None:
    """Keep what an analyst did."""
    con.execute(
        "INSERT INTO core.storyline_actions VALUES (?, ?, ?, ?, ?, ?, ?)",
        [uuid.uuid4().hex[:16], action, storyline_id, other_id, list(story_ids), title, now],
    )


def rename(con: Connection, storyline_id: str, title: str, now: datetime) -> None:
    """An analyst's title for a storyline (it wins over the made one from then on)."""
    con.execute(
        "UPDATE core.storylines SET analyst_title = ?, updated_at = ? WHERE storyline_id = ?",
        [title, now, storyline_id],
    )


def pin(con: Connection, storyline_of: Mapping[str, str | None]) -> None:
    """Put stories where an analyst says (None: standing alone), for good."""
    bulk.execute(
        con,
        "UPDATE core.stories s SET storyline_id = m.storyline_id, storyline_pinned = true "
        "FROM {rows} m WHERE s.story_id = m.story_id",
        {
            "story_id": list(storyline_of),
            "storyline_id": bulk.strings(list(storyline_of.values())),
        },
    )


def merge_into(con: Connection, folded: str, keep: str, now: datetime) -> None:
    """Mark a storyline as continuing as another (its stories are pinned there by the caller)."""
    con.execute(
        "UPDATE core.storylines SET merged_into = ?, updated_at = ? WHERE storyline_id = ?",
        [keep, now, folded],
    )


def create(con: Connection, storyline_id: str, title: str, now: datetime) -> None:
    """A storyline an analyst makes (by splitting stories off another)."""
    con.execute(
        "INSERT INTO core.storylines (storyline_id, title, created_at, updated_at) "
        "VALUES (?, ?, ?, ?)",
        [storyline_id, title, now, now],
    )


@dataclass(frozen=True)
class TimelineRow:
    """One story of a storyline as its timeline shows it."""

    story_id: str
    title: str
    first_published_at: datetime | None
    last_published_at: datetime | None
    origin_outlet: str | None
    article_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    stance_mix: dict[str, int]


def timeline(con: Connection, storyline_id: str) -> list[TimelineRow]:
    """The stories of a storyline, oldest first, with their origin and stance mix."""
    rows = con.execute(
        """
        SELECT * FROM (
            SELECT st.story_id, st.title, st.first_published_at, st.last_published_at,
                   st.origin_outlet, st.article_count, min(a.first_seen_at) AS first_seen,
                   max(a.first_seen_at),
                   count(*) FILTER (WHERE a.stance = 'for_withdrawal'),
                   count(*) FILTER (WHERE a.stance = 'against_withdrawal'),
                   count(*) FILTER (WHERE a.stance = 'neutral'),
                   count(*) FILTER (WHERE a.stance IS NULL)
            FROM stories st JOIN articles a USING (story_id)
            WHERE st.storyline_id = $1
            GROUP BY ALL
        ) ORDER BY coalesce(first_published_at, first_seen), story_id
        """,
        [storyline_id],
    ).fetchall()
    return [
        TimelineRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            int(r[5]),
            r[6],
            r[7],
            {
                "for_withdrawal": int(r[8]),
                "against_withdrawal": int(r[9]),
                "neutral": int(r[10]),
                "unclassified": int(r[11]),
            },
        )
        for r in rows
    ]


def day_counts(con: Connection, storyline_id: str) -> list[tuple[date | None, str, int]]:
    """Articles of a storyline per day and stance: the day each was published, else the first
    day its story's reports were (an undated report of a dated event); None for the articles of
    a story with no date at all (the day it was crawled is no day of a thread that may be years
    old)."""
    return [
        (r[0], r[1], int(r[2]))
        for r in con.execute(
            """
            SELECT day, stance, count(*) FROM (
                SELECT coalesce(
                           a.published_at, min(a.published_at) OVER (PARTITION BY a.story_id)
                       )::DATE AS day,
                       coalesce(a.stance, 'unclassified') AS stance
                FROM articles a JOIN core.stories s USING (story_id)
                WHERE s.storyline_id = $1
            ) GROUP BY ALL ORDER BY day NULLS LAST
            """,
            [storyline_id],
        ).fetchall()
    ]


def storyline_of_stories(con: Connection, story_ids: Sequence[str]) -> dict[str, Summary]:
    """The storyline each of these stories continues: one of two stories or more (a story
    standing alone in its storyline is left out)."""
    rows = bulk.select(
        con,
        "SELECT s.story_id, l.storyline_id, l.title, l.first_published_at, "
        "l.last_published_at, l.story_count, l.article_count, l.outlets "
        "FROM core.stories s JOIN {rows} q USING (story_id) "
        "JOIN storylines l ON l.storyline_id = s.storyline_id WHERE l.story_count > 1",
        {"story_id": sorted(set(story_ids))},
    )
    return {r[0]: Summary(r[1], r[2], r[3], r[4], int(r[5]), int(r[6]), list(r[7])) for r in rows}
