"""Plain-Python composition of the stages: seeds/sources -> store -> dedup -> stories -> classify.

Each step writes in its own short transaction, so a run killed at any instant leaves a consistent
database, and the next run finishes what was left: articles are keyed by URL (re-inserting is a
no-op), and everything after storing works on the rows still marked unprocessed.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import json
import logging
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from monitor import classify as classify_mod
from monitor.bulkio import execute as bulk_execute
from monitor.bulkio import joined, split_sql
from monitor.collect import CollectResult, collect, save_fetch_state
from monitor.dedup import clear_primed, content_hash, find_duplicates
from monitor.errors import MonitorError, RunLocked, SeedError
from monitor.extract import RAW_ZLIB_LEVEL
from monitor.models import (
    Article,
    Classification,
    DedupDecision,
    FetchRecord,
    RunSummary,
    StoredArticle,
)
from monitor.seeds import find_seed_files, read_seed
from monitor.settings import Settings
from monitor.store import Connection, Store, insert_rows, utcnow
from monitor.stories import assign_stories

log = logging.getLogger(__name__)

PROCESS_BATCH = 1000
RECLASSIFY_BATCH = 1000
T = TypeVar("T")


@dataclass(frozen=True)
class StoreResult:
    """What storing a batch of articles did."""

    new_ids: tuple[str, ...]
    already_stored: int


@dataclass(frozen=True)
class ProcessResult:
    """What deduplication, story assignment and classification did."""

    processed: int
    duplicates: int
    relevant: int


def open_store(settings: Settings) -> Store:
    """The store named by the settings, created and migrated."""
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.initialize()
    return store


@contextmanager
def run_lock(db_path: Path, *, wait_s: float) -> Iterator[None]:
    """Hold the one-ingest-at-a-time lock for a database file (released even on SIGKILL)."""
    lock_path = db_path.with_name(db_path.name + ".run.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    announced = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLocked(
                        f"another ingest run is still working on {db_path} "
                        f"(waited {wait_s:.0f}s); skipping this run"
                    ) from None
                if not announced:
                    log.warning("another ingest run holds %s; waiting up to %.0fs", db_path, wait_s)
                    announced = True
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)


def start_run(store: Store) -> RunSummary:
    """Record a new run, closing out runs that a crash left 'running'."""
    summary = RunSummary(run_id=uuid.uuid4().hex[:12], started_at=utcnow())
    with store.write() as con:
        con.execute("UPDATE core.runs SET status = 'interrupted' WHERE status = 'running'")
        con.execute(
            "INSERT INTO core.runs (run_id, started_at, status) VALUES (?, ?, 'running')",
            [summary.run_id, summary.started_at],
        )
    return summary


def finish_run(store: Store, summary: RunSummary, status: str = "completed") -> None:
    """Record the run's counts and final status."""
    summary.finished_at = utcnow()
    summary.status = status
    with store.write() as con:
        con.execute(
            "UPDATE core.runs SET finished_at = ?, status = ?, articles_new = ?, duplicates = ?, "
            "errors = ?, not_modified = ?, skipped = ?, relevant = ?, failures = ? "
            "WHERE run_id = ?",
            [
                summary.finished_at,
                status,
                summary.articles_new,
                summary.duplicates,
                summary.errors,
                summary.not_modified,
                summary.skipped,
                summary.relevant,
                json.dumps(summary.failures[:200]),
                summary.run_id,
            ],
        )


def read_seeds(settings: Settings) -> tuple[list[Article], list[FetchRecord]]:
    """Read every seed file; unusable ones become error records naming file and reason."""
    files, problems = find_seed_files(settings.seeds.dirs)
    articles: list[Article] = []
    records: list[FetchRecord] = []
    now = utcnow()
    for folder, reason in problems:
        records.append(FetchRecord(folder, "seed", now, "error", error=reason))
    for seed in files:
        try:
            articles.append(read_seed(seed, max_bytes=settings.seeds.max_bytes))
        except SeedError as exc:
            log.warning("skipping seed %s", exc)
            records.append(FetchRecord(seed.url, "seed", now, "error", error=str(exc)))
    return articles, records


