"""Schema migrations: ordered, named steps, each applied once in one transaction with its record.

Base tables live in schema `core`; the public views users query live in `main` (CONTRACT.md).
A migration is never edited once released: a change is a new step at the end. `MIGRATIONS` is
checked when this module is imported: names unique, in increasing order.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from monitor.errors import StoreError
from monitor.store import migration_0016
from monitor.store import migration_steps as steps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One schema step; applied once, in order, in one transaction with its record.

    `python`, when given, runs after the SQL in the same transaction: for a backfill that needs
    the library's own code (a URL key, a hash), never for schema changes.
    """

    name: str
    sql: str
    python: Callable[[duckdb.DuckDBPyConnection], None] | None = None


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
        "0007_url_keys_error_kinds_lead_signatures",
        r"""
        -- One URL key (monitor.urls.url_key) for "already stored?" and for same-URL copies;
        -- filled in for stored articles by migration_steps.backfill_url_keys.
        ALTER TABLE core.articles ADD COLUMN url_key VARCHAR;
        CREATE INDEX articles_url_key ON core.articles (url_key);

        -- Fetch failures by class (the error tree), the message without the class name.
        ALTER TABLE core.fetches ADD COLUMN error_kind VARCHAR;
        UPDATE core.fetches
        SET error_kind = regexp_extract(error, '^([A-Z][A-Za-z]+): ', 1),
            error = regexp_replace(error, '^[A-Z][A-Za-z]+: ', '')
        WHERE error IS NOT NULL AND regexp_matches(error, '^[A-Z][A-Za-z]+: ');

        ALTER TABLE core.sources ADD COLUMN last_error_kind VARCHAR;
        UPDATE core.sources
        SET last_error_kind = regexp_extract(last_error, '^([A-Z][A-Za-z]+): ', 1),
            last_error = regexp_replace(last_error, '^[A-Z][A-Za-z]+: ', '')
        WHERE last_error IS NOT NULL AND regexp_matches(last_error, '^[A-Z][A-Za-z]+: ');

        -- Signatures are computed where the text is extracted and stored with the article.
        ALTER TABLE core.minhash ADD COLUMN lead BLOB;

        CREATE OR REPLACE VIEW fetches AS
            SELECT url, source, fetched_at, status_code, outcome, error, bytes, elapsed_ms,
                   error_kind
            FROM core.fetches;
        """,
        python=steps.backfill_url_keys,
    ),
    Migration(
        "0008_seen_order",
        """
        -- The order articles were first seen in (a run's sources, each feed in its own order):
        -- among copies published at the same time, the first seen is the original.
        ALTER TABLE core.articles ADD COLUMN seen_order BIGINT;
        UPDATE core.articles a SET seen_order = o.n FROM (
            SELECT article_id, row_number() OVER (ORDER BY first_seen_at, article_id) AS n
            FROM core.articles
        ) o WHERE a.article_id = o.article_id;
        """,
    ),
    Migration(
        "0009_labels",
        r"""
        -- An analyst's label, one per article (a new label replaces the old one). It is kept
        -- apart from core.classifications, which holds the classifier's own call: reclassifying
        -- never touches a label, and the public views show the label over the call.
        CREATE TABLE core.labels (
            article_id VARCHAR PRIMARY KEY,
            relevant BOOLEAN NOT NULL,
            stance VARCHAR,               -- NULL: the classifier's stance stands
            note VARCHAR,
            labelled_at TIMESTAMP NOT NULL
        );

        CREATE OR REPLACE VIEW labels AS
            SELECT article_id, relevant, stance, note, labelled_at FROM core.labels;

        -- The label wins: `relevant` and `stance` are the analyst's where there is a label
        -- (an article labelled irrelevant is neutral and has no topics), and `decided_by` says
        -- whose call it is; the classifier's own call stays visible next to it.
        CREATE OR REPLACE VIEW articles AS
        SELECT a.article_id, a.url, a.canonical_url, a.source, a.outlet, a.title, a.author,
               a.published_at, a.date_source, a.language, a.text, a.word_count,
               a.content_hash, a.first_seen_at, a.duplicate_of, a.story_id,
               coalesce(l.relevant, c.relevant) AS relevant,
               c.relevance_score,
               CASE WHEN l.article_id IS NULL THEN c.stance
                    WHEN NOT l.relevant THEN 'neutral'
                    ELSE coalesce(l.stance, c.stance) END AS stance,
               CASE WHEN l.article_id IS NOT NULL AND NOT l.relevant THEN []::VARCHAR[]
                    ELSE c.topics END AS topics,
               CASE WHEN l.article_id IS NOT NULL THEN 'analyst'
                    WHEN c.article_id IS NOT NULL THEN 'classifier' END AS decided_by,
               c.relevant AS classifier_relevant,
               c.stance AS classifier_stance
        FROM core.articles a
        LEFT JOIN core.classifications c USING (article_id)
        LEFT JOIN core.labels l USING (article_id);
        """,
    ),
    Migration(
        "0010_storylines",
        r"""
        -- Threads of the issue across months and years: stories linked as they arrive
        -- (monitor/storylines.py), and what analysts decided about them.
        CREATE TABLE core.storylines (
            storyline_id VARCHAR PRIMARY KEY,
            title VARCHAR NOT NULL,           -- made from its event types and actors
            analyst_title VARCHAR,            -- `monitor storyline rename`
            merged_into VARCHAR,              -- `monitor storyline merge`: continues as that one
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        ALTER TABLE core.stories ADD COLUMN storyline_id VARCHAR;
        -- An analyst placed this story (merge, split, detach): re-threading leaves it alone.
        ALTER TABLE core.stories ADD COLUMN storyline_pinned BOOLEAN NOT NULL DEFAULT false;
        CREATE TABLE core.storyline_actions (
            action_id VARCHAR PRIMARY KEY,
            action VARCHAR NOT NULL,          -- rename | merge | split | detach
            storyline_id VARCHAR,
            other_id VARCHAR,
            story_ids VARCHAR[] NOT NULL,
            title VARCHAR,
            acted_at TIMESTAMP NOT NULL
        );

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
               s.representative_article_id, s.storyline_id,
               so.origin_article_id, so.origin_outlet, so.also_in
        FROM core.stories s
        JOIN agg USING (story_id)
        LEFT JOIN outlets o USING (story_id)
        LEFT JOIN story_outlets so USING (story_id)
        LEFT JOIN core.articles r ON r.article_id = s.representative_article_id;

        CREATE OR REPLACE VIEW storylines AS
        WITH members AS (
            SELECT s.storyline_id, s.story_id, a.outlet, a.published_at, a.first_seen_at
            FROM core.stories s JOIN core.articles a USING (story_id)
            WHERE s.storyline_id IS NOT NULL
        ), per_outlet AS (
            SELECT storyline_id, outlet, min(coalesce(published_at, first_seen_at)) AS first_at
            FROM members WHERE outlet IS NOT NULL GROUP BY storyline_id, outlet
        ), outlets AS (
            SELECT storyline_id, list(outlet ORDER BY first_at, outlet) AS outlets
            FROM per_outlet GROUP BY storyline_id
        ), agg AS (
            SELECT storyline_id, min(published_at) AS first_published_at,
                   max(published_at) AS last_published_at,
                   count(DISTINCT story_id) AS story_count, count(*) AS article_count
            FROM members GROUP BY storyline_id
        )
        SELECT l.storyline_id, coalesce(l.analyst_title, l.title) AS title,
               agg.first_published_at, agg.last_published_at, agg.story_count,
               agg.article_count, coalesce(o.outlets, []::VARCHAR[]) AS outlets
        FROM core.storylines l
        JOIN agg USING (storyline_id)
        LEFT JOIN outlets o USING (storyline_id)
        WHERE l.merged_into IS NULL;
        """,
    ),
    Migration(
        "0011_articles_outlet_source",
        """
        -- How the outlet was found: metadata (the page's site name), feed (what the source
        -- said of the link), url (the host name), credit (a credit line in the text), told
        -- ("... told RT"), mapping (seeds/outlets.toml), unknown. NULL: stored before this
        -- step, not recorded (seeds had no outlet then: 'unknown').
        ALTER TABLE core.articles ADD COLUMN outlet_source VARCHAR;
        UPDATE core.articles SET outlet_source = 'unknown' WHERE outlet IS NULL;
        """,
        python=steps.articles_view_with_outlet_source,
    ),
    Migration(
        "0012_sources_cutoff",
        """
        -- What the source's last discovery left unread because it hit a limit.
        ALTER TABLE core.sources ADD COLUMN last_cutoff VARCHAR;
        """,
    ),
    Migration(
        "0014_date_evidence",
        """
        -- Where exactly the date was found, finer than date_source (monitor/dates.py): meta,
        -- json-ld, microdata, time, url, feed, dateline, relative, page, page-text, copy.
        -- NULL: no date, or stored before this step (not recorded).
        ALTER TABLE core.articles ADD COLUMN date_evidence VARCHAR;
        -- Another report of the same story is no evidence of an article's date: the dates
        -- borrowed that way are taken back. A copy of one article (the same URL or the same
        -- text) takes its original's own date, as store.articles.fill_dates_of_copies does.
        UPDATE core.articles SET published_at = NULL, date_source = 'unknown'
        WHERE date_source = 'story';
        UPDATE core.articles a
        SET published_at = o.published_at, date_source = 'story', date_evidence = 'copy'
        FROM core.articles o
        WHERE a.duplicate_of = o.article_id AND a.duplicate_reason IN ('url', 'hash')
          AND a.published_at IS NULL
          AND o.published_at IS NOT NULL AND o.date_source <> 'story';
        """,
        python=steps.articles_view_with_date_evidence,
    ),
    Migration(
        "0015_read_marks",
        """
        -- The reader's read marks (monitor web), per story: read up to `read_at`.
        CREATE TABLE core.read_marks (story_id VARCHAR PRIMARY KEY, read_at TIMESTAMP NOT NULL);
        CREATE OR REPLACE VIEW read_marks AS SELECT story_id, read_at FROM core.read_marks;
        """,
    ),
    Migration("0016_alerts_titles_outlets", migration_0016.SQL, python=migration_0016.backfill),
    Migration("0017_titles_without_date_debris", "", python=steps.titles_without_date_debris),
]


def check_order(migrations: Sequence[Migration]) -> None:
    """Raise ValueError unless migration names are unique and strictly increasing."""
    names = [m.name for m in migrations]
    for before, after in itertools.pairwise(names):
        if after <= before:
            raise ValueError(f"migration {after!r} must come after {before!r} (unique, in order)")


check_order(MIGRATIONS)

_RECORD_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
)


def applied(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the migrations this database has applied (none for a new file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}


def pending(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """The migrations this database still lacks, in order."""
    done = applied(con)
    return [m for m in MIGRATIONS if m.name not in done]


def migrate(con: duckdb.DuckDBPyConnection, now: datetime) -> list[str]:
    """Apply every pending migration, each in one transaction with its record; return names."""
    con.execute(_RECORD_TABLE)
    names: list[str] = []
    for migration in pending(con):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            if migration.python is not None:
                migration.python(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [migration.name, now])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"migration {migration.name} failed: {exc}") from exc
        names.append(migration.name)
        log.info("applied migration %s", migration.name)
    return names
