"""Plain-Python composition of the stages, in the order a record goes through them:

    start_run
    read_seeds        seed files -> Articles, prepared (hash, signatures, classification)
    store_articles    -> core.articles (+ raw page, signature, classification), fetch records
    collect           sources -> links -> pages -> Articles extracted and prepared in workers
    store_articles
    save_fetch_state  HTTP validators and source health, once their articles are stored
    process_pending   per batch: dedup -> stories -> classify what is still unclassified
    finish_run

Each step writes in its own short transaction, so a run killed at any instant leaves a consistent
database, and the next run finishes what was left: articles are keyed by URL (re-inserting is a
no-op), and everything after storing works on the rows still marked unprocessed. The Prefect
flow (flows/ingest.py) calls the same steps, each as a task.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from monitor import classify, dedup, stories, storylines
from monitor.collect import collect, save_fetch_state
from monitor.errors import MonitorError, RunLocked, SeedError, StoreError
from monitor.models import Article, DedupDecision, FetchRecord, RunSummary, StoredArticle
from monitor.prepare import Preparation, prepare_articles
from monitor.seeds import find_seed_files, read_seed
from monitor.settings import Settings
from monitor.store import Connection, Store, fetches, labels, runs, signatures, utcnow
from monitor.store import articles as stored
from monitor.store import stories as story_store
from monitor.store import storylines as storyline_store
from monitor.store.articles import Inserted

log = logging.getLogger(__name__)

PROCESS_BATCH = 1000
RECLASSIFY_BATCH = 1000


@dataclass(frozen=True)
class ProcessResult:
    """What deduplication, story assignment and classification did."""

    processed: int
    duplicates: int
    relevant: int


def open_store(settings: Settings) -> Store:
    """The store named by the settings, created and migrated (writers only)."""
    store = Store.of(settings.storage)
    store.migrate()
    return store


def preparation(settings: Settings) -> Preparation:
    """How articles are prepared under these settings (taxonomy, model, threshold)."""
    return Preparation.of(settings)


@contextmanager
def run_lock(db_path: Path, *, wait_s: float) -> Iterator[None]:
    """Hold the one-ingest-at-a-time lock for a database file (released even on SIGKILL)."""
    lock_path = db_path.with_name(db_path.name + ".run.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only or full folder: one line, not a traceback
        raise StoreError(f"cannot create the run lock {lock_path}: {exc.strerror}") from exc
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
        stale = runs.start(con, summary)
    if stale:
        log.warning("%d earlier run(s) were cut short; this run finishes their work", stale)
    return summary


def finish_run(store: Store, summary: RunSummary, status: str = "completed") -> None:
    """Record the run's counts and final status."""
    summary.finished_at = utcnow()
    summary.status = status
    with store.write() as con:
        runs.finish(con, summary)


def read_seeds(settings: Settings) -> tuple[list[Article], list[FetchRecord]]:
    """Read and prepare every seed file; unusable ones become error records naming the reason."""
    files, problems = find_seed_files(settings.seeds.dirs)
    articles: list[Article] = []
    records: list[FetchRecord] = []
    now = utcnow()
    for folder, reason in problems:
        records.append(
            FetchRecord(folder, "seed", now, "error", error=reason, error_kind="SeedError")
        )
    for seed in files:
        try:
            articles.append(read_seed(seed, max_bytes=settings.seeds.max_bytes))
        except SeedError as exc:
            log.info("skipping seed %s", exc)  # reported once, in the run's summary
            records.append(
                FetchRecord(seed.url, "seed", now, "error", error=str(exc), error_kind="SeedError")
            )
    return prepare_articles(articles, preparation(settings)), records


def store_articles(
    store: Store, run_id: str, articles: Sequence[Article], records: Sequence[FetchRecord]
) -> Inserted:
    """Insert prepared articles not stored before, and the fetch records, in one transaction."""
    with store.write() as con:
        inserted = stored.insert(con, run_id, articles, utcnow())
        fetches.insert_records(con, run_id, records)
    return inserted


def process_pending(store: Store, settings: Settings) -> ProcessResult:
    """Deduplicate, assign stories to and classify every unprocessed article, in batches.

    Classification of what the preparation left unclassified is CPU work and runs between
    transactions, so readers in other processes only ever wait for the short writes.
    """
    total = duplicates = relevant = 0
    version = classify.Classifier.configured(settings).version
    while True:
        with store.read_write() as con:
            pending = stored.pending(con, PROCESS_BATCH)
            done = stored.classified(con, [a.article_id for a in pending], version)
        if not pending:
            break
        results = classify.classify_articles(
            [a for a in pending if a.article_id not in done], settings
        )
        now = utcnow()
        with store.write() as con:
            started = time.perf_counter()
            decisions, touched = deduplicate_and_group(con, pending, now)
            grouped = time.perf_counter()
            stored.write_classifications(con, results, now)
            stored.fill_dates_from_stories(con)
            place_storylines(con, touched, now)
        log.info(
            "process: dedup + stories of %d articles %.2fs, classifications + storylines %.2fs",
            len(pending),
            grouped - started,
            time.perf_counter() - grouped,
        )
        total += len(pending)
        duplicates += sum(1 for d in decisions if d.duplicate_of)
        relevant += sum(1 for c in results if c.relevant) + sum(done.values())
    return ProcessResult(total, duplicates, relevant)


