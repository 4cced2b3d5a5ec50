"""DuckDB storage: ordered named migrations, public views, short transactional writes.

DuckDB lets one process write a file and refuses every other process meanwhile
("Could not set lock on file"). So no connection is held for long: each write opens,
runs one transaction, commits and closes; each read opens read-only and closes. Both
retry with backoff while another process holds the lock, so `monitor digest` and
`monitor sql` started during an ingest wait a moment and then succeed.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from monitor.errors import StoreError, StoreLocked

log = logging.getLogger(__name__)

Connection = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class Migration:
    """One schema step; applied once, in order, in one transaction with its record."""

    name: str
    sql: str


# Base tables live in schema `core`; users query the views in `main` (CONTRACT.md).
MIGRATIONS: list[Migration] = [
    Migration(
        "0001_initial",
        """
        CREATE SCHEMA IF NOT EXISTS core;
        CREATE TABLE core.runs (
            run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,
            articles_new INTEGER DEFAULT 0,
            duplicates INTEGER DEFAULT 0,
            errors INTEGER DEFAULT 0,
            not_modified INTEGER DEFAULT 0,
            skipped INTEGER DEFAULT 0,
            relevant INTEGER DEFAULT 0,
            failures JSON
        );
        CREATE TABLE core.articles (
            article_id VARCHAR PRIMARY KEY,
            url VARCHAR NOT NULL,
            canonical_url VARCHAR,
            source VARCHAR NOT NULL,
            outlet VARCHAR,
            title VARCHAR,
            author VARCHAR,
            published_at TIMESTAMP,
            date_source VARCHAR NOT NULL DEFAULT 'unknown',
            language VARCHAR,
            text VARCHAR NOT NULL,
            word_count INTEGER NOT NULL,
            content_hash VARCHAR NOT NULL,
            first_seen_at TIMESTAMP NOT NULL,
            run_id VARCHAR,
            duplicate_of VARCHAR,
            duplicate_reason VARCHAR,
            similarity DOUBLE,
            story_id VARCHAR,
            processed_at TIMESTAMP
        );
        CREATE INDEX articles_canonical ON core.articles (canonical_url);
        CREATE INDEX articles_hash ON core.articles (content_hash);
        CREATE TABLE core.raw_pages (
            article_id VARCHAR PRIMARY KEY,
            url VARCHAR NOT NULL,
            html_zlib BLOB NOT NULL,
            content_type VARCHAR,
            encoding VARCHAR,
            fetched_at TIMESTAMP
        );
        CREATE TABLE core.classifications (
            article_id VARCHAR PRIMARY KEY,
            relevant BOOLEAN NOT NULL,
            relevance_score DOUBLE NOT NULL,
            stance VARCHAR NOT NULL,
            stance_score DOUBLE NOT NULL,
            topics VARCHAR[] NOT NULL,
            evidence JSON,
            version VARCHAR NOT NULL,
            classified_at TIMESTAMP NOT NULL
        );
        CREATE TABLE core.entities (
            article_id VARCHAR NOT NULL, name VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            mentions INTEGER NOT NULL
        );
        CREATE TABLE core.quotes (
            article_id VARCHAR NOT NULL, speaker VARCHAR, quote VARCHAR NOT NULL
        );
        CREATE TABLE core.figures (
            article_id VARCHAR NOT NULL, value DOUBLE NOT NULL, what VARCHAR NOT NULL,
            sentence VARCHAR NOT NULL
        );
        CREATE TABLE core.stories (
            story_id VARCHAR PRIMARY KEY,
            representative_article_id VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE core.fetches (
            url VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            fetched_at TIMESTAMP NOT NULL,
            status_code INTEGER,
            outcome VARCHAR NOT NULL,
            error VARCHAR,
            bytes BIGINT DEFAULT 0,
            elapsed_ms INTEGER DEFAULT 0,
            run_id VARCHAR
        );
        CREATE TABLE core.http_cache (
            url VARCHAR PRIMARY KEY,
            etag VARCHAR,
            last_modified VARCHAR,
            body_hash VARCHAR,
            fetched_at TIMESTAMP
        );
        CREATE TABLE core.sources (
            name VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            last_fetch_at TIMESTAMP,
            last_success_at TIMESTAMP,
            last_error VARCHAR,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            next_due_at TIMESTAMP,
            last_status INTEGER
        );
        CREATE TABLE core.digests (
            digest_id VARCHAR PRIMARY KEY,
            generated_at TIMESTAMP NOT NULL,
            since TIMESTAMP,
            format VARCHAR NOT NULL,
            path VARCHAR,
            stories INTEGER NOT NULL,
            articles INTEGER NOT NULL
        );
        """,
    ),
    Migration(
        "0002_public_views",
        r"""
        CREATE OR REPLACE VIEW articles AS
        SELECT a.article_id, a.url, a.canonical_url, a.source, a.outlet, a.title, a.author,
               a.published_at, a.date_source, a.language, a.text, a.word_count,
               a.content_hash, a.first_seen_at, a.duplicate_of, a.story_id,
               c.relevant, c.relevance_score, c.stance, c.topics
        FROM core.articles a LEFT JOIN core.classifications c USING (article_id);

        CREATE OR REPLACE VIEW stories AS
        WITH per_outlet AS (
            SELECT story_id, outlet, min(coalesce(published_at, first_seen_at)) AS first_at
            FROM core.articles WHERE story_id IS NOT NULL AND outlet IS NOT NULL
            GROUP BY story_id, outlet
        ), outlets AS (
            SELECT story_id, list(outlet ORDER BY first_at, outlet) AS outlets
            FROM per_outlet GROUP BY story_id
        ), agg AS (
            SELECT story_id, min(published_at) AS first_published_at,
                   max(published_at) AS last_published_at, count(*) AS article_count
            FROM core.articles WHERE story_id IS NOT NULL GROUP BY story_id
        )
        SELECT s.story_id,
               coalesce(r.title, nullif(regexp_extract(r.text, '^(.{20,160}?[.!?])(\s|$)', 1), ''),
                        left(r.text, 120)) AS title,
               agg.first_published_at, agg.last_published_at,
               agg.article_count, coalesce(o.outlets, []::VARCHAR[]) AS outlets,
               s.representative_article_id
        FROM core.stories s
        JOIN agg USING (story_id)
        LEFT JOIN outlets o USING (story_id)
        LEFT JOIN core.articles r ON r.article_id = s.representative_article_id;

        CREATE OR REPLACE VIEW entities AS
            SELECT article_id, name, kind, mentions FROM core.entities;
        CREATE OR REPLACE VIEW quotes AS SELECT article_id, speaker, quote FROM core.quotes;
        CREATE OR REPLACE VIEW figures AS
            SELECT article_id, value, what, sentence FROM core.figures;
        CREATE OR REPLACE VIEW fetches AS
            SELECT url, source, fetched_at, status_code, outcome, error, bytes, elapsed_ms
            FROM core.fetches;
        CREATE OR REPLACE VIEW runs AS
            SELECT run_id, started_at, finished_at, status, articles_new, duplicates, errors
            FROM core.runs;
        """,
    ),
    Migration(
        "0006_digest_deliveries",
        """
        CREATE TABLE core.deliveries (
            delivery_id VARCHAR PRIMARY KEY,
            digest_id VARCHAR,
            url_hash VARCHAR NOT NULL,      -- sha256 of the Apprise URL; the URL is never stored
            url_redacted VARCHAR NOT NULL,  -- secrets masked, for display
            title VARCHAR,
            body VARCHAR NOT NULL,          -- kept so a failed delivery can be re-sent
            status VARCHAR NOT NULL,        -- pending | sent | failed | abandoned
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            last_attempt_at TIMESTAMP,
            delivered_at TIMESTAMP
        );
        """,
    ),
    Migration(
        "0003_dedup_stories",
        r"""
        CREATE TABLE core.minhash (
            article_id VARCHAR PRIMARY KEY,
            url_key VARCHAR NOT NULL,
            shingle_count INTEGER NOT NULL,
            signature BLOB NOT NULL
        );
        CREATE INDEX minhash_url_key ON core.minhash (url_key);
        CREATE TABLE core.lsh_bands (
            band SMALLINT NOT NULL,
            bucket BIGINT NOT NULL,
            article_id VARCHAR NOT NULL
        );
        CREATE TABLE core.story_features (
            article_id VARCHAR PRIMARY KEY,
            story_id VARCHAR NOT NULL,
            event_at TIMESTAMP,
            vector VARCHAR NOT NULL,
            cues VARCHAR[] NOT NULL
        );
        CREATE INDEX story_features_story ON core.story_features (story_id);
        CREATE TABLE core.story_terms (
            term VARCHAR NOT NULL,
            article_id VARCHAR NOT NULL
        );
        CREATE TABLE core.term_df (
            term VARCHAR NOT NULL,
            df INTEGER NOT NULL
        );
        CREATE TABLE core.story_spans (
            story_id VARCHAR PRIMARY KEY,
            first_at TIMESTAMP,
            last_at TIMESTAMP
        );

        -- Origin of each story: the earliest-published original; everyone else who ran it.
        CREATE OR REPLACE VIEW story_outlets AS
        WITH members AS (
            SELECT story_id, article_id, duplicate_of, first_seen_at,
                   CASE WHEN date_source = 'story' THEN NULL ELSE published_at END
                       AS published_at,
                   coalesce(outlet, nullif(regexp_extract(url, '^https?://(?:www\.)?([^/:]+)', 1),
                                           '')) AS outlet_name
            FROM core.articles WHERE story_id IS NOT NULL
        ), ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY story_id
                ORDER BY published_at IS NULL, published_at, duplicate_of IS NOT NULL,
                         first_seen_at, article_id) AS rk
            FROM members
        ), per_outlet AS (
            SELECT story_id, outlet_name, min(coalesce(published_at, first_seen_at)) AS first_at
            FROM members WHERE outlet_name IS NOT NULL GROUP BY story_id, outlet_name
        )
        SELECT r.story_id, r.article_id AS origin_article_id, r.outlet_name AS origin_outlet,
               r.published_at AS origin_published_at,
               coalesce((SELECT list(p.outlet_name ORDER BY p.first_at, p.outlet_name)
                         FROM per_outlet p
                         WHERE p.story_id = r.story_id
                           AND p.outlet_name IS DISTINCT FROM r.outlet_name),
                        []::VARCHAR[]) AS also_in
        FROM ranked r WHERE r.rk = 1;

        CREATE OR REPLACE VIEW stories AS
        WITH per_outlet AS (
            SELECT story_id, outlet, min(coalesce(published_at, first_seen_at)) AS first_at
            FROM core.articles WHERE story_id IS NOT NULL AND outlet IS NOT NULL
            GROUP BY story_id, outlet
        ), outlets AS (
            SELECT story_id, list(outlet ORDER BY first_at, outlet) AS outlets
            FROM per_outlet GROUP BY story_id
        ), agg AS (
            SELECT story_id, min(published_at) AS first_published_at,
                   max(published_at) AS last_published_at, count(*) AS article_count
            FROM core.articles WHERE story_id IS NOT NULL GROUP BY story_id
        )
        SELECT s.story_id,
               coalesce(r.title, nullif(regexp_extract(r.text, '^(.{20,160}?[.!?])(\s|$)', 1), ''),
                        left(r.text, 120)) AS title,
               agg.first_published_at, agg.last_published_at,
               agg.article_count, coalesce(o.outlets, []::VARCHAR[]) AS outlets,
               s.representative_article_id,
               so.origin_article_id, so.origin_outlet, so.also_in
        FROM core.stories s
        JOIN agg USING (story_id)
        LEFT JOIN outlets o USING (story_id)
        LEFT JOIN story_outlets so USING (story_id)
        LEFT JOIN core.articles r ON r.article_id = s.representative_article_id;
        """,
    ),
]

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")


def _is_lock_error(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def utcnow() -> datetime:
    """Naive UTC now, the form every TIMESTAMP column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