_ARTICLE_COLUMNS = [
    "article_id",
    "url",
    "canonical_url",
    "source",
    "outlet",
    "title",
    "author",
    "published_at",
    "date_source",
    "language",
    "text",
    "word_count",
    "content_hash",
    "first_seen_at",
    "run_id",
]
CLASSIFICATION_COLUMNS = [
    "article_id",
    "relevant",
    "relevance_score",
    "stance",
    "stance_score",
    "topics",
    "evidence",
    "version",
    "classified_at",
]
_FETCH_COLUMNS = [
    "url",
    "source",
    "fetched_at",
    "status_code",
    "outcome",
    "error",
    "bytes",
    "elapsed_ms",
    "run_id",
]


def store_articles(
    store: Store, run_id: str, articles: Sequence[Article], records: Sequence[FetchRecord]
) -> StoreResult:
    """Insert articles not stored before, their raw HTML, and the fetch records, in one go."""
    unique: dict[str, Article] = {}
    for article in articles:
        unique.setdefault(article.article_id, article)
    now = utcnow()
    with store.write() as con:
        ids = list(unique)
        known = (
            {
                row[0]
                for row in bulk_execute(
                    con,
                    "SELECT article_id FROM core.articles "
                    "WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
                    [ids],
                ).fetchall()
            }
            if ids
            else set()
        )
        fresh = [a for a in unique.values() if a.article_id not in known]
        insert_rows(
            con,
            "core.articles",
            _ARTICLE_COLUMNS,
            [
                (
                    a.article_id,
                    a.url,
                    a.canonical_url or a.url,
                    a.source,
                    a.outlet,
                    a.title,
                    a.author,
                    a.published_at,
                    a.date_source,
                    a.language,
                    a.text,
                    a.word_count,
                    content_hash(a.text),
                    now,
                    run_id,
                )
                for a in fresh
            ],
        )
        _insert_raw_pages(con, [a for a in fresh if a.raw_html], now)
        insert_rows(
            con,
            "core.fetches",
            _FETCH_COLUMNS,
            [
                (
                    r.url,
                    r.source,
                    r.fetched_at,
                    r.status_code,
                    r.outcome,
                    r.error,
                    r.bytes,
                    r.elapsed_ms,
                    run_id,
                )
                for r in records
            ],
        )
        # Classified by the extraction workers: process_pending keeps these (same version).
        write_classifications(con, [a.classification for a in fresh if a.classification])
    return StoreResult(tuple(a.article_id for a in fresh), len(unique) - len(fresh))


def _insert_raw_pages(con: Connection, articles: Sequence[Article], now: datetime) -> None:
    """Raw HTML, compressed (by the workers when they did), scanned from numpy arrays.

    Bound as list parameters, DuckDB 1.x copies BLOBs value by value (~0.5 s per 20 MB);
    a registered dict of numpy object arrays is scanned as a table, ~7x faster.
    """
    if not articles:
        return
    blobs = [a.html_zlib or zlib.compress(a.raw_html or b"", RAW_ZLIB_LEVEL) for a in articles]
    view = f"_raw_pages_{uuid.uuid4().hex[:8]}"
    con.register(
        view,
        {
            "article_id": np.array([a.article_id for a in articles], dtype=object),
            "url": np.array([a.url for a in articles], dtype=object),
            "html_zlib": np.array(blobs, dtype=object),
        },
    )
    try:
        con.execute(
            "INSERT INTO core.raw_pages "
            "(article_id, url, html_zlib, content_type, encoding, fetched_at) "
            f"SELECT article_id, url, html_zlib::BLOB, NULL, NULL, $1 FROM {view} "
            "ON CONFLICT DO NOTHING",
            [now],
        )
    finally:
        con.unregister(view)


def _pending(con: Connection, limit: int) -> list[StoredArticle]:
    rows = con.execute(
        "SELECT article_id, url, canonical_url, source, outlet, title, text, published_at, "
        "date_source, content_hash, first_seen_at FROM core.articles "
        "WHERE processed_at IS NULL "
        "ORDER BY coalesce(published_at, first_seen_at), first_seen_at, article_id LIMIT ?",
        [limit],
    ).fetchall()
    return [StoredArticle(*row) for row in rows]


