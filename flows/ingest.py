"""The ingest flow: one run of the pipeline (`monitor.pipeline.run_ingest`), as a Prefect flow.

The flow adds what Prefect gives: a flow run per ingest in the UI with its logs (the library's
too, flows/logs.py), a markdown artifact of the run's report, and the schedule (prefect.yaml or
`monitor serve`). No retries: every stage records what failed (a source, a page, a seed) and goes
on, and what raises (a database fault) would fail the same way again at once; the next run
picks up where this one stopped.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.logs import forward_library_logs
from monitor.errors import RunLocked
from monitor.models import RunReport
from monitor.pipeline import run_ingest
from monitor.settings import load_settings
from monitor.store import utcnow


def _markdown(report: RunReport) -> str:
    rows = [
        ("new articles", report.articles_new),
        ("duplicates", report.duplicates),
        ("failed", report.errors),
        ("relevant", report.relevant),
        ("already stored", report.unchanged),
    ]
    lines = [f"# Ingest {report.run_id}: {report.status}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    for title, counts in (
        ("Sources failed", report.sources_failed),
        ("Pages failed", report.pages_failed),
    ):
        if counts:
            lines += ["", f"{title}: " + ", ".join(f"{n} {why}" for why, n in counts.items())]
    return "\n".join(lines) + "\n"


@flow(name="ingest", log_prints=False)
def ingest_flow(
    config: str | None = None,
    db: str | None = None,
    seeds: list[str] | None = None,
    fetch: bool = True,
    lock_wait_s: float | None = None,
    skip_if_locked: bool = False,
) -> RunReport:
    """Ingest seeds and configured sources into the database; return the run's report.

    With skip_if_locked (scheduled runs), a run that finds another still working on the
    database after lock_wait_s logs a warning and returns a report with status 'skipped'.
    lock_wait_s bounds each wait for the database (see run_ingest); None: no wait for another
    run, `[storage] lock_timeout_s` for another process's connection.
    """
    forward_library_logs()
    logger = get_run_logger()
    settings = load_settings(
        Path(config) if config else None,
        db=Path(db) if db else None,
        seeds=[Path(s) for s in seeds] if seeds else None,
    )
    try:
        report = run_ingest(settings, fetch=fetch, lock_wait_s=lock_wait_s)
    except RunLocked as exc:
        if not skip_if_locked:
            raise
        logger.warning("skipped: %s", exc)
        now = utcnow()
        return RunReport(None, now, now, status="skipped", reason=str(exc))
    logger.info("%s", report.line())
    create_markdown_artifact(key="ingest-report", markdown=_markdown(report))
    return report


if __name__ == "__main__":
    ingest_flow()
