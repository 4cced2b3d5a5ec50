"""Plain-Python composition of the stages, in the order a record goes through them. `run_ingest`
is the one place that orders them; the CLI, the Prefect flows, serve, `monitor eval` and the
benches all call it and read the `RunReport` it returns:

    run_lock          one ingest per database (monitor/locks.py)
    start_run
    read_seeds        seed files -> Articles, prepared (hash, signatures, classification)
    store_articles    -> core.articles (+ raw page, signature, classification), fetch records
    collect           sources -> links -> pages -> Articles extracted and prepared in workers
    store_articles
    save_fetch_state  HTTP validators and source health, once their articles are stored
    process_pending   per batch: dedup -> stories -> classify what is still unclassified
    finish_run        the report, stored in `runs`

Each step writes in its own short transaction, so a run killed at any instant leaves a consistent
database, and the next run finishes what was left: articles are keyed by URL (re-inserting is a
no-op), and everything after storing works on the rows still marked unprocessed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from monitor import classify, dedup, publish, stories, storylines
from monitor.collect import CollectResult, collect
from monitor.errors import MonitorError, SeedError
from monitor.health import save_fetch_state
from monitor.locks import run_lock
from monitor.models import Article, DedupDecision, FetchRecord, RunReport, RunStatus, StoredArticle
from monitor.prepare import Preparation, prepare_articles
from monitor.progress import SILENT, Progress
from monitor.progress import current as current_progress
from monitor.runners import extraction_executor
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


def open_store(settings: Settings, *, lock_wait_s: float | None = None) -> Store:
    """The store named by the settings, created and migrated (writers only); it waits for
    another process's hold on the file up to `lock_wait_s` (default: `[storage]`'s)."""
    store = Store.of(settings.storage)
    if lock_wait_s is not None:
        store = Store(store.path, lock_timeout_s=lock_wait_s)
    store.migrate()
    return store


def preparation(settings: Settings) -> Preparation:
    """How articles are prepared under these settings (taxonomy, model, threshold)."""
    return Preparation.of(settings)


# What a run counts as it goes: RunReport's count fields, by name.
_COUNTS = (
    "articles_new",
    "duplicates",
    "errors",
    "not_modified",
    "skipped",
    "relevant",
    "unchanged",
)


@dataclass
class _Tally:
    """A run's counts while it goes on; frozen into its RunReport when it ends."""

    run_id: str
    started_at: datetime
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seed_problems: list[str] = field(default_factory=list)

    def stored(self, records: Sequence[FetchRecord], inserted: Inserted) -> None:
        """Add what storing a batch did, and its fetch records' outcomes."""
        self.counts["articles_new"] += len(inserted.new_ids)
        self.counts["unchanged"] += inserted.already_stored
        for record in records:
            if record.outcome == "error":
                self.counts["errors"] += 1
                self.failures.append(f"{record.url}: {record.error}")
                if record.source == "seed":  # for a person: each seed problem once
                    seed = record.url.startswith("seed:")
                    self.seed_problems.append(
                        record.error or "" if seed else f"{record.url}: {record.error}"
                    )
            elif record.outcome in ("not_modified", "skipped"):
                self.counts[record.outcome] += 1

    def report(self, status: RunStatus, collected: CollectResult | None) -> RunReport:
        """The frozen report of the run as it stands."""
        found = collected.outcomes if collected is not None else None
        report = RunReport(
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=utcnow(),
            status=status,
            failures=tuple(self.failures),
            seed_problems=tuple(self.seed_problems),
            sources_failed=found.sources_failed if found else {},
            sources_not_due=found.sources_not_due if found else {},
            pages_failed=found.pages_failed if found else {},
        )
        counts: dict[str, Any] = {name: self.counts[name] for name in _COUNTS}
        return replace(report, **counts)


def start_run(store: Store) -> _Tally:
    """Record a new run, closing out runs that a crash left 'running'."""
    tally = _Tally(run_id=uuid.uuid4().hex[:12], started_at=utcnow())
    with store.write() as con:
        stale = runs.start(con, tally.run_id, tally.started_at)
    if stale:
        log.warning("%d earlier run(s) were cut short; this run finishes their work", stale)
    return tally


