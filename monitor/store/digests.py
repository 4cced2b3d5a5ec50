"""Digests: what a digest reads (the views `articles`, `stories`, `entities`, `quotes`,
`figures`), the digests written (`core.digests`) and their deliveries (`core.deliveries`).

A digest is read in one read-only connection (`Store.read`), in this order:

    latest         the digest recorded last (what `--since last` starts after)
    window         every article of the stories with an article first seen in the window
    story_details  per story: key actors and figures (aggregated here), quotes, the title

Reading errors come out as `StoreError`; writes run inside `Store.write`, which does the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import duckdb

from monitor.errors import StoreError
from monitor.store import bulk
from monitor.store.connection import Connection, first_line


@contextmanager
def _reading(what: str) -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        raise StoreError(f"cannot read {what}: {first_line(exc)}") from exc


# --------------------------------------------------------------------------- core.digests


class RecordedDigest(NamedTuple):
    """A row of `core.digests`, as far as the next digest needs it."""

    digest_id: str
    generated_at: datetime


def latest(con: Connection) -> RecordedDigest | None:
    """The digest recorded last (latest `generated_at`), or None before the first."""
    with _reading("the previous digest"):
        rows = con.execute(
            "SELECT digest_id, generated_at FROM core.digests "
            "ORDER BY generated_at DESC, digest_id DESC LIMIT 1"
        ).fetchall()
    return RecordedDigest(*rows[0]) if rows else None


def record(
    con: Connection,
    *,
    digest_id: str,
    generated_at: datetime,
    since: datetime | None,
    fmt: str,
    path: str | None,
    stories: int,
    articles: int,
) -> None:
    """Record a digest written; writing it again in another format adds that format."""
    con.execute(
        "INSERT INTO core.digests "
        "(digest_id, generated_at, since, format, path, stories, articles) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (digest_id) DO UPDATE SET "
        "format = core.digests.format || ',' || excluded.format, "
        "path = coalesce(excluded.path, core.digests.path)",
        [digest_id, generated_at, since, fmt, path, stories, articles],
    ).fetchall()


# --------------------------------------------------------------------------- the window

_WINDOW_SQL = """
WITH a AS (
    SELECT article_id, url, outlet, source, title, published_at, date_source, first_seen_at,
           duplicate_of, coalesce(story_id, 'article:' || article_id) AS story_key,
           relevant, relevance_score, stance, topics, decided_by = 'analyst' AS labelled
    FROM articles
    WHERE first_seen_at <= $now
), picked AS (
    SELECT story_key FROM a GROUP BY story_key
    HAVING ($since::TIMESTAMP IS NULL OR max(first_seen_at) > $since::TIMESTAMP)
       AND ($include_all OR coalesce(bool_or(relevant), false))
), chosen AS (
    SELECT a.*, row_number() OVER (
               PARTITION BY story_key
               ORDER BY coalesce(published_at, first_seen_at), date_source = 'story',
                        first_seen_at, article_id
           ) AS pos
    FROM a JOIN picked USING (story_key)
)
SELECT c.article_id, c.url, c.outlet, c.source, c.title, c.published_at, c.date_source,
       c.first_seen_at, c.duplicate_of, c.story_key, c.relevant, c.relevance_score, c.stance,
       c.topics, c.pos,
       -- Text only where it is shown: the origin's lead, a title for untitled reports.
       CASE WHEN c.pos = 1 OR c.title IS NULL OR c.title = '' THEN left(t.text, 600) END,
       coalesce(c.labelled, false)
