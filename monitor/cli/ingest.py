"""The commands that run the pipeline: `monitor run`, `monitor serve`, `monitor reclassify`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    VerboseOpt,
    clean_errors,
    console,
    err_console,
    existing_store,
    settings_for,
    setup_logging,
)
from monitor.cli.progress import RunDisplay
from monitor.errors import MonitorError, StoreError
from monitor.models import RunReport
from monitor.progress import Progress, watching
from monitor.settings import Settings


@clean_errors
def run(
    config: ConfigOpt = None,
    db: DbOpt = None,
    seeds: Annotated[
        list[Path] | None,
        typer.Option(
            "--seeds", metavar="DIR", help="Seed folder (repeatable); replaces the configured ones."
        ),
    ] = None,
    no_fetch: Annotated[
        bool, typer.Option("--no-fetch", help="Ingest seeds only; fetch no sources.")
    ] = False,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            min=0,
            metavar="SECONDS",
            help="Wait up to this long for the database: for another run to finish, and for "
            "another process's connection to close (each time). Default: no wait for another "
            "run, [storage] lock_timeout_s (60) for a connection.",
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run one ingest: seeds and sources -> extract -> dedup -> stories -> classify -> store.

    It runs in this process and leaves nothing running. With PREFECT_API_URL set, the run is
    also recorded there as a flow run of the ingest flow.
    """
    setup_logging(verbose)
    settings = settings_for(config, db, seeds=seeds)
    with RunDisplay.for_terminal(console) as progress:
        report = ingest_once(settings, fetch=not no_fetch, wait=wait, progress=progress)
    print_report(report, settings)


def ingest_once(
    settings: Settings, *, fetch: bool, wait: float | None, progress: Progress
) -> RunReport:
    """One run, recorded as a Prefect flow run where the user has a Prefect API configured."""
    if not os.environ.get("PREFECT_API_URL"):
        from monitor.pipeline import run_ingest

        return run_ingest(settings, fetch=fetch, lock_wait_s=wait, progress=progress)
    from flows.ingest import ingest_flow  # Prefect is imported only when it is used

    with watching(progress):
        state = ingest_flow(
            config=str(settings.config_path) if settings.config_path else None,
            db=str(settings.storage.db),
            seeds=[str(s) for s in settings.seeds.dirs],
            fetch=fetch,
            lock_wait_s=wait,
            return_state=True,
        )
    try:
        report: RunReport = state.result()
    except MonitorError:
        raise
    except Exception as exc:  # the flow crashed: one line, not a traceback
        raise StoreError(f"ingest run failed: {type(exc).__name__}: {exc}") from None
    return report


def _counted(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def print_report(report: RunReport, settings: Settings) -> None:
    """The run's counts, then failures counted by reason (details: `monitor sources`, SQL)."""
    if report.articles_new == 0 and report.duplicates == 0:
        console.print(
            f"Nothing new: {report.unchanged} article(s) already stored; "
            f"{report.errors} failed. ({report.elapsed_s:.1f}s)"
        )
    else:
        console.print(
            f"Run {report.run_id}: {report.articles_new} new, {report.duplicates} duplicates, "
            f"{report.errors} failed, {report.relevant} relevant. ({report.elapsed_s:.1f}s)"
        )
    extra = []
    if report.not_modified:
        extra.append(f"{report.not_modified} not modified")
    if report.skipped:
        extra.append(f"{report.skipped} skipped")
    if extra:
        console.print("Also: " + ", ".join(extra) + ".")
    if report.sources_failed:
        console.print(
            f"{_plural(sum(report.sources_failed.values()), 'source')} failed: "
            f"{_counted(report.sources_failed)}; see `monitor sources`.",
            style="yellow",
        )
    not_due = report.sources_not_due
    if not_due:
        console.print(
            f"{_plural(sum(not_due.values()), 'source')} not due: {_counted(not_due)}."
            if len(not_due) > 1
            else f"{_plural(sum(not_due.values()), 'source')} {next(iter(not_due))}, not due."
        )
    for problem in report.seed_problems:
        console.print(f"Seed skipped: {problem}", style="yellow")
    if report.pages_failed:
        console.print(
            f"{_plural(sum(report.pages_failed.values()), 'page')} failed: "
            f"{_counted(report.pages_failed)}; "
            "see `monitor sql \"SELECT url, error FROM fetches WHERE outcome = 'error'\"`.",
            style="yellow",
        )
    from monitor.store.snapshot import snapshot_path

    snapshot = snapshot_path(settings.storage.db)
    console.print(f"Database: {settings.storage.db}")
    if snapshot.exists():  # for DuckDB clients and notebooks: a session on it never blocks a run
        console.print(f"Snapshot for DuckDB clients: {snapshot}")


@clean_errors
def reclassify(
    config: ConfigOpt = None,
    db: DbOpt = None,
    only_outdated: Annotated[
        bool,
        typer.Option(
            "--only-outdated", help="Only articles classified by another classifier version."
        ),
    ] = False,
) -> None:
    """Re-run classification over the stored archive (after a taxonomy change); no refetching."""
    from monitor.pipeline import reclassify as run_reclassify

    settings, store = existing_store(config, db)
    with RunDisplay.for_terminal(console) as progress:
        count = run_reclassify(store, settings, only_outdated=only_outdated, progress=progress)
    console.print(f"Reclassified {count} article(s).")


@clean_errors
def serve(
    config: ConfigOpt = None,
    db: DbOpt = None,
    run_now: Annotated[
        bool, typer.Option("--run-now", help="Start an ingest run right away, then keep schedule.")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run ingest and digest on the crons in the config's schedule section until SIGTERM/Ctrl-C."""
    # A service log: each run's INFO lines (its summary above all) on the console and in the
    # Prefect API; the library's logs go there too (see docs/operations.md).
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "monitor")
    setup_logging(verbose, service=True)
    settings = settings_for(config, db)
    from flows.serve import serve_schedules
    from flows.server import Api

    def announce(api: Api) -> None:
        where = (
            f"a local Prefect server (UI: {api.ui})"
            if api.started
            else f"the Prefect API at {api.url}"
        )
        err_console.print(
            f"Serving ingest ({settings.schedule.ingest_cron}) and digest "
            f"({settings.schedule.digest_cron}, {settings.schedule.timezone}) on "
            f"{settings.storage.db}, scheduled by {where}"
            f"{'; ingest starting now' if run_now else ''}. Ctrl-C or SIGTERM stops.",
            highlight=False,
            soft_wrap=True,
        )

    serve_schedules(settings, run_now=run_now, on_start=announce)
    err_console.print("Stopped.")