def finish_run(store: Store, report: RunReport) -> RunReport:
    """Record the run's counts and final status; the report."""
    with store.write() as con:
        runs.finish(con, report)
    return report


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


def process_pending(store: Store, settings: Settings, progress: Progress = SILENT) -> ProcessResult:
    """Deduplicate, assign stories to and classify every unprocessed article, in batches.

    Classification of what the preparation left unclassified is CPU work and runs between
    transactions, so readers in other processes only ever wait for the short writes.
    """
    total = duplicates = relevant = 0
    version = classify.Classifier.configured(settings).version
    with store.read() as con:
        waiting = stored.pending_count(con)
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
            stored.fill_dates_of_copies(con)
            place_storylines(con, touched, now)
        log.info(
            "process: dedup + stories of %d articles %.2fs, classifications + storylines %.2fs",
            len(pending),
            grouped - started,
            time.perf_counter() - grouped,
        )
        total += len(pending)
        progress.processed(total, max(waiting, total))
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


def reclassify(
    store: Store, settings: Settings, *, only_outdated: bool = False, progress: Progress = SILENT
) -> int:
    """Re-run classification over stored articles in batches, without refetching; return count.

    An analyst's label is never touched; an article labelled relevant gets topics and a stance
    whatever the model says (the `articles` view shows the label over the model's call)."""
    classifier = classify.Classifier.configured(settings)
    version = classifier.version
    done, after = 0, ""
    with store.read() as con:
        total = stored.count_to_reclassify(con, version if only_outdated else None)
    progress.stage("processing")
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
        progress.processed(done, max(total, done))
    log.info("reclassified %d articles (classifier %s)", done, version)
    return done


def run_ingest(
    settings: Settings,
    *,
    fetch: bool = True,
    lock_wait_s: float | None = None,
    executor: concurrent.futures.Executor | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """One complete ingest run: seeds and sources, stored, deduplicated, classified; its report.

    `lock_wait_s` bounds every wait for the database: for another run (RunLocked after that
    long: the run did not start, nothing was touched) and for another process's open
    connection (StoreLocked). None: no wait for another run, and `[storage] lock_timeout_s`
    for a connection. `executor` runs the extraction of fetched pages; by
    default `[runner] task_runner` says: a local process pool, or a Dask cluster's. `progress`
    hears how far it has got (default: what the caller set with `progress.watching`, or no one).
    """
    progress = progress or current_progress()
    # The run lock first: a run that must wait or skip should not touch the file at all.
    with run_lock(settings.storage.db, wait_s=lock_wait_s or 0):
        store = open_store(settings, lock_wait_s=lock_wait_s)
        tally = start_run(store)
        collected: CollectResult | None = None
        try:
            progress.stage("seeds")
            articles, records = read_seeds(settings)
            tally.stored(records, store_articles(store, tally.run_id, articles, records))
            if fetch and settings.sources:
                progress.stage("sources")
                with extraction_executor(settings.runner, executor) as pool:
                    collected = collect(
                        settings, store, tally.run_id, executor=pool, progress=progress
                    )
                inserted = store_articles(
                    store, tally.run_id, collected.articles, collected.records
                )
                tally.stored(collected.records, inserted)
                tally.counts["unchanged"] += collected.known
                # Validators and source health only once the articles they vouch for are stored.
                save_fetch_state(store, settings, collected.cache, collected.updates)
            progress.stage("processing")
            result = process_pending(store, settings, progress)
            tally.counts["duplicates"] += result.duplicates
            tally.counts["relevant"] += result.relevant
        except MonitorError as exc:
            tally.failures.append(str(exc))
            finish_run(store, tally.report("failed", collected))
            raise
        report = finish_run(store, tally.report("completed", collected))
        progress.stage("publishing")
        publish.after_run(store, settings)
    log.info("%s (%.1fs)", report.line(), report.elapsed_s)
    return report
