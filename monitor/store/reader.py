"""What the reader (`monitor web`) reads and writes: one row per story for the reading list,
one article with everything decided about it, the quotes and figures of a story's reports,
and the read marks (`core.read_marks`, per story)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from monitor.store import bulk
from monitor.store.connection import Connection
from monitor.store.digests import (
    ArticleQuote,
    StoryActor,
    StoryDetails,
    StoryFigure,
    WindowArticle,
)
from monitor.titles import without_head_debris

# One row per story: what the list shows and what its facets count. A story is "in" a facet
# value when any of its reports is (from that outlet, in that language, of that stance ...).
_STORY_ROWS_SQL = """
WITH a AS (
    SELECT story_id, outlet, language, stance, topics, relevant, first_seen_at, published_at
    FROM articles WHERE story_id IS NOT NULL
), agg AS (
    -- A story's span is its dated reports'; an undated report's first sighting (the day it was
    -- crawled, not published) stands in only for a story with no dated report at all.
    SELECT story_id, count(*) AS articles,
           coalesce(min(published_at), min(first_seen_at)) AS first_at,
           coalesce(max(published_at), max(first_seen_at)) AS last_at,
           count(published_at) > 0 AS dated,
           max(first_seen_at) AS last_seen_at,
           coalesce(bool_or(relevant), false) AS relevant,
           coalesce(list_sort(list(DISTINCT outlet) FILTER (WHERE outlet IS NOT NULL)), [])
               AS outlets,
           coalesce(list_sort(list(DISTINCT language) FILTER (WHERE language IS NOT NULL)), [])
               AS languages,
           coalesce(list_sort(list(DISTINCT stance) FILTER (WHERE stance IS NOT NULL)), [])
               AS stances,
           coalesce(list_sort(list_distinct(flatten(list(topics)))), []) AS topics,
           count(*) FILTER (WHERE stance = 'for_withdrawal') AS n_for,
           count(*) FILTER (WHERE stance = 'against_withdrawal') AS n_against,
           count(*) FILTER (WHERE stance = 'neutral') AS n_neutral
    FROM a GROUP BY story_id
)
SELECT agg.*, s.title, r.language AS title_language, s.storyline_id,
       l.title AS storyline_title, {read_at} AS read_at
FROM agg JOIN stories s USING (story_id)
LEFT JOIN articles r ON r.article_id = s.representative_article_id
LEFT JOIN storylines l ON l.storyline_id = s.storyline_id
{read_join}
"""


def has_read_marks(con: Connection) -> bool:
    """Whether this database (or snapshot) has the read marks view (migration 0015)."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'main' "
        "AND view_name = 'read_marks'"
    ).fetchall()
    return bool(rows[0][0])


def story_rows(con: Connection) -> pa.Table:
    """Every story as the reading list and its facets see it, as an Arrow table."""
    if has_read_marks(con):
        sql = _STORY_ROWS_SQL.format(
            read_at="m.read_at", read_join="LEFT JOIN read_marks m USING (story_id)"
        )
    else:
        sql = _STORY_ROWS_SQL.format(read_at="NULL::TIMESTAMP", read_join="")
    table: pa.Table = con.sql(sql).to_arrow_table()
    return table


def mark_read(con: Connection, story_ids: Sequence[str], read_at: datetime | None) -> None:
    """Mark stories read as of `read_at`, or unread (None)."""
    ids = list(story_ids)
    bulk.execute(
        con,
        "DELETE FROM core.read_marks WHERE story_id IN (SELECT story_id FROM {rows})",
        {"story_id": ids},
    )
    if read_at is not None:
        bulk.insert(con, "core.read_marks", {"story_id": ids, "read_at": [read_at] * len(ids)})


def read_marks(con: Connection) -> dict[str, datetime]:
    """Every read mark."""
    return dict(con.execute("SELECT story_id, read_at FROM core.read_marks").fetchall())


def _first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    # Whole results only: DuckDB 2 refuses more work on a connection with rows left unread.
    return rows[0] if rows else None


@dataclass(frozen=True)
class ArticlePage:
    """One article with everything decided about it."""

    fields: dict[str, Any]  # the `articles` view's row
    label_note: str | None
    labelled_at: datetime | None
    entities: list[tuple[str, str, int]]
    quotes: list[tuple[str | None, str]]
    figures: list[tuple[float, str, str]]
    story_title: str | None


def article(con: Connection, article_id: str) -> ArticlePage | None:
    """An article as its page shows it; None if there is none."""
    cur = con.execute("SELECT * FROM articles WHERE article_id = ?", [article_id])
    names = [d[0] for d in cur.description or []]
    row = _first(cur.fetchall())
    if row is None:
        return None
    fields = dict(zip(names, row, strict=True))
    label = _first(
        con.execute(
            "SELECT note, labelled_at FROM labels WHERE article_id = ?", [article_id]
        ).fetchall()
    )
    entities = con.execute(
        "SELECT name, kind, mentions FROM entities WHERE article_id = ? "
        "ORDER BY mentions DESC, name",
        [article_id],
    ).fetchall()
    quotes = con.execute(
        "SELECT speaker, quote FROM quotes WHERE article_id = ?", [article_id]
    ).fetchall()
    figures = con.execute(
        "SELECT value, what, sentence FROM figures WHERE article_id = ? ORDER BY what, value",
        [article_id],
    ).fetchall()
    story = _first(
        con.execute(
            "SELECT title FROM stories WHERE story_id = ?", [fields.get("story_id")]
        ).fetchall()
    )
    return ArticlePage(
        fields=fields,
        label_note=label[0] if label else None,
        labelled_at=label[1] if label else None,
        entities=[(e[0], e[1], int(e[2])) for e in entities],
        quotes=[(q[0], q[1]) for q in quotes],
        figures=[(float(f[0]), f[1], f[2]) for f in figures],
        story_title=story[0] if story else None,
    )


