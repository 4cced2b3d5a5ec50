"""The `monitor` command line: parse arguments, load settings, call one library function.

Every command accepts --config and --db. A MonitorError becomes a one-line message and a
non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from monitor.errors import ConfigError, MonitorError, RunLocked, StoreError
from monitor.settings import Settings, load_settings

app = typer.Typer(
    help="iraq-troop-monitor: ingest, deduplicate and classify news on the US / coalition "
    "troop presence in Iraq; write digests; query with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Config file (else $MONITOR_CONFIG, else ./monitor.toml)."),
]
DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="DuckDB file (default: the config's, else data/monitor.duckdb)."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show progress logs.")]


class DigestFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"
    csv = "csv"


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _clean_errors(fn: F) -> F:
    """Turn MonitorError into a one-line message and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MonitorError as exc:
            kind = "configuration error" if isinstance(exc, ConfigError) else "error"
            err_console.print(f"[red]{kind}:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Prefect reads these when first imported: keep its console quiet unless asked.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "ERROR")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    # Offline machines: telemetry would only log connection errors.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The embedded server's default 20 s start-up budget is too tight on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _settings(config: Path | None, db: Path | None, **kwargs: Any) -> Settings:
    return load_settings(config, db=db, **kwargs)


@app.command()
@_clean_errors
def run(
    config: ConfigOpt = None,
    db: DbOpt = None,
    seeds: Annotated[
        list[Path] | None,
        typer.Option("--seeds", help="Seed folder (repeatable); replaces the configured ones."),
    ] = None,
    no_fetch: Annotated[
        bool, typer.Option("--no-fetch", help="Ingest seeds only; fetch no sources.")
    ] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait if another run holds the database.")
    ] = 0,
    verbose: VerboseOpt = False,
) -> None:
    """Run one ingest as a Prefect flow: seeds and sources -> extract -> dedup -> classify."""
    _setup_logging(verbose)
    settings = _settings(config, db, seeds=seeds)
    started = time.monotonic()
    with console.status("Ingesting…", spinner="dots"):
        from flows.ingest import ingest_flow

        state = ingest_flow(
            config=str(settings.config_path) if settings.config_path else None,
            db=str(settings.storage.db),
            seeds=[str(s) for s in settings.seeds.dirs],
            fetch=not no_fetch,
            lock_wait_s=wait,
            skip_if_locked=True,
            return_state=True,
        )
    if not state.is_completed():
        try:
            state.result()
        except MonitorError:
            raise
        except Exception as exc:  # the flow crashed: one line, not a traceback
            raise StoreError(f"ingest run failed: {type(exc).__name__}: {exc}") from None
        raise StoreError(f"ingest run ended in state {state.name}")
    summary = state.result()
    if summary["status"] == "skipped":
        raise RunLocked(summary["reason"])
    elapsed = time.monotonic() - started
    _print_summary(summary, settings, elapsed)


def _print_summary(summary: dict[str, Any], settings: Settings, elapsed: float) -> None:
    new, dups, failed, relevant = (
        summary["articles_new"],
        summary["duplicates"],
        summary["errors"],
        summary["relevant"],
    )
    if new == 0 and dups == 0:
        console.print(
            f"Nothing new: {summary['unchanged']} article(s) already stored; "
            f"{failed} failed. ({elapsed:.1f}s)"
        )
    else:
        console.print(
            f"Run {summary['run_id']}: [bold]{new}[/bold] new, {dups} duplicates, "
            f"{failed} failed, {relevant} relevant. ({elapsed:.1f}s)"
        )
    extra = []
    if summary.get("not_modified"):
        extra.append(f"{summary['not_modified']} not modified")
    if summary.get("skipped"):
        extra.append(f"{summary['skipped']} skipped")
    if extra:
        console.print("Also: " + ", ".join(extra) + ".")
    failures = summary.get("failures") or []
    for line in failures[:10]:
        console.print(f"  [yellow]failed[/yellow] {line}", highlight=False, soft_wrap=True)
    if len(failures) > 10:
        console.print(
            f'  … and {len(failures) - 10} more (see: monitor sql "SELECT * FROM '
            f"fetches WHERE outcome = 'error'\")"
        )
    console.print(f"Database: {settings.storage.db}")


@app.command()
@_clean_errors
def digest(
    config: ConfigOpt = None,
    db: DbOpt = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="A date (YYYY-MM-DD) or 'last' (since the previous digest)."),
    ] = None,
    fmt: Annotated[DigestFormat, typer.Option("--format", help="Output format.")] = DigestFormat.md,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
    include_all: Annotated[
        bool, typer.Option("--all", help="Include stories not classified as relevant.")
    ] = False,
) -> None:
    """Write a digest of relevant stories, newest first."""
    _setup_logging(False)
    from monitor.digest import parse_since, write_digest
    from monitor.store import Store

    settings = _settings(config, db)
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.require_current()
    result = write_digest(
        store, since=parse_since(since), fmt=fmt.value, out=out, include_all=include_all
    )
    if out is None:
        sys.stdout.write(result.text)
        if not result.text.endswith("\n"):
            sys.stdout.write("\n")
    else:
        err_console.print(
            f"Wrote {out}: {len(result.digest.stories)} stories, "
            f"{result.digest.overview.new_articles} new articles.",
            highlight=False,
        )


