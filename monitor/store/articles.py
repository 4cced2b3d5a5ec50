"""Articles and what is decided about them: `core.articles`, `core.raw_pages`,
`core.classifications` with `core.entities`, `core.quotes` and `core.figures`.

An article is inserted once (keyed by the URL it was found at; inserting again is a no-op) with
its signature row, raw page and classification when it brings them, and is then marked
processed by `write_decisions` (duplicate_of, story) in the same transaction as its
deduplication and story assignment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.dedup import Repoint, final_origin
from monitor.models import Article, Classification, DedupDecision, StoredArticle, TextSignature
from monitor.store import bulk, signatures
from monitor.store.connection import Connection
from monitor.titles import lead_title
from monitor.urls import url_key

#: An article's own headline (`a` is core.articles): a title made from its lead is for people,
#: not for the classifier or story clustering, which read the lead in the text anyway.
HEADLINE = "CASE WHEN a.title_source = 'lead' THEN NULL ELSE a.title END"


@dataclass(frozen=True)
class Inserted:
    """What inserting a batch of articles did."""

    new_ids: tuple[str, ...]
    already_stored: int


def insert(con: Connection, run_id: str, articles: Sequence[Article], now: datetime) -> Inserted:
    """Insert the articles not stored before, with their raw page, signature and classification.

    Every article must have been prepared (`prepare.prepare_articles`): its content hash,
    signature and compressed page are stored, not computed here.
    """
    unique: dict[str, Article] = {}
    for article in articles:
        if article.content_hash is None:
            raise ValueError(f"article {article.url} was not prepared (no content hash)")
        unique.setdefault(article.article_id, article)
    stored = {
        row[0]
        for row in bulk.select(
            con,
            "SELECT article_id FROM core.articles WHERE article_id IN "
            "(SELECT article_id FROM {rows})",
            {"article_id": list(unique)},
        )
    }
    fresh = [a for a in unique.values() if a.article_id not in stored]
    keys = [url_key(a.canonical_url or a.url) for a in fresh]
    row = con.execute("SELECT coalesce(max(seen_order), 0) FROM core.articles").fetchall()
    first = int(row[0][0]) + 1
    bulk.insert(
        con,
        "core.articles",
        {
            "article_id": [a.article_id for a in fresh],
            "url": [a.url for a in fresh],
            "canonical_url": [a.canonical_url or a.url for a in fresh],
            "url_key": keys,
            "source": [a.source for a in fresh],
            "outlet": [a.outlet for a in fresh],
            "outlet_source": [a.outlet_source for a in fresh],
            # Every article has a title: its own headline, else one made from its lead.
            "title": [a.title or lead_title(a.text, [a.outlet]) for a in fresh],
            "title_source": bulk.strings([a.title_source if a.title else "lead" for a in fresh]),
            "author": [a.author for a in fresh],
            "published_at": [a.published_at for a in fresh],
            "date_source": [a.date_source for a in fresh],
            "date_evidence": [a.date_evidence for a in fresh],
            "language": [a.language for a in fresh],
            "text": [a.text for a in fresh],
            "word_count": [a.word_count for a in fresh],
            "content_hash": [a.content_hash for a in fresh],
            "first_seen_at": [now] * len(fresh),
            "seen_order": list(range(first, first + len(fresh))),
            "run_id": [run_id] * len(fresh),
        },
    )
    pages = [a for a in fresh if a.html_zlib is not None]
    bulk.insert(
        con,
        "core.raw_pages",
        {
            "article_id": [a.article_id for a in pages],
            "url": [a.url for a in pages],
            "html_zlib": [a.html_zlib for a in pages],
            "fetched_at": [now] * len(pages),
        },
        on_conflict="ON CONFLICT DO NOTHING",
    )
    signed = [(a, k) for a, k in zip(fresh, keys, strict=True) if a.signature is not None]
    sigs: list[TextSignature] = [a.signature for a, _ in signed if a.signature is not None]
    signatures.insert_signatures(
        con, [a.article_id for a, _ in signed], [k for _, k in signed], sigs
    )
    write_classifications(con, [a.classification for a in fresh if a.classification], now)
    return Inserted(tuple(a.article_id for a in fresh), len(unique) - len(fresh))


def known_urls(con: Connection, urls: Sequence[str]) -> set[str]:
    """Those of `urls` stored already: as an article's URL, canonical URL or URL key."""
    if not urls:
        return set()
    rows = bulk.select(
        con,
        "SELECT q.u FROM {rows} q WHERE q.u IN (SELECT url FROM core.articles) "
        "OR q.u IN (SELECT canonical_url FROM core.articles) "
        "OR q.k IN (SELECT url_key FROM core.articles WHERE url_key IS NOT NULL)",
        {"u": list(urls), "k": [url_key(u) for u in urls]},
    )
    return {r[0] for r in rows}