class ReportExtras(NamedTuple):
    """What a story page shows of each report beyond the digest's fields."""

    language: str | None
    quotes: list[tuple[str | None, str]]
    figures: list[tuple[float, str]]


def report_extras(con: Connection, ids: Sequence[str]) -> dict[str, ReportExtras]:
    """Language, quotes and figures of each of these articles (a story's few)."""
    if not ids:
        return {}
    wanted = [list(ids)]
    langs = con.execute(
        "SELECT article_id, language FROM core.articles WHERE list_contains(?, article_id)",
        wanted,
    ).fetchall()
    out = {r[0]: ReportExtras(r[1], [], []) for r in langs}
    for aid, speaker, quote in con.execute(
        "SELECT article_id, speaker, quote FROM quotes WHERE list_contains(?, article_id)", wanted
    ).fetchall():
        out[aid].quotes.append((speaker, quote))
    for aid, value, what in con.execute(
        "SELECT article_id, value, what FROM figures WHERE list_contains(?, article_id) "
        "ORDER BY what, value",
        wanted,
    ).fetchall():
        out[aid].figures.append((float(value), what))
    return out


def leads(con: Connection, story_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """story_id -> (the first 600 characters of its representative's text, without a date the
    page printed above it, and its language)."""
    if not story_ids:
        return {}
    rows = bulk.select(
        con,
        "SELECT s.story_id, left(a.text, 600), a.language FROM core.stories s "
        "JOIN core.articles a ON a.article_id = s.representative_article_id "
        "WHERE s.story_id IN (SELECT story_id FROM {rows})",
        {"story_id": list(story_ids)},
    )
    return {r[0]: (without_head_debris(r[1] or ""), r[2]) for r in rows}


# One story's articles in the digest's window form, origin first (the digest's order: earliest
# published, an undated copy that borrowed the story's date after the rest, then first seen).
_STORY_SQL = """
SELECT article_id, url, outlet, source, title, published_at, date_source, first_seen_at,
       duplicate_of, story_id, relevant, relevance_score, stance, topics,
       row_number() OVER (
           ORDER BY coalesce(published_at, first_seen_at), date_source = 'story',
                    first_seen_at, article_id
       ) AS pos,
       left(text, 600), decided_by = 'analyst'
FROM articles WHERE story_id = ?
ORDER BY pos
"""
# Per story, as the digest's story_details, but on one story's few articles: the position of an
# article in the list ($ids, origin first) picks the origin's spelling and sentence.
_ACTORS_SQL = """
SELECT lower(name) AS k, arg_min(name, list_position($ids, article_id)),
       arg_min(kind, list_position($ids, article_id)), sum(mentions)::BIGINT AS m,
       count(DISTINCT article_id) AS n
FROM entities WHERE list_contains($ids, article_id) AND list_contains($kinds, kind)
GROUP BY k ORDER BY n DESC, m DESC, k LIMIT $limit
"""
_FIGURES_SQL = """
SELECT value, what, arg_min(sentence, list_position($ids, article_id)),
       count(DISTINCT article_id) AS n
FROM figures WHERE list_contains($ids, article_id)
GROUP BY value, what ORDER BY n DESC, what, value LIMIT $limit
"""


def story_articles(con: Connection, story_id: str) -> list[WindowArticle]:
    """Every article of one story, origin first, as the digest's window rows."""
    return [
        WindowArticle._make([*r[:15], r[15] if (r[14] == 1 or not r[4]) else None, bool(r[16])])
        for r in con.execute(_STORY_SQL, [story_id]).fetchall()
    ]


def story_details(
    con: Connection,
    articles: Sequence[WindowArticle],
    *,
    title: str | None,
    actor_kinds: Sequence[str],
    max_actors: int,
    max_figures: int,
) -> StoryDetails:
    """Key actors, figures and quotes of one story's articles (in origin-first order)."""
    key = articles[0].story_key
    ids = [a.article_id for a in articles]
    actors = con.execute(
        _ACTORS_SQL, {"ids": ids, "kinds": list(actor_kinds), "limit": max_actors}
    ).fetchall()
    figures = con.execute(_FIGURES_SQL, {"ids": ids, "limit": max_figures}).fetchall()
    quotes = con.execute(
        "SELECT article_id, speaker, quote FROM quotes WHERE list_contains(?, article_id)", [ids]
    ).fetchall()
    return StoryDetails(
        actors=[StoryActor(key, r[1], r[2], int(r[3]), int(r[4])) for r in actors],
        figures=[StoryFigure(key, float(r[0]), r[1], r[2], int(r[3])) for r in figures],
        quotes=[ArticleQuote(*r) for r in quotes],
        titles={key: title} if title else {},
    )