def write_classifications(con: Connection, results: Sequence[Classification]) -> None:
    """Replace the stored classification, entities, quotes and figures of these articles."""
    ids = [c.article_id for c in results]
    if not ids:
        return
    for table in ("classifications", "entities", "quotes", "figures"):
        bulk_execute(
            con,
            f"DELETE FROM core.{table} WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
            [ids],
        )
    now = utcnow()
    insert_rows(
        con,
        "core.classifications",
        CLASSIFICATION_COLUMNS,
        [
            (
                c.article_id,
                c.relevant,
                c.relevance_score,
                c.stance,
                c.stance_score,
                list(c.topics),
                json.dumps(c.evidence, default=str),
                c.version,
                now,
            )
            for c in results
        ],
    )
    insert_rows(
        con,
        "core.entities",
        ["article_id", "name", "kind", "mentions"],
        [(c.article_id, e.name, e.kind, e.mentions) for c in results for e in c.entities],
    )
    insert_rows(
        con,
        "core.quotes",
        ["article_id", "speaker", "quote"],
        [(c.article_id, q.speaker, q.quote) for c in results for q in c.quotes],
    )
    insert_rows(
        con,
        "core.figures",
        ["article_id", "value", "what", "sentence"],
        [(c.article_id, f.value, f.what, f.sentence) for c in results for f in c.figures],
    )


def process_pending(store: Store, settings: Settings) -> ProcessResult:
    """Deduplicate, assign stories to and classify every unprocessed article, in batches.

    Classification is CPU work and runs between transactions, so readers in other
    processes only ever wait for the short writes.
    """
    total = duplicates = relevant = 0
    version = classify_mod.classifier_version(
        classify_mod.load_taxonomy(settings.classify.taxonomy),
        settings.classify.relevance_threshold,
    )
    while True:
        with store.read_write() as con:
            pending = _pending(con, PROCESS_BATCH)
            done = _classified(con, [a.article_id for a in pending], version)
        if not pending:
            break
        results = classify_mod.classify_articles(
            [a for a in pending if a.article_id not in done], settings
        )
        with store.write() as con:
            decisions = find_duplicates(con, pending)
            story_of = assign_stories(con, pending, decisions)
            _write_decisions(con, decisions, story_of)
            _mark_duplicate_fetches(con, pending, decisions)
            write_classifications(con, results)
            fill_dates_from_stories(con)
        total += len(pending)
        duplicates += sum(1 for d in decisions if d.duplicate_of)
        relevant += sum(1 for c in results if c.relevant) + sum(done.values())
    return ProcessResult(total, duplicates, relevant)


def _classified(con: Connection, ids: Sequence[str], version: str) -> dict[str, bool]:
    """Which of these articles already have a classification of this version: id -> relevant."""
    if not ids:
        return {}
    rows = con.execute(
        "SELECT article_id, relevant FROM core.classifications WHERE version = $1 "
        f"AND article_id IN (SELECT {split_sql('$2')})",
        [version, joined(ids)],
    ).fetchall()
    return {article_id: bool(relevant) for article_id, relevant in rows}


def _write_decisions(
    con: Connection, decisions: Sequence[DedupDecision], story_of: dict[str, str]
) -> None:
    bulk_execute(
        con,
        "CREATE OR REPLACE TEMP TABLE _decided AS SELECT "
        "unnest($1::VARCHAR[]) AS article_id, unnest($2::VARCHAR[]) AS duplicate_of, "
        "unnest($3::VARCHAR[]) AS reason, unnest($4::DOUBLE[]) AS similarity, "
        "unnest($5::VARCHAR[]) AS story_id",
        [
            [d.article_id for d in decisions],
            [d.duplicate_of for d in decisions],
            [d.reason for d in decisions],
            [d.similarity for d in decisions],
            [story_of.get(d.article_id) for d in decisions],
        ],
    )
    con.execute(
        "UPDATE core.articles a SET duplicate_of = d.duplicate_of, "
        "duplicate_reason = d.reason, similarity = d.similarity, story_id = d.story_id, "
        "processed_at = ? FROM _decided d WHERE a.article_id = d.article_id",
        [utcnow()],
    )
    con.execute("DROP TABLE _decided")


def reclassify(store: Store, settings: Settings, *, only_outdated: bool = False) -> int:
    """Re-run classification over stored articles in batches, without refetching; return count."""
    taxonomy = classify_mod.load_taxonomy(settings.classify.taxonomy)
    threshold = settings.classify.relevance_threshold
    version = classify_mod.classifier_version(taxonomy, threshold)
    outdated = "AND (c.version IS NULL OR c.version <> ?) " if only_outdated else ""
    done, after = 0, ""
    while True:
        with store.read() as con:
            rows = con.execute(
                "SELECT a.article_id, a.title, a.text FROM core.articles a "
                "LEFT JOIN core.classifications c USING (article_id) "
                f"WHERE a.processed_at IS NOT NULL AND a.article_id > ? {outdated}"
                "ORDER BY a.article_id LIMIT ?",
                [after, version, RECLASSIFY_BATCH] if only_outdated else [after, RECLASSIFY_BATCH],
            ).fetchall()
        if not rows:
            break
        results = [
            classify_mod.classify(
                article_id, title, text, taxonomy=taxonomy, relevance_threshold=threshold
            )
            for article_id, title, text in rows
        ]
        with store.write() as con:
            write_classifications(con, results)
        done += len(rows)
        after = rows[-1][0]
    log.info("reclassified %d articles (classifier %s)", done, version)
    return done