@app.command()
@_clean_errors
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run against the database (read-only).")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
) -> None:
    """Run a read-only query; the views are documented in docs/schema.md."""
    _setup_logging(False)
    from monitor.store import Store

    settings = _settings(config, db)
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.require_current()
    columns, rows = store.user_query(query)
    _print_rows(columns, rows, fmt)


@app.command()
@_clean_errors
def sources(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
) -> None:
    """Configured sources with their health: last fetch, last error, failures, next due."""
    _setup_logging(False)
    from dataclasses import asdict

    from monitor.collect import source_health
    from monitor.store import Store

    settings = _settings(config, db)
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.require_current()
    health = source_health(store, settings)
    if fmt is not TableFormat.table:
        rows = [asdict(h) for h in health]
        columns = list(rows[0]) if rows else []
        _print_rows(columns, [tuple(r.values()) for r in rows], fmt)
        return
    table = Table("source", "kind", "state", "last fetch", "last success", "failures", "next due")
    table.add_column("last error", overflow="ellipsis", no_wrap=True, max_width=60)
    styles = {"due": "green", "waiting": "", "backing off": "yellow", "disabled": "red"}
    for h in health:
        table.add_row(
            h.name,
            h.kind,
            f"[{styles.get(h.state, '')}]{h.state}[/]" if styles.get(h.state) else h.state,
            _when(h.last_fetch_at),
            _when(h.last_success_at),
            str(h.consecutive_failures),
            _when(h.next_due_at),
            ": ".join(p for p in (h.last_error_kind, h.last_error) if p),
        )
    console.print(table)
    console.print(f"{len(health)} source(s)", style="dim")


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


class EvalFormat(StrEnum):
    text = "text"
    json = "json"


