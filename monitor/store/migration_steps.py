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
