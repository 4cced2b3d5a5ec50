"""The ingest flow: one run of monitor.pipeline.run_ingest with each stage as a Prefect task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.logs import forward_library_logs
from flows.runners import extraction_executor
from monitor.errors import RunLocked
from monitor.pipeline import run_ingest
from monitor.settings import load_settings

T = TypeVar("T")

# Network-facing stages retry; the rest are local and deterministic.
RETRIES = {"collect": 2}


def run_as_task(name: str, fn: Callable[..., T], /, *args: Any) -> T:
    """Run one pipeline stage as a Prefect task run."""
    retries = RETRIES.get(name, 0)
    wrapped = task(name=name, retries=retries, retry_delay_seconds=10, cache_policy=NO_CACHE)(fn)
    result: T = wrapped(*args)
    return result


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
        with extraction_executor(settings.runner) as executor:
            summary = run_ingest(
                settings,
                fetch=fetch,
                lock_wait_s=lock_wait_s,
                stage=run_as_task,
                executor=executor,
            )
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
    }


if __name__ == "__main__":
    ingest_flow()