def _mark_duplicate_fetches(
    con: Connection, pending: Sequence[StoredArticle], decisions: Sequence[DedupDecision]
) -> None:
    """A copy's fetch is recorded as `duplicate`, not `new` (CONTRACT: fetches.outcome)."""
    copies = [a.url for a, d in zip(pending, decisions, strict=True) if d.duplicate_of]
    if copies:
        con.execute(
            "UPDATE core.fetches SET outcome = 'duplicate' WHERE outcome = 'new' "
            "AND url IN (SELECT unnest($1::VARCHAR[]))",
            [copies],
        )


def fill_dates_from_stories(con: Connection) -> None:
    """An article with no date of its own takes the earliest dated report of its story."""
    con.execute(
        """
        UPDATE core.articles a SET published_at = s.first_at, date_source = 'story'
        FROM (
            SELECT story_id, min(published_at) AS first_at FROM core.articles
            WHERE published_at IS NOT NULL AND date_source <> 'story' GROUP BY story_id
        ) s
        WHERE a.story_id = s.story_id
          AND (a.published_at IS NULL OR a.date_source = 'story')
          AND a.published_at IS DISTINCT FROM s.first_at
        """
    )


class StageRunner(Protocol):
    """Runs one named pipeline stage; the Prefect flow passes one that makes each a task."""

    def __call__(self, name: str, fn: Callable[..., T], /, *args: Any) -> T: ...


def call_directly(name: str, fn: Callable[..., T], /, *args: Any) -> T:
    """The plain-Python stage runner: just call the stage."""
    return fn(*args)


def collect_sources(
    settings: Settings, store: Store, run_id: str, executor: concurrent.futures.Executor | None
) -> CollectResult:
    """The collect stage with its executor passed positionally (stage runners take no kwargs)."""
    return collect(settings, store, run_id, executor=executor)


def run_ingest(
    settings: Settings,
    *,
    fetch: bool = True,
    lock_wait_s: float = 0,
    stage: StageRunner = call_directly,
    executor: concurrent.futures.Executor | None = None,
) -> RunSummary:
    """One complete ingest run: seeds and sources, stored, deduplicated, classified.

    `executor` runs the extraction of fetched pages (e.g. a Dask cluster's); by default
    collect uses a local process pool.
    """
    # The run lock first: a run that must wait or skip should not touch the file at all.
    with run_lock(settings.storage.db, wait_s=lock_wait_s):
        store = open_store(settings)
        summary = stage("start_run", start_run, store)
        try:
            articles, records = stage("read_seeds", read_seeds, settings)
            _add_stored(
                summary,
                records,
                stage("store_seeds", store_articles, store, summary.run_id, articles, records),
            )
            if fetch and settings.sources:
                collected = stage(
                    "collect", collect_sources, settings, store, summary.run_id, executor
                )
                _add_stored(
                    summary,
                    collected.records,
                    stage(
                        "store_collected",
                        store_articles,
                        store,
                        summary.run_id,
                        collected.articles,
                        collected.records,
                    ),
                )
                summary.unchanged += collected.known
                # Validators and source health only once the articles they vouch for are stored.
                stage("save_fetch_state", save_fetch_state, store, settings, collected)
            result = stage("process", process_pending, store, settings)
            summary.duplicates += result.duplicates
            summary.relevant += result.relevant
        except MonitorError as exc:
            summary.failures.append(str(exc))
            finish_run(store, summary, status="failed")
            raise
        finally:
            clear_primed()
        stage("finish_run", finish_run, store, summary)
    return summary


def _add_stored(summary: RunSummary, records: Sequence[FetchRecord], stored: StoreResult) -> None:
    summary.articles_new += len(stored.new_ids)
    summary.unchanged += stored.already_stored
    for record in records:
        if record.outcome == "error":
            summary.errors += 1
            summary.failures.append(f"{record.url}: {record.error}")
        elif record.outcome == "not_modified":
            summary.not_modified += 1
        elif record.outcome == "skipped":
            summary.skipped += 1
