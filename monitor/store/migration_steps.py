"""The Python parts of migration steps (monitor/store/migrations.py): backfills that need more than
SQL, and the steps that append a column to the `articles` view as it stands."""

from __future__ import annotations

import duckdb

from monitor.errors import StoreError


def backfill_url_keys(con: duckdb.DuckDBPyConnection) -> None:
    from monitor.store import bulk  # the migration list must not need bulk at import
    from monitor.urls import url_key

    rows = con.execute(
        "SELECT article_id, coalesce(canonical_url, url) FROM core.articles"
    ).fetchall()
    keys = {"article_id": [r[0] for r in rows], "url_key": [url_key(r[1]) for r in rows]}
    bulk.execute(
        con,
        "UPDATE core.articles a SET url_key = k.url_key FROM {rows} k "
        "WHERE a.article_id = k.article_id",
        keys,
    )
    bulk.execute(
        con,
        "UPDATE core.minhash m SET url_key = k.url_key FROM {rows} k "
        "WHERE m.article_id = k.article_id",
        keys,
    )


def articles_view_plus(con: duckdb.DuckDBPyConnection, column: str, step: str) -> None:
    """Add a column of core.articles to the end of the `articles` view as it stands.

    The view's current query is kept whole, as a subquery, rather than restated: so what
    earlier steps (developed alongside) may have put into it stays.
    """
    row = con.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = 'main' AND view_name = 'articles'"
    ).fetchone()
    if row is None:
        raise StoreError(f"migration {step}: the articles view is missing")
    sql = str(row[0]).strip().rstrip(";")
    head = "CREATE VIEW articles AS "
    if not sql.startswith(head):
        raise StoreError(f"migration {step}: unexpected articles view: {sql[:60]!r}")
    con.execute(
        f"CREATE OR REPLACE VIEW articles AS SELECT v.*, o.{column} "
        f"FROM ({sql[len(head) :]}) AS v "
        "LEFT JOIN core.articles AS o ON o.article_id = v.article_id"
    )


def articles_view_with_outlet_source(con: duckdb.DuckDBPyConnection) -> None:
    """Add `outlet_source` to the end of the `articles` view (step 0011)."""
    articles_view_plus(con, "outlet_source", "0011")


def articles_view_with_date_evidence(con: duckdb.DuckDBPyConnection) -> None:
    """Add `date_evidence` to the end of the `articles` view (step 0014)."""
    articles_view_plus(con, "date_evidence", "0014")


def titles_without_date_debris(con: duckdb.DuckDBPyConnection) -> None:
    """Migration 0017: stored titles are brought up to this version's monitor/titles.py: date
    debris at their head goes ("date 2020-01-06 ..."), and a title that was nothing else, a
    byline or a photo's caption gives way to the text's lead (past a wire dateline). Every story
    whose report changed title has its representative, and so its title, chosen again."""
    from monitor.store import bulk, stories
    from monitor.store.connection import utcnow
    from monitor.titles import clean_title, lead_title, strip_date_debris
    from monitor.urls import host_of

    changed: dict[str, list[str | None]] = {"article_id": [], "title": [], "title_source": []}
    touched: set[str] = set()
    rows = con.execute(
        "SELECT article_id, title, title_source, outlet, url, left(text, 2000), story_id "
        "FROM core.articles WHERE title IS NOT NULL"
    ).fetchall()
    for article_id, title, how, outlet, url, text, story_id in rows:
        names = [outlet, host_of(url)]
        cleaned = clean_title(title, names) if how != "lead" else strip_date_debris(title)
        if cleaned == title:
            continue
        if how == "lead":
            cleaned = None  # a lead is made again from the text
        changed["article_id"].append(article_id)
        changed["title"].append(cleaned or lead_title(text or "", names))
        changed["title_source"].append(how if cleaned else "lead")
        if story_id:
            touched.add(story_id)
    if changed["article_id"]:
        bulk.execute(
            con,
            "UPDATE core.articles a SET title = c.title, title_source = c.title_source "
            "FROM {rows} c WHERE a.article_id = c.article_id",
            {k: bulk.strings(v) for k, v in changed.items()},
        )
    if touched:
        stories.refresh(con, sorted(touched), utcnow())