def pending_count(con: Connection) -> int:
    """How many articles wait for deduplication, stories and classification."""
    row = con.execute("SELECT count(*) FROM core.articles WHERE processed_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def pending(con: Connection, limit: int) -> list[StoredArticle]:
    """Unprocessed articles, oldest first, with their stored signatures."""
    rows = con.execute(
        f"SELECT a.article_id, a.url, a.canonical_url, a.source, a.outlet, {HEADLINE}, a.text, "
        "a.published_at, a.date_source, a.content_hash, a.first_seen_at, a.url_key, "
        "m.signature, m.lead, m.shingle_count FROM core.articles a "
        "LEFT JOIN core.minhash m USING (article_id) WHERE a.processed_at IS NULL "
        "ORDER BY coalesce(a.published_at, a.first_seen_at), a.first_seen_at, a.seen_order, "
        "a.article_id LIMIT ?",
        [limit],
    ).fetchall()
    out = []
    for r in rows:
        full, lead, count = r[12], r[13], r[14]
        sig = TextSignature(full, lead, int(count)) if full and lead else None
        out.append(
            StoredArticle(
                article_id=r[0],
                url=r[1],
                canonical_url=r[2],
                source=r[3],
                outlet=r[4],
                title=r[5],
                text=r[6],
                published_at=r[7],
                date_source=r[8],
                content_hash=r[9],
                first_seen_at=r[10],
                url_key=r[11],
                signature=sig,
            )
        )
    return out


def classified(con: Connection, ids: Sequence[str], version: str) -> dict[str, bool]:
    """Which of these articles have a classification of this version: id -> relevant."""
    rows = bulk.select(
        con,
        "SELECT article_id, relevant FROM core.classifications WHERE version = $1 "
        "AND article_id IN (SELECT article_id FROM {rows})",
        {"article_id": list(ids)},
        [version],
    )
    return {article_id: bool(relevant) for article_id, relevant in rows}


def write_classifications(
    con: Connection, results: Sequence[Classification], now: datetime
) -> None:
    """Replace the stored classification, entities, quotes and figures of these articles."""
    if not results:
        return
    ids = {"article_id": [c.article_id for c in results]}
    with bulk.rows(con, ids) as replaced:
        for table in ("classifications", "entities", "quotes", "figures"):
            con.execute(
                f"DELETE FROM core.{table} WHERE article_id IN (SELECT article_id FROM {replaced})"
            )
    bulk.insert(
        con,
        "core.classifications",
        {
            "article_id": [c.article_id for c in results],
            "relevant": [c.relevant for c in results],
            "relevance_score": [c.relevance_score for c in results],
            "stance": [c.stance for c in results],
            "stance_score": [c.stance_score for c in results],
            "topics": [list(c.topics) for c in results],
            "evidence": [json.dumps(c.evidence, default=str) for c in results],
            "version": [c.version for c in results],
            "classified_at": [now] * len(results),
        },
    )
    entities = [(c.article_id, e) for c in results for e in c.entities]
    bulk.insert(
        con,
        "core.entities",
        {
            "article_id": [i for i, _ in entities],
            "name": [e.name for _, e in entities],
            "kind": [e.kind for _, e in entities],
            "mentions": [e.mentions for _, e in entities],
        },
    )
    quotes = [(c.article_id, q) for c in results for q in c.quotes]
    bulk.insert(
        con,
        "core.quotes",
        {
            "article_id": [i for i, _ in quotes],
            "speaker": [q.speaker for _, q in quotes],
            "quote": [q.quote for _, q in quotes],
        },
    )
    figures = [(c.article_id, f) for c in results for f in c.figures]
    bulk.insert(
        con,
        "core.figures",
        {
            "article_id": [i for i, _ in figures],
            "value": [f.value for _, f in figures],
            "what": [f.what for _, f in figures],
            "sentence": [f.sentence for _, f in figures],
        },
    )


def repoint(con: Connection, repoints: Sequence[Repoint]) -> None:
    """Stored originals that copy an earlier-published article: they and their copies move."""
    for moved in repoints:
        root = final_origin(moved.new_origin, repoints)
        con.execute(
            "UPDATE core.articles SET duplicate_of = ? WHERE duplicate_of = ? AND article_id <> ?",
            [root, moved.old_origin, root],
        )
        con.execute(
            "UPDATE core.articles SET duplicate_of = ?, duplicate_reason = ?, similarity = ? "
            "WHERE article_id = ?",
            [root, moved.reason, moved.similarity, moved.old_origin],
        )


def write_decisions(
    con: Connection,
    decisions: Sequence[DedupDecision],
    story_of: Mapping[str, str],
    now: datetime,
) -> None:
    """Record each article's dedup decision and story, and mark it processed."""
    bulk.execute(
        con,
        "UPDATE core.articles a SET duplicate_of = d.duplicate_of, "
        "duplicate_reason = d.reason, similarity = d.similarity, story_id = d.story_id, "
        "processed_at = $1 FROM {rows} d WHERE a.article_id = d.article_id",
        {
            "article_id": [d.article_id for d in decisions],
            "duplicate_of": bulk.strings([d.duplicate_of for d in decisions]),
            "reason": bulk.strings([d.reason for d in decisions]),
            "similarity": bulk.floats([d.similarity for d in decisions]),
            "story_id": bulk.strings([story_of.get(d.article_id) for d in decisions]),
        },
        [now],
    )


def fill_dates_of_copies(con: Connection) -> None:
    """A copy of one article (the same URL or the same text) with no date of its own takes its
    original's own date (`story` / `copy`); no other article lends its date.

    Another report of the same story is no evidence: stories join reports published days apart,
    and an undated page that shares only a background paragraph with a story would take a day
    that is not its own. A near-copy (`near`) is left alone too: it may be a later edit or a
    cut-down reprint. A borrowed date whose original no longer holds is taken back.
    """
    con.execute(
        """
        UPDATE core.articles a SET published_at = NULL, date_source = 'unknown',
               date_evidence = NULL
        WHERE a.date_source = 'story' AND NOT EXISTS (
            SELECT 1 FROM core.articles o
            WHERE o.article_id = a.duplicate_of AND a.duplicate_reason IN ('url', 'hash')
              AND o.published_at IS NOT NULL AND o.date_source <> 'story'
        )
        """
    )
    con.execute(
        """
        UPDATE core.articles a SET published_at = o.published_at, date_source = 'story',
               date_evidence = 'copy'
        FROM core.articles o
        WHERE a.duplicate_of = o.article_id AND a.duplicate_reason IN ('url', 'hash')
          AND o.published_at IS NOT NULL AND o.date_source <> 'story'
          AND (a.published_at IS NULL OR a.date_source = 'story')
          AND a.published_at IS DISTINCT FROM o.published_at
        """
    )


def count_to_reclassify(con: Connection, outdated_than: str | None) -> int:
    """How many processed articles `texts_to_reclassify` will hand out in all."""
    outdated = "AND (c.version IS NULL OR c.version <> $1) " if outdated_than else ""
    row = con.execute(
        "SELECT count(*) FROM core.articles a LEFT JOIN core.classifications c USING (article_id) "
        f"WHERE a.processed_at IS NOT NULL {outdated}",
        [outdated_than] if outdated_than else [],
    ).fetchone()
    return int(row[0]) if row else 0


def texts_to_reclassify(
    con: Connection, after: str, limit: int, outdated_than: str | None
) -> list[tuple[str, str | None, str]]:
    """(article_id, title, text) of processed articles after `after` in id order; with
    `outdated_than`, only those not classified by that classifier version."""
    outdated = "AND (c.version IS NULL OR c.version <> $3) " if outdated_than else ""
    params: list[object] = [after, limit] + ([outdated_than] if outdated_than else [])
    return con.execute(
        f"SELECT a.article_id, {HEADLINE}, a.text FROM core.articles a "
        "LEFT JOIN core.classifications c USING (article_id) "
        f"WHERE a.processed_at IS NOT NULL AND a.article_id > $1 {outdated}"
        "ORDER BY a.article_id LIMIT $2",
        params,
    ).fetchall()


def texts_of(con: Connection, ids: Sequence[str]) -> dict[str, tuple[str | None, str]]:
    """The stored title and text of each of these articles (those that are stored)."""
    if not ids:
        return {}
    rows = bulk.select(
        con,
        f"SELECT a.article_id, {HEADLINE}, a.text FROM core.articles a "
        "WHERE a.article_id IN (SELECT article_id FROM {rows})",
        {"article_id": list(ids)},
    )
    return {r[0]: (r[1], r[2]) for r in rows}


@dataclass(frozen=True)
class Decided:
    """An article with everything decided about it (for evaluation and export)."""

    url: str
    article_id: str
    title: str | None
    story_id: str | None
    duplicate_of: str | None
    duplicate_reason: str | None
    published_at: datetime | None
    date_source: str
    relevant: bool | None
    relevance_score: float | None
    stance: str | None
    topics: tuple[str, ...]
    version: str | None
    storyline_id: str | None = None
    date_evidence: str | None = None


def decided(con: Connection) -> list[Decided]:
    """Every stored article with its dedup decision, story, date and classification."""
    rows = con.execute(
        "SELECT a.url, a.article_id, a.title, a.story_id, a.duplicate_of, a.duplicate_reason, "
        "a.published_at, a.date_source, c.relevant, c.relevance_score, c.stance, c.topics, "
        "c.version, s.storyline_id, a.date_evidence FROM core.articles a "
        "LEFT JOIN core.classifications c USING (article_id) "
        "LEFT JOIN core.stories s ON s.story_id = a.story_id ORDER BY a.url"
    ).fetchall()
    return [
        Decided(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            tuple(r[11] or ()),
            r[12],
            r[13],
            r[14],
        )
        for r in rows
    ]