def deduplicate_and_group(
    con: Connection, pending: Sequence[StoredArticle], now: datetime
) -> tuple[list[DedupDecision], list[str]]:
    """Dedup decisions and stories for a batch, written in the caller's transaction; the
    decisions, and the stories the batch touched."""
    probes = dedup.probes(pending)
    found = dedup.find_duplicates(pending, probes, signatures.known(con, probes))
    stored.repoint(con, found.repoints)
    signatures.save_bands(con, probes)
    story_of = assign_stories(con, pending, found.decisions, now)
    stored.write_decisions(con, found.decisions, story_of, now)
    story_store.refresh(con, list(story_of.values()), now)
    # Copies in the batch, and stored originals that turned out to copy an earlier report.
    copies = [d.article_id for d in found.decisions if d.duplicate_of]
    fetches.mark_duplicates(con, copies + [r.old_origin for r in found.repoints])
    return found.decisions, sorted(set(story_of.values()))


def place_storylines(con: Connection, story_ids: Sequence[str], now: datetime) -> None:
    """Put the relevant ones of these stories, if not yet placed, into storylines."""
    waiting = storyline_store.threads(con, storyline_store.unplaced(con, story_ids))
    if not waiting:
        return
    df, n_stories = storyline_store.actor_counts(con)
    idf = storylines.actor_idf(df, n_stories)
    dated = [t.first_at for t in waiting if t.first_at is not None]
    since = min(dated) - timedelta(days=storylines.MAX_GAP_DAYS) if dated else None
    lines = storylines.lines_of(storyline_store.active_members(con, since), idf)
    storyline_store.save(con, storylines.place(waiting, lines, idf), now)


def assign_stories(
    con: Connection,
    pending: Sequence[StoredArticle],
    decisions: Sequence[DedupDecision],
    now: datetime,
) -> dict[str, str]:
    """The story of each pending article: originals clustered, copies with their origin."""
    copy_of: Mapping[str, str | None] = {d.article_id: d.duplicate_of for d in decisions}
    originals = [a for a in pending if copy_of[a.article_id] is None]
    found = story_store.evidence(con, [a.article_id for a in originals])
    batch = stories.Batch.of(originals, found)
    scored = stories.score(batch, story_store.term_stats(con, batch))
    plan = stories.assign(scored, story_store.candidates(con, scored))
    story_store.save(con, scored, plan.new_stories, plan.story_of, now)
    story_store.merge(con, plan.merged, now)  # stored stories the batch's reports bridged
    origins = [o for o in copy_of.values() if o is not None and o not in plan.story_of]
    known = {**story_store.stories_of(con, origins), **plan.story_of}
    story_of: dict[str, str] = {}
    for article in pending:
        target = copy_of[article.article_id] or article.article_id
        if target in known:
            story_of[article.article_id] = known[target]
    return story_of


def reclassify(store: Store, settings: Settings, *, only_outdated: bool = False) -> int:
    """Re-run classification over stored articles in batches, without refetching; return count.

    An analyst's label is never touched; an article labelled relevant gets topics and a stance
    whatever the model says (the `articles` view shows the label over the model's call)."""
    classifier = classify.Classifier.configured(settings)
    version = classifier.version
    done, after = 0, ""
    while True:
        with store.read_write() as con:
            rows = stored.texts_to_reclassify(
                con, after, RECLASSIFY_BATCH, version if only_outdated else None
            )
            labelled = labels.relevant_ids(con, [article_id for article_id, _, _ in rows])
        if not rows:
            break
        results = [
            classifier.classify(article_id, title, text, labelled_relevant=article_id in labelled)
            for article_id, title, text in rows
        ]
        with store.write() as con:
            now = utcnow()
            stored.write_classifications(con, results, now)
            # A story that has become relevant takes its place in a storyline.
            touched = story_store.stories_of(con, [r[0] for r in rows])
            place_storylines(con, sorted(set(touched.values())), now)
        done += len(rows)
        after = rows[-1][0]
    log.info("reclassified %d articles (classifier %s)", done, version)
    return done


def count_stored(summary: RunSummary, records: Sequence[FetchRecord], inserted: Inserted) -> None:
    """Add what storing a batch did, and its fetch records' outcomes, to the run summary."""
    summary.articles_new += len(inserted.new_ids)
    summary.unchanged += inserted.already_stored
    for record in records:
        if record.outcome == "error":
            summary.errors += 1
            summary.failures.append(f"{record.url}: {record.error}")
        elif record.outcome == "not_modified":
            summary.not_modified += 1
        elif record.outcome == "skipped":
            summary.skipped += 1


def run_ingest(
    settings: Settings,
    *,
    fetch: bool = True,
    lock_wait_s: float = 0,
    executor: concurrent.futures.Executor | None = None,
) -> RunSummary:
    """One complete ingest run: seeds and sources, stored, deduplicated, classified.

    `executor` runs the extraction of fetched pages (e.g. a Dask cluster's); by default
    collect uses a local process pool.
    """
    # The run lock first: a run that must wait or skip should not touch the file at all.
    with run_lock(settings.storage.db, wait_s=lock_wait_s):
        store = open_store(settings)
        summary = start_run(store)
        try:
            articles, records = read_seeds(settings)
            count_stored(summary, records, store_articles(store, summary.run_id, articles, records))
            if fetch and settings.sources:
                collected = collect(settings, store, summary.run_id, executor=executor)
                inserted = store_articles(
                    store, summary.run_id, collected.articles, collected.records
                )
                count_stored(summary, collected.records, inserted)
                summary.unchanged += collected.known
                # Validators and source health only once the articles they vouch for are stored.
                save_fetch_state(store, settings, collected)
            result = process_pending(store, settings)
            summary.duplicates += result.duplicates
            summary.relevant += result.relevant
        except MonitorError as exc:
            summary.failures.append(str(exc))
            finish_run(store, summary, status="failed")
            raise
        finish_run(store, summary)
    return summary
