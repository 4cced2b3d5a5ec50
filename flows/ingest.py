"""The ingest flow: the stages of monitor.pipeline, each a Prefect task, in the order a record
goes through them (the same order as pipeline.run_ingest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.logs import forward_library_logs
from flows.runners import extraction_executor
from monitor import pipeline
from monitor.collect import CollectResult, Outcomes, collect, outcomes, save_fetch_state
from monitor.errors import MonitorError, RunLocked
from monitor.models import FetchRecord
from monitor.settings import Settings, load_settings
from monitor.store import Store
from monitor.store.articles import Inserted

# No retries: every stage records what failed (a source, a page, a seed) and goes on, and what
# raises (a database fault) would fail the same way again at once; the next run picks up.


@task(name="read-and-store-seeds", cache_policy=NO_CACHE)
def read_and_store_seeds(
    store: Store, settings: Settings, run_id: str
) -> tuple[list[FetchRecord], Inserted]:
    """Read and prepare the seed files and store them with their fetch records."""
    articles, records = pipeline.read_seeds(settings)
    return records, pipeline.store_articles(store, run_id, articles, records)


@task(name="collect", cache_policy=NO_CACHE)
def collect_sources(store: Store, settings: Settings, run_id: str) -> CollectResult:
    """Fetch due sources and their new pages; extract and prepare them in worker processes."""
    with extraction_executor(settings.runner) as executor:
        return collect(settings, store, run_id, executor=executor)


@task(name="store-collected", cache_policy=NO_CACHE)
def store_collected(
    store: Store, settings: Settings, run_id: str, collected: CollectResult
) -> Inserted:
    """Store what collect found, then the validators and source health that vouch for it."""
    inserted = pipeline.store_articles(store, run_id, collected.articles, collected.records)
    save_fetch_state(store, settings, collected)
    return inserted


@task(name="process", cache_policy=NO_CACHE)
def process(store: Store, settings: Settings) -> pipeline.ProcessResult:
    """Deduplicate, assign stories and classify what is unprocessed."""
    return pipeline.process_pending(store, settings)


@flow(name="ingest", log_prints=False)
def ingest_flow(
    config: str | None = None,
    db: str | None = None,
    seeds: list[str] | None = None,
    fetch: bool = True,
    lock_wait_s: float = 0,
    skip_if_locked: bool = False,
) -> dict[str, Any]:
    """Ingest seeds and configured sources into the database; return the run summary.

    With skip_if_locked (scheduled runs), a run that finds another still working on the
    database after lock_wait_s logs a warning and returns status 'skipped' instead of failing.
    """
    forward_library_logs()
    settings = load_settings(
        Path(config) if config else None,
        db=Path(db) if db else None,
        seeds=[Path(s) for s in seeds] if seeds else None,
    )
    try:
        with pipeline.run_lock(settings.storage.db, wait_s=lock_wait_s):
            store = pipeline.open_store(settings)
            summary = pipeline.start_run(store)
            try:
                records, inserted = read_and_store_seeds(store, settings, summary.run_id)
                pipeline.count_stored(summary, records, inserted)
                seed_problems = [
                    r.error if r.url.startswith("seed:") else f"{r.url}: {r.error}"
                    for r in records
                    if r.outcome == "error"
                ]
                report = Outcomes({}, {}, {})
                if fetch and settings.sources:
                    collected = collect_sources(store, settings, summary.run_id)
                    inserted = store_collected(store, settings, summary.run_id, collected)
                    pipeline.count_stored(summary, collected.records, inserted)
                    summary.unchanged += collected.known
                    report = outcomes(collected)
                result = process(store, settings)
                summary.duplicates += result.duplicates
                summary.relevant += result.relevant
            except MonitorError as exc:
                summary.failures.append(str(exc))
                pipeline.finish_run(store, summary, status="failed")
                raise
            pipeline.finish_run(store, summary)
    except RunLocked as exc:
        if not skip_if_locked:
            raise
        get_run_logger().warning("skipped: %s", exc)
        return {"run_id": None, "status": "skipped", "reason": str(exc)}
    get_run_logger().info(
        "run %s: %d new, %d duplicates, %d failed, %d relevant",
        summary.run_id,
        summary.articles_new,
        summary.duplicates,
        summary.errors,
        summary.relevant,
    )
    return {
        "run_id": summary.run_id,
        "status": summary.status,
        "articles_new": summary.articles_new,
        "duplicates": summary.duplicates,
        "errors": summary.errors,
        "relevant": summary.relevant,
        "unchanged": summary.unchanged,
        "not_modified": summary.not_modified,
        "skipped": summary.skipped,
        "failures": summary.failures,
        # For a person to read: failures counted by reason, each seed problem once.
        "seed_problems": seed_problems,
        "sources_failed": report.sources_failed,
        "sources_not_due": report.sources_not_due,
        "pages_failed": report.pages_failed,
    }


if __name__ == "__main__":
    ingest_flow()