class Store:
    """A DuckDB file, opened briefly for each read or write."""

    def __init__(self, path: Path, *, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    def _connect(self, *, read_only: bool) -> Connection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise StoreError(f"cannot open database {self.path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"database {self.path} stayed locked by another process for "
                        f"{self.lock_timeout_s:.0f}s"
                    ) from exc
                log.debug("database %s is locked, retrying in %.2fs", self.path, delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)

    def initialize(self) -> list[str]:
        """Create the file if needed and apply pending migrations; return their names."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        applied: list[str] = []
        con = self._connect(read_only=False)
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
            )
            done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
            for migration in MIGRATIONS:
                if migration.name in done:
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(migration.sql)
                    con.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?)", [migration.name, utcnow()]
                    )
                    con.execute("COMMIT")
                except duckdb.Error as exc:
                    con.execute("ROLLBACK")
                    raise StoreError(f"migration {migration.name} failed: {exc}") from exc
                applied.append(migration.name)
                log.info("applied migration %s", migration.name)
        except duckdb.Error as exc:
            raise StoreError(f"cannot prepare database {self.path}: {exc}") from exc
        finally:
            con.close()
        return applied

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction on a briefly held read-write connection."""
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except duckdb.Error as exc:
            raise StoreError(f"write to {self.path} failed: {exc}") from exc
        finally:
            con.close()

    @contextmanager
    def read_write(self) -> Iterator[Connection]:
        """A briefly held read-write connection without a transaction (for the writer process).

        A process that writes uses this for its own reads: DuckDB refuses a read-only
        connection in a process that has the file open read-write.
        """
        con = self._connect(read_only=False)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A briefly held read-only connection; the database must exist."""
        if not self.path.exists():
            raise StoreError(f"no database at {self.path} yet: run `monitor run` first")
        con = self._connect(read_only=True)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read-only query and return all rows."""
        with self.read() as con:
            try:
                return con.execute(sql, params or []).fetchall()
            except duckdb.Error as exc:
                raise StoreError(str(exc).splitlines()[0]) from exc


def _table_columns(con: Connection, table: str) -> list[tuple[str, str]]:
    schema, _, name = table.rpartition(".")
    schema = schema or "main"
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    if not rows:
        raise StoreError(f"no table {table}")
    return [(r[0], r[1]) for r in rows]


def _stop_pandas_probes() -> None:
    """Record once that pandas is absent: DuckDB tries `import pandas` for every Python value it
    converts, and without pandas each try scans sys.path (~70% of a large insert's time)."""
    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        # `import pandas` now fails at once, as it would anyway.
        sys.modules["pandas"] = None  # type: ignore[assignment]


def insert_rows(
    con: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str = "",
) -> int:
    """Insert many rows in one columnar statement (no row-at-a-time executemany)."""
    if not rows:
        return 0
    _stop_pandas_probes()
    types = dict(_table_columns(con, table))
    selects = ", ".join(f"unnest(${i + 1}::{types[col]}[])" for i, col in enumerate(columns))
    data = [list(col) for col in zip(*rows, strict=True)]
    con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selects} {on_conflict}", data)
    return len(rows)