@app.command(name="eval")
@_clean_errors
def evaluate(
    eval_dir: Annotated[
        Path, typer.Argument(help="Labelled folder: index.tsv + articles/NNN.txt.")
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", help="Output format.")] = EvalFormat.text,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep the two evaluation databases here.")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Relevance, event types, stance, stories and dates on a labelled folder, measured on
    its articles served as web pages and ingested for real (with and without dates)."""
    _setup_logging(verbose)
    from monitor.evaluate import evaluate as run_evaluation

    settings = _settings(config, db)
    with console.status("Serving the labelled articles and ingesting them twice…"):
        report = run_evaluation(eval_dir, settings, workdir=keep)
    if fmt is EvalFormat.json:
        sys.stdout.write(json.dumps(report.figures(), indent=2) + "\n")
        return
    console.print(report.render(), highlight=False, soft_wrap=True, markup=False)


@app.command()
@_clean_errors
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
    _setup_logging(False)
    from monitor.pipeline import reclassify as run_reclassify
    from monitor.store import Store

    settings = _settings(config, db)
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.require_current()  # it writes, but never into a database it would have to create
    with console.status("Reclassifying…"):
        count = run_reclassify(store, settings, only_outdated=only_outdated)
    console.print(f"Reclassified {count} article(s).")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: TableFormat) -> None:
    if fmt is TableFormat.json:
        data = [dict(zip(columns, map(_jsonable, row), strict=True)) for row in rows]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    elif fmt is TableFormat.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_jsonable(v) for v in row] for row in rows])
        sys.stdout.write(buf.getvalue())
    else:
        table = Table(*columns, show_lines=False)
        for row in rows:
            table.add_row(*("" if v is None else str(_jsonable(v)) for v in row))
        console.print(table)
        console.print(f"{len(rows)} row(s)", style="dim")


@app.command(name="storylines")
@_clean_errors
def list_storylines(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
) -> None:
    """The threads of the issue across months and years, the most recently active first."""
    _setup_logging(False)
    from dataclasses import asdict

    from monitor.store import Store
    from monitor.store import storylines as storyline_store

    settings = _settings(config, db)
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.require_current()
    with store.read() as con:
        lines = storyline_store.summaries(con)
    if fmt is not TableFormat.table:
        rows = [asdict(line) for line in lines]
        columns = list(rows[0]) if rows else list(storyline_store.Summary.__dataclass_fields__)
        _print_rows(columns, [tuple(r.values()) for r in rows], fmt)
        return
    table = Table("title", "from", "to", "stories", "articles", "outlets")
    table.add_column("storyline", no_wrap=True)  # whole, to be copied into `monitor storyline`
    for line in lines:
        table.add_row(
            line.title,
            _when(line.first_published_at)[:10],
            _when(line.last_published_at)[:10],
            str(line.story_count),
            str(line.article_count),
            str(len(line.outlets)),
            line.storyline_id,
        )
    console.print(table)
    console.print(
        f"{len(lines)} storyline(s); `monitor storyline ID` shows one as a timeline", style="dim"
    )


class StorylineFormat(StrEnum):
    table = "table"
    md = "md"
    json = "json"
    html = "html"


_STORYLINE_ACTIONS = ("rename", "merge", "split", "detach")


@app.command(name="storyline")
@_clean_errors
def storyline(
    args: Annotated[
        list[str],
        typer.Argument(
            help="ID (show it), or: rename ID TITLE · merge ID OTHER (OTHER continues as ID) · "
            "split ID STORY_ID... (those stories become a storyline of their own) · "
            "detach STORY_ID... (they stand alone)",
            metavar="ID | ACTION ...",
        ),
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        StorylineFormat, typer.Option("--format", help="Output format (showing a storyline).")
    ] = StorylineFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the storyline to this file.")
    ] = None,
) -> None:
    """One storyline as a timeline, or an analyst's decision about storylines (recorded)."""
    _setup_logging(False)
    from monitor.store import Store

    settings = _settings(config, db)
    store = Store(settings.storage.db, lock_timeout_s=settings.storage.lock_timeout_s)
    store.require_current()
    if args[0] in _STORYLINE_ACTIONS:
        console.print(_storyline_action(store, args[0], args[1:]), highlight=False, markup=False)
        return
    if len(args) != 1:
        raise ConfigError(f"unknown storyline action {args[0]!r} ({', '.join(_STORYLINE_ACTIONS)})")
    from monitor.digest.storyline import build_storyline, render_storyline

    view = build_storyline(store, args[0])
    if fmt is StorylineFormat.table:
        _print_storyline_table(view)
        return
    text = render_storyline(view, fmt.value)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
    else:
        from monitor.digest.save import write_text

        write_text(out, text)
        err_console.print(f"Wrote {out}.", highlight=False)


def _storyline_action(store: Any, action: str, args: list[str]) -> str:
    from monitor import curation

    if action == "rename":
        if len(args) < 2:
            raise ConfigError("usage: monitor storyline rename ID TITLE")
        target = curation.rename(store, args[0], " ".join(args[1:]))
        return f"Renamed storyline {target}."
    if action == "merge":
        if len(args) != 2:
            raise ConfigError("usage: monitor storyline merge ID OTHER")
        moved = curation.merge(store, args[0], args[1])
        return f"Merged {args[1]} into {args[0]}: {moved} story(ies) moved."
    if action == "split":
        if len(args) < 2:
            raise ConfigError("usage: monitor storyline split ID STORY_ID...")
        new_id = curation.split(store, args[0], args[1:])
        return f"Split {len(args) - 1} story(ies) off {args[0]} into storyline {new_id}."
    if not args:
        raise ConfigError("usage: monitor storyline detach STORY_ID...")
    return f"Detached {curation.detach(store, args)} story(ies): they stand alone."


def _print_storyline_table(view: Any) -> None:
    s = view.summary
    console.print(
        f"{s.title}\n{s.storyline_id} · {_when(s.first_published_at)[:10]} to "
        f"{_when(s.last_published_at)[:10]} · {s.story_count} story(ies) · "
        f"{s.article_count} articles · {len(s.outlets)} outlets",
        highlight=False,
        markup=False,
    )
    table = Table("date", "story", "first in", "articles", "for", "against", "neutral", "")
    for t in view.stories:
        mix = t.row.stance_mix
        table.add_row(
            _when(t.row.first_published_at)[:10] or "undated",
            t.row.title,
            t.row.origin_outlet or "",
            str(t.row.article_count),
            str(mix["for_withdrawal"]),
            str(mix["against_withdrawal"]),
            str(mix["neutral"]),
            t.status,
        )
    console.print(table)
    since = f"since the previous digest ({_when(view.since)})" if view.since else "no digest yet"
    console.print(
        f"{view.new_stories} new, {view.grown_stories} grown {since}", style="dim", highlight=False
    )


@app.command()
@_clean_errors
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
    _setup_logging(verbose)
    settings = _settings(config, db)
    from flows.serve import serve_schedules

    def announce() -> None:
        err_console.print(
            f"Serving ingest ({settings.schedule.ingest_cron}) and digest "
            f"({settings.schedule.digest_cron}, {settings.schedule.timezone}) on "
            f"{settings.storage.db}{'; ingest starting now' if run_now else ''}. "
            "Ctrl-C or SIGTERM stops.",
            highlight=False,
            soft_wrap=True,
        )

    serve_schedules(settings, run_now=run_now, on_start=announce)
    err_console.print("Stopped.")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