FROM chosen c JOIN core.articles t USING (article_id)
"""


class WindowArticle(NamedTuple):
    """One article of a story in the window, as stored (the `articles` view)."""

    article_id: str
    url: str
    outlet: str | None
    source: str
    title: str | None
    published_at: datetime | None
    date_source: str
    first_seen_at: datetime
    duplicate_of: str | None
    story_key: str  # the story_id, or 'article:<id>' for an article without a story
    relevant: bool | None
    relevance_score: float | None
    stance: str | None
    topics: list[str] | None
    pos: int  # 1 = the origin: earliest published (first seen when undated)
    text: str | None  # its first 600 characters, for the origin and untitled reports only
    labelled: bool  # an analyst's label decided relevant / stance (the articles view)


def window(
    con: Connection, *, now: datetime, since: datetime | None, include_all: bool
) -> list[WindowArticle]:
    """Every article first seen up to `now` of each story with one first seen after `since`
    (None: from the start) that has a relevant article (any, with `include_all`)."""
    params = {"now": now, "since": since, "include_all": include_all}
    with _reading("digest data"):
        return [WindowArticle(*r) for r in con.execute(_WINDOW_SQL, params).fetchall()]


# Per story, aggregated in SQL (thousands of stories): `ids` maps each article of the window to
# its story and its position there (1 = origin), so the origin's spelling and sentence win.
_IDS_CTE = "WITH ids AS (SELECT article_id, story_key, pos FROM {rows})"
_ACTORS_SQL = f"""{_IDS_CTE}, agg AS (
    SELECT i.story_key, lower(e.name) AS k, arg_min(e.name, i.pos) AS name,
           arg_min(e.kind, i.pos) AS kind, sum(e.mentions)::BIGINT AS mentions,
           count(DISTINCT e.article_id) AS articles
    FROM entities e JOIN ids i USING (article_id)
    WHERE e.kind IN (SELECT kind FROM {{kinds}})
    GROUP BY i.story_key, lower(e.name)
)
SELECT story_key, name, kind, mentions, articles FROM agg
QUALIFY row_number() OVER (PARTITION BY story_key ORDER BY articles DESC, mentions DESC, k)
        <= $limit
ORDER BY story_key, articles DESC, mentions DESC, k
"""
_FIGURES_SQL = f"""{_IDS_CTE}, agg AS (
    SELECT i.story_key, f.value, f.what, count(DISTINCT f.article_id) AS articles,
           arg_min(f.sentence, i.pos) AS sentence
    FROM figures f JOIN ids i USING (article_id)
    GROUP BY i.story_key, f.value, f.what
)
SELECT story_key, value, what, sentence, articles FROM agg
QUALIFY row_number() OVER (PARTITION BY story_key ORDER BY articles DESC, what, value)
        <= $limit
ORDER BY story_key, articles DESC, what, value
"""
_QUOTES_SQL = f"""{_IDS_CTE}
SELECT q.article_id, q.speaker, q.quote FROM quotes q JOIN ids i USING (article_id)
"""
_TITLES_SQL = "SELECT story_id, title FROM stories WHERE story_id IN (SELECT story_key FROM {rows})"


class StoryActor(NamedTuple):
    """An entity summed over a story's articles."""

    story_key: str
    name: str
    kind: str
    mentions: int
    articles: int


class StoryFigure(NamedTuple):
    """A (value, what) pair of a story, with the origin-most sentence and its report count."""

    story_key: str
    value: float
    what: str
    sentence: str
    articles: int


class ArticleQuote(NamedTuple):
    """A quotation of one article."""

    article_id: str
    speaker: str | None
    quote: str


@dataclass(frozen=True)
class StoryDetails:
    """What a digest shows of each story beyond its articles."""

    actors: list[StoryActor]  # per story, best first, at most max_actors
    figures: list[StoryFigure]  # per story, best first, at most max_figures
    quotes: list[ArticleQuote]  # every quote of the window's articles
    titles: dict[str, str]  # story_key -> the stories view's title (stories that have one)


