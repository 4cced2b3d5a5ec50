"""Stories: `core.stories`, their members' features (`core.story_features`), the inverted index
of distinctive terms (`core.story_terms`), document frequencies (`core.term_df`, appended per
batch and summed when read) and each story's dated span (`core.story_spans`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pyarrow as pa

from monitor.models import StoredArticle
from monitor.store import bulk
from monitor.store.articles import HEADLINE
from monitor.store.connection import Connection
from monitor.stories import (
    CRAWL_STAMP,
    MAX_CANDIDATE_STORIES,
    Batch,
    Candidates,
    Evidence,
    Member,
    Scored,
    StoredStory,
    TermStats,
    event_at,
)
from monitor.stories.clustering import MAX_GAP_DAYS
from monitor.stories.features import decode_counts, encode_counts
from monitor.titles import MIN_TITLE_WORDS

MIN_SHARED_TERMS = 2
ACTOR_KINDS = ("person", "organization", "group")

# An article's own date, as `stories.own_date` decides it, in SQL (the alias `a` is the article).
OWN_DATE_SQL = (
    "a.date_source NOT IN ('story', 'unknown') AND a.published_at IS NOT NULL AND NOT ("
    "a.date_source = 'feed' AND abs(epoch(a.first_seen_at) - epoch(a.published_at)) <= "
    f"{int(CRAWL_STAMP.total_seconds())})"
)


def term_stats(con: Connection, batch: Batch) -> TermStats:
    """Stored document frequencies of the batch's terms and of the canonical names it gives,
    and the document counts."""
    df = {
        term: int(n)
        for term, n in bulk.select(
            con,
            "SELECT term, sum(df) FROM core.term_df WHERE term IN (SELECT term FROM {rows}) "
            "GROUP BY term",
            {"term": list(batch.df)},
        )
    }
    row = con.execute("SELECT count(*) FROM core.story_features").fetchone()
    names, classified = name_stats(con, batch)
    return TermStats(df, int(row[0]) if row else 0, names, classified)


def name_stats(con: Connection, batch: Batch) -> tuple[dict[str, int], int]:
    """In how many classified articles each canonical name of the batch is given, and how many
    classified articles there are (the batch's own included: they are classified when stored)."""
    given = sorted({n for e in batch.evidence.values() for n in (*e.actors, *e.places)})
    names = {
        name: int(n)
        for name, n in bulk.select(
            con,
            "SELECT name, count(DISTINCT article_id) FROM core.entities "
            "WHERE name IN (SELECT name FROM {rows}) GROUP BY name",
            {"name": given},
        )
    }
    row = con.execute("SELECT count(*) FROM core.classifications").fetchone()
    return names, int(row[0]) if row else 0


def verdicts(con: Connection) -> tuple[dict[str, bool], dict[str, str]]:
    """Whether the classifier took each classified article for relevant, and its stance."""
    rows = con.execute("SELECT article_id, relevant, stance FROM core.classifications").fetchall()
    return {r[0]: bool(r[1]) for r in rows}, {r[0]: str(r[2]) for r in rows}


def processed(con: Connection) -> tuple[list[StoredArticle], dict[str, str | None]]:
    """Every processed article as the story step reads it, and what each is a copy of (for
    re-running story assignment over a stored set: monitor.evaluate.grouping)."""
    rows = con.execute(
        "SELECT a.article_id, a.url, a.canonical_url, a.source, a.outlet, "
        f"{HEADLINE}, a.text, a.published_at, a.date_source, a.content_hash, a.first_seen_at, "
        "a.url_key, a.duplicate_of FROM core.articles a "
        "WHERE a.processed_at IS NOT NULL ORDER BY a.article_id"
    ).fetchall()
    articles = [StoredArticle(*r[:12]) for r in rows]
    return articles, {r[0]: r[12] for r in rows}


def evidence(con: Connection, ids: Sequence[str]) -> dict[str, Evidence]:
    """What the classifier found in each of these articles: canonical actors and places with
    their mentions, figures, event types (articles not classified yet: none)."""
    if not ids:
        return {}
    actors: dict[str, dict[str, int]] = {}
    places: dict[str, dict[str, int]] = {}
    figures: dict[str, set[str]] = {}
    topics: dict[str, tuple[str, ...]] = {}
    with bulk.rows(con, {"article_id": sorted(set(ids))}) as asked:
        for aid, name, kind, mentions in con.execute(
            "SELECT article_id, name, kind, mentions FROM core.entities "
            f"WHERE article_id IN (SELECT article_id FROM {asked})"
        ).fetchall():
            target = places if kind == "place" else actors if kind in ACTOR_KINDS else None
            if target is not None:
                target.setdefault(aid, {})[name] = int(mentions or 1)
        for aid, value, what in con.execute(
            "SELECT article_id, value, what FROM core.figures "
            f"WHERE article_id IN (SELECT article_id FROM {asked})"
        ).fetchall():
            figures.setdefault(aid, set()).add(f"{what}={float(value):g}")
        for aid, found in con.execute(
            "SELECT article_id, topics FROM core.classifications "
            f"WHERE article_id IN (SELECT article_id FROM {asked})"
        ).fetchall():
            topics[aid] = tuple(found or ())  # best first
    return {
        aid: Evidence(
            actors.get(aid, {}),
            places.get(aid, {}),
            frozenset(figures.get(aid, ())),
            frozenset(topics.get(aid, ())),
            next(iter(topics.get(aid, ())), None),
        )
        for aid in ids
    }


def candidates(con: Connection, scored: Scored) -> Candidates:
    """Stored stories sharing distinctive terms with a batch article inside its time window."""
    originals = scored.batch.originals
    adopted = {
        origin: story_id
        for origin, story_id in bulk.select(
            con,
            "SELECT duplicate_of, any_value(story_id) FROM core.articles "
            "WHERE duplicate_of IN (SELECT article_id FROM {rows}) AND story_id IS NOT NULL "
            "GROUP BY duplicate_of",
            {"article_id": [a.article_id for a in originals]},
        )
    }
    queries = [
        (a.article_id, term, event_at(a))
        for a in originals
        for term in (*scored.queries[a.article_id], *scored.links.get(a.article_id, ()))
    ]
    if not queries:
        return Candidates(adopted=adopted)
    rows = bulk.select(
        con,
        f"""
        WITH hits AS (
            SELECT q.qid, f.story_id, count(DISTINCT q.term) AS shared, any_value(q.at) AS at
            FROM {{rows}} q
            JOIN core.story_terms t ON t.term = q.term
            JOIN core.story_features f ON f.article_id = t.article_id
            GROUP BY q.qid, f.story_id
            HAVING count(DISTINCT q.term) >= {MIN_SHARED_TERMS}
        ), windowed AS (
            SELECT h.qid, h.story_id, h.shared,
                   row_number() OVER (PARTITION BY h.qid ORDER BY h.shared DESC, h.story_id) AS rk
            FROM hits h LEFT JOIN core.story_spans s USING (story_id)
            WHERE h.at IS NULL OR s.first_at IS NULL
               OR h.at BETWEEN s.first_at - INTERVAL {MAX_GAP_DAYS} DAY
                           AND s.last_at + INTERVAL {MAX_GAP_DAYS} DAY
        )
        SELECT qid, story_id FROM windowed WHERE rk <= {MAX_CANDIDATE_STORIES}
        """,
        {
            "qid": [q[0] for q in queries],
            "term": [q[1] for q in queries],
            "at": pa.array([q[2] for q in queries], type=pa.timestamp("us")),
        },
    )
    of: dict[str, list[str]] = {}
    for qid, story_id in rows:
        of.setdefault(qid, []).append(story_id)
    stories: dict[str, StoredStory] = {}
    members = bulk.select(
        con,
        "SELECT f.story_id, f.article_id, f.event_at, f.vector, f.cues, s.first_at, s.last_at "
        "FROM core.story_features f LEFT JOIN core.story_spans s USING (story_id) "
        "WHERE f.story_id IN (SELECT story_id FROM {rows}) ORDER BY f.story_id, f.article_id",
        {"story_id": sorted({sid for _, sid in rows})},
    )
    found = evidence(con, [r[1] for r in members])
    for story_id, article_id, at, vector, cues, first_at, last_at in members:
        story = stories.get(story_id)
        if story is None:
            story = stories[story_id] = StoredStory(story_id, first_at=first_at, last_at=last_at)
        story.members.append(
            Member(article_id, decode_counts(vector), list(cues), at, found[article_id])
        )
    return Candidates(stories, of, adopted)


def stories_of(con: Connection, ids: Sequence[str]) -> dict[str, str]:
    """The stored story of each of these articles (those that have one)."""
    return {
        article_id: story_id
        for article_id, story_id in bulk.select(
            con,
            "SELECT article_id, story_id FROM core.articles "
            "WHERE article_id IN (SELECT article_id FROM {rows}) AND story_id IS NOT NULL",
            {"article_id": sorted(set(ids))},
        )
    }


def save(
    con: Connection,
    scored: Scored,
    new_stories: Sequence[tuple[str, str]],
    story_of: Mapping[str, str],
    now: datetime,
) -> None:
    """New story rows, and the originals' features, index terms and document frequencies."""
    bulk.insert(
        con,
        "core.stories",
        {
            "story_id": [s for s, _ in new_stories],
            "representative_article_id": [a for _, a in new_stories],
            "created_at": [now] * len(new_stories),
            "updated_at": [now] * len(new_stories),
        },
        on_conflict="ON CONFLICT DO NOTHING",
    )
    batch = scored.batch
    saved = [a for a in batch.originals if a.article_id in story_of]
    ids = {"article_id": [a.article_id for a in saved]}
    with bulk.rows(con, ids) as redone:  # articles processed again: replace their rows
        for table in ("story_features", "story_terms"):
            con.execute(
                f"DELETE FROM core.{table} WHERE article_id IN (SELECT article_id FROM {redone})"
            )
    bulk.insert(
        con,
        "core.story_features",
        {
            "article_id": [a.article_id for a in saved],
            "story_id": [story_of[a.article_id] for a in saved],
            "event_at": pa.array([event_at(a) for a in saved], type=pa.timestamp("us")),
            "vector": [encode_counts(batch.counts[a.article_id]) for a in saved],
            "cues": pa.array([batch.cues[a.article_id] for a in saved], type=pa.list_(pa.string())),
        },
    )
    terms = [
        (t, a.article_id)
        for a in saved
        for t in (*scored.index_terms[a.article_id], *scored.links.get(a.article_id, ()))
    ]
    bulk.insert(
        con,
        "core.story_terms",
        {"term": [t for t, _ in terms], "article_id": [a for _, a in terms]},
    )
    # Append-only: one row per term and batch, summed when read (no index to maintain).
    bulk.insert(con, "core.term_df", {"term": list(batch.df), "df": list(batch.df.values())})


def refresh(con: Connection, story_ids: Sequence[str], now: datetime) -> None:
    """Recompute the dated span and the representative of these stories: the earliest original
    with an informative headline of its own (monitor/titles.py: not a title made from the lead,
    at least MIN_TITLE_WORDS words), else the earliest original; its title is the story's."""
    with bulk.rows(con, {"story_id": sorted(set(story_ids))}) as touched:
        # Deleted first: a story left with no own date (its dated report moved) has no span.
        con.execute(
            f"DELETE FROM core.story_spans WHERE story_id IN (SELECT story_id FROM {touched})"
        )
        con.execute(
            f"""
            INSERT INTO core.story_spans
            SELECT story_id, min(published_at), max(published_at) FROM core.articles a
            WHERE story_id IN (SELECT story_id FROM {touched}) AND {OWN_DATE_SQL}
            GROUP BY story_id
            """
        )
        con.execute(
            f"""
            UPDATE core.stories s SET representative_article_id = r.article_id, updated_at = $1
            FROM (
                SELECT story_id, arg_min(article_id, (
                    title IS NULL, coalesce(title_source = 'lead', false),
                    coalesce(length(trim(title)) - length(replace(trim(title), ' ', '')) + 1
                        < {MIN_TITLE_WORDS}, true),
                    duplicate_of IS NOT NULL, published_at IS NULL,
                    coalesce(published_at, first_seen_at), article_id)) AS article_id
                FROM core.articles WHERE story_id IN (SELECT story_id FROM {touched})
                GROUP BY story_id
            ) r
            WHERE s.story_id = r.story_id
            """,
            [now],
        )


def place(con: Connection, story_of: Mapping[str, str], now: datetime) -> None:
    """Put articles into the given stories (created when new), leaving no story empty.

    Used when stories are merged or split after the fact; the features of the moved articles
    move with them, so later reports are compared with the stories as they now stand.
    """
    if not story_of:
        return
    moves = {"article_id": list(story_of), "story_id": list(story_of.values())}
    with bulk.rows(con, moves) as moved:
        before = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT a.story_id FROM core.articles a JOIN {moved} m "
                "USING (article_id) WHERE a.story_id IS NOT NULL"
            ).fetchall()
        ]
        con.execute(
            "INSERT INTO core.stories (story_id, representative_article_id, created_at, "
            f"updated_at) SELECT story_id, min(article_id), $1, $1 FROM {moved} "
            "GROUP BY story_id ON CONFLICT DO NOTHING",
            [now],
        ).fetchall()
        for table in ("articles", "story_features"):
            con.execute(
                f"UPDATE core.{table} t SET story_id = m.story_id FROM {moved} m "
                "WHERE t.article_id = m.article_id"
            ).fetchall()
    refresh(con, sorted(set(before) | set(story_of.values())), now)
    con.execute(
        "DELETE FROM core.story_spans WHERE story_id NOT IN "
        "(SELECT story_id FROM core.articles WHERE story_id IS NOT NULL)"
    ).fetchall()
    con.execute(
        "DELETE FROM core.stories WHERE story_id NOT IN "
        "(SELECT story_id FROM core.articles WHERE story_id IS NOT NULL)"
    ).fetchall()


def merge(con: Connection, merged: Mapping[str, str], now: datetime) -> None:
    """Fold stories into others (folded story id -> the story it joins): reports, features."""
    if not merged:
        return
    folds = {"folded": list(merged), "keep": list(merged.values())}
    with bulk.rows(con, folds) as table:
        for target in ("articles", "story_features"):
            con.execute(
                f"UPDATE core.{target} t SET story_id = m.keep FROM {table} m "
                "WHERE t.story_id = m.folded"
            ).fetchall()
        for target in ("stories", "story_spans"):
            con.execute(
                f"DELETE FROM core.{target} WHERE story_id IN (SELECT folded FROM {table})"
            ).fetchall()
    refresh(con, sorted(set(merged.values())), now)