def story_details(
    con: Connection,
    articles: Sequence[WindowArticle],
    *,
    actor_kinds: Sequence[str],
    max_actors: int,
    max_figures: int,
) -> StoryDetails:
    """Key actors (entities of `actor_kinds`, by reports naming them, then mentions), figures
    (by reports giving them), quotes and titles of the stories of these window articles."""
    if not articles:
        return StoryDetails([], [], [], {})
    ids = {
        "article_id": [a.article_id for a in articles],
        "story_key": [a.story_key for a in articles],
        "pos": [a.pos for a in articles],
    }
    with _reading("digest data"), bulk.rows(con, ids) as table:
        with bulk.rows(con, {"kind": list(actor_kinds)}) as kinds:
            sql = _ACTORS_SQL.replace("{rows}", table).replace("{kinds}", kinds)
            actors = [StoryActor(*r) for r in con.execute(sql, {"limit": max_actors}).fetchall()]
        sql = _FIGURES_SQL.replace("{rows}", table)
        figures = [StoryFigure(*r) for r in con.execute(sql, {"limit": max_figures}).fetchall()]
        sql = _QUOTES_SQL.replace("{rows}", table)
        quotes = [ArticleQuote(*r) for r in con.execute(sql).fetchall()]
        titles = dict(con.execute(_TITLES_SQL.replace("{rows}", table)).fetchall())
    return StoryDetails(actors, figures, quotes, titles)


# --------------------------------------------------------------------------- core.deliveries


class Delivery(NamedTuple):
    """A delivery waiting to be (re-)sent: pending, or failed earlier."""

    delivery_id: str
    url_hash: str
    url_redacted: str
    status: str
    attempts: int
    last_error: str | None


class NewDelivery(NamedTuple):
    """A delivery about to be sent for the first time."""

    delivery_id: str
    url_hash: str
    url_redacted: str


def waiting_deliveries(con: Connection) -> list[Delivery]:
    """Pending and failed deliveries, oldest first."""
    with _reading("deliveries"):
        rows = con.execute(
            "SELECT delivery_id, url_hash, url_redacted, status, attempts, last_error "
            "FROM core.deliveries WHERE status IN ('pending', 'failed') "
            "ORDER BY created_at, delivery_id"
        ).fetchall()
    return [Delivery(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]


def add_deliveries(
    con: Connection,
    deliveries: Sequence[NewDelivery],
    *,
    digest_id: str | None,
    title: str,
    body: str,
    now: datetime,
) -> None:
    """Record deliveries of one digest text as pending, before anything is sent."""
    n = len(deliveries)
    bulk.insert(
        con,
        "core.deliveries",
        {
            "delivery_id": [d.delivery_id for d in deliveries],
            "digest_id": bulk.strings([digest_id] * n),
            "url_hash": [d.url_hash for d in deliveries],
            "url_redacted": [d.url_redacted for d in deliveries],
            "title": bulk.strings([title] * n),
            "body": bulk.strings([body] * n),
            "status": ["pending"] * n,
            "attempts": [0] * n,
            "created_at": [now] * n,
        },
    )


def delivery_message(con: Connection, delivery_id: str) -> tuple[str, str]:
    """The title ('' when none) and body stored with a delivery, to send it again."""
    with _reading("a delivery"):
        rows = con.execute(
            "SELECT coalesce(title, ''), body FROM core.deliveries WHERE delivery_id = ?",
            [delivery_id],
        ).fetchall()
    if not rows:
        raise StoreError(f"no delivery {delivery_id}")
    return rows[0][0], rows[0][1]


def finish_delivery(
    con: Connection,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    error: str | None,
    attempted: bool,
    now: datetime,
) -> None:
    """Record the outcome of a delivery; `attempted` when it was sent (not just abandoned)."""
    con.execute(
        "UPDATE core.deliveries SET status = ?, attempts = ?, last_error = ?, "
        "last_attempt_at = CASE WHEN ? THEN ? ELSE last_attempt_at END, "
        "delivered_at = CASE WHEN ? = 'sent' THEN ? ELSE delivered_at END "
        "WHERE delivery_id = ?",
        [status, attempts, error, attempted, now, status, now, delivery_id],
    ).fetchall()
