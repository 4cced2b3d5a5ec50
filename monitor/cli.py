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
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.errors import ConfigError, MonitorError, RunLocked, StoreError
from monitor.settings import Settings, load_settings

app = typer.Typer(
    help="iraq-troop-monitor: ingest, deduplicate and classify news on the US / coalition "
    "troop presence in Iraq; write digests; query with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Names are printed as they are: no rich markup, no :emoji: codes, no highlighting (a seed
# called ":tv: [red]x.txt" prints as just that).
console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

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
            err_console.print(Text.assemble((f"{kind}:", "red"), f" {exc}"), soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


class _LibraryOnly(logging.Filter):
    """Without -v: the library's warnings reach the console, Prefect's records do not.

    A flow that fails logs the exception with its traceback (prefect.flow_runs, ERROR); the
    command reports the failure itself, in one line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name.split(".", 1)[0] in ("monitor", "flows")
        return ours or record.levelno >= logging.CRITICAL


def _setup_logging(verbose: bool, *, service: bool = False) -> None:
    """Console logging: INFO and everything with -v; else the library's warnings only.

    A service (`serve`) keeps Prefect's own warnings and errors on its console too.
    """
    level = logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose and not service:
        handler.addFilter(_LibraryOnly())
    logging.basicConfig(level=level, handlers=[handler])
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
        float,
        typer.Option(
            "--wait", min=0, help="Seconds to wait if another run holds the database (>= 0)."
        ),
    ] = 0,
    verbose: VerboseOpt = False,
) -> None:
    """Run one ingest as a Prefect flow: seeds and sources -> extract -> dedup -> classify."""
    _setup_logging(verbose)
    settings = _settings(config, db, seeds=seeds)
    started = time.monotonic()
    with console.status("Ingesting…", spinner="dots"):
        from flows.api import keep_minutes, local_api
        from flows.ingest import ingest_flow

        keep = keep_minutes(settings.runner.keep_api_minutes)
        with local_api(keep=keep, heartbeats=False) as api:
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
    if api.origin == "started-kept":
        console.print(
            f"Prefect API kept at {api.url} for later runs "
            f"(stops after {keep:g} min unused; [runner] keep_api_minutes)."
        )


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _print_summary(summary: dict[str, Any], settings: Settings, elapsed: float) -> None:
    """The run's counts, then failures counted by reason (details: `monitor sources`, SQL)."""
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
            f"Run {summary['run_id']}: {new} new, {dups} duplicates, "
            f"{failed} failed, {relevant} relevant. ({elapsed:.1f}s)"
        )
    extra = []
    if summary.get("not_modified"):
        extra.append(f"{summary['not_modified']} not modified")
    if summary.get("skipped"):
        extra.append(f"{summary['skipped']} skipped")
    if extra:
        console.print("Also: " + ", ".join(extra) + ".")
    sources_failed: dict[str, int] = summary.get("sources_failed") or {}
    if sources_failed:
        console.print(
            f"{_plural(sum(sources_failed.values()), 'source')} failed: "
            f"{_counted(sources_failed)}; see `monitor sources`.",
            style="yellow",
        )
    not_due: dict[str, int] = summary.get("sources_not_due") or {}
    if not_due:
        console.print(
            f"{_plural(sum(not_due.values()), 'source')} not due: {_counted(not_due)}."
            if len(not_due) > 1
            else f"{_plural(sum(not_due.values()), 'source')} {next(iter(not_due))}, not due."
        )
    for problem in summary.get("seed_problems") or []:
        console.print(f"Seed skipped: {problem}", style="yellow")
    pages_failed: dict[str, int] = summary.get("pages_failed") or {}
    if pages_failed:
        console.print(
            f"{_plural(sum(pages_failed.values()), 'page')} failed: {_counted(pages_failed)}; "
            "see `monitor sql \"SELECT url, error FROM fetches WHERE outcome = 'error'\"`.",
            style="yellow",
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
    store = Store.existing(settings.storage)
    # A digest is recorded (for the next `--since last`) only where it can be; reading a
    # database needs no write access.
    record = store.writable()
    result = write_digest(
        store,
        since=parse_since(since),
        fmt=fmt.value,
        out=out,
        include_all=include_all,
        record=record,
    )
    if not record:
        err_console.print(
            f"note: {store.path} is read-only here, so this digest is not recorded "
            "(the next `--since last` starts after the last recorded one).",
            highlight=False,
            soft_wrap=True,
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
    store = Store.existing(settings.storage)
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
    store = Store.existing(settings.storage)
    health = source_health(store, settings)
    if fmt is not TableFormat.table:
        rows = [asdict(h) for h in health]
        columns = list(rows[0]) if rows else []
        _print_rows(columns, [tuple(r.values()) for r in rows], fmt)
        return
    table_rows = [
        [
            h.name,
            h.state,
            str(h.consecutive_failures),
            _when(h.next_due_at),
            ": ".join(p for p in (h.last_error_kind, h.last_error) if p)
            or (f"cut off: {h.last_cutoff}" if h.last_cutoff else ""),
        ]
        for h in health
    ]
    _print_table(["source", "state", "failures", "next due", "last error or cut-off"], table_rows)
    console.print(
        f"{len(health)} source(s); every field (kind, last fetch, last success ...): --format json",
        style="dim",
    )


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
    """Relevance, event types, stance, stories, storylines and dates on a labelled folder,
    measured on its articles served as web pages and ingested for real (with and without dates)."""
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
    store = Store.existing(settings.storage)  # it writes, but never into a database it would create
    with console.status("Reclassifying…"):
        count = run_reclassify(store, settings, only_outdated=only_outdated)
    console.print(f"Reclassified {count} article(s).")


class Verdict(StrEnum):
    relevant = "relevant"
    irrelevant = "irrelevant"


class StanceChoice(StrEnum):
    for_withdrawal = "for_withdrawal"
    against_withdrawal = "against_withdrawal"
    neutral = "neutral"


@app.command()
@_clean_errors
def label(
    article_id: Annotated[
        str | None, typer.Argument(help="The article to label (its article_id).")
    ] = None,
    verdict: Annotated[
        Verdict | None, typer.Argument(help="relevant or irrelevant.", show_default=False)
    ] = None,
    stance: Annotated[
        StanceChoice | None,
        typer.Option("--stance", help="The article's stance (else the classifier's stands)."),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why, for the record.")] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="A CSV file with columns article_id, relevant, stance, note."),
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """An analyst's label: it wins over the classifier and teaches it (monitor train)."""
    _setup_logging(False)
    from monitor.labelling import apply_labels, make_label, read_label_csv
    from monitor.store import Store

    if from_file is not None:
        if article_id is not None or verdict is not None or stance or note:
            raise typer.BadParameter("--from takes no ARTICLE_ID, verdict, --stance or --note")
        labels = read_label_csv(from_file)
    elif article_id is None or verdict is None:
        raise typer.BadParameter("give ARTICLE_ID and relevant|irrelevant, or --from FILE.csv")
    else:
        labels = [make_label(article_id, verdict.value, stance.value if stance else None, note)]
    settings = _settings(config, db)
    store = Store.existing(settings.storage)
    result = apply_labels(store, settings, labels)
    console.print(
        f"Labelled {result.labelled} article(s) ({result.relevant} relevant); "
        "the labels win in the articles view. `monitor train` teaches them to the classifier."
    )


@app.command()
@_clean_errors
def train(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            help="Labelled folder like ../shared/data/eval (repeatable); default: the "
            "examples the packaged model was trained on.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the model (default: [classify] model)."),
    ] = None,
    no_labels: Annotated[
        bool, typer.Option("--no-labels", help="Leave the analysts' labels out.")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Refit the learned part of relevance on labelled folders plus the analysts' labels."""
    _setup_logging(verbose)
    from monitor.training import train as run_training

    settings = _settings(config, db)
    target = out or settings.classify.model
    if target is None:
        raise ConfigError(
            "say where the model goes: --out FILE, or classify.model in the config "
            '(model = "FILE" in its classify section: the classifier reads it from there; '
            "the packaged model is read-only)"
        )
    with console.status("Training…"):
        report = run_training(settings, out=target, data=data or (), analyst_labels=not no_labels)
    console.print(report.render(), highlight=False, soft_wrap=True, markup=False)
    if settings.classify.model is None or settings.classify.model.resolve() != target.resolve():
        console.print(
            f'To use it: [classify] model = "{target}" in the config, then '
            "monitor reclassify --only-outdated.",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            "The classifier uses it now; monitor reclassify --only-outdated updates the archive.",
            highlight=False,
        )


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
        _print_table(columns, [["" if v is None else str(_jsonable(v)) for v in r] for r in rows])
        console.print(f"{len(rows)} row(s)", style="dim")


#: Narrower than this a column's cells would be cut to "art…": then one block per row instead.
MIN_COLUMN_WIDTH = 12


def _print_table(columns: list[str], rows: list[list[str]]) -> None:
    """A table as wide as the terminal: whole cells if they fit, wrapped cells if every column
    can still get MIN_COLUMN_WIDTH, else one block per row (name, then value, wrapped)."""
    natural = [
        max([cell_len(name), *(max(map(cell_len, r[i].splitlines() or [""])) for r in rows)])
        for i, name in enumerate(columns)
    ]
    width = console.width
    # A rich table's borders and padding: one character, plus three per column.
    if 1 + sum(w + 3 for w in natural) <= width or not columns:
        table = Table(*columns)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    elif 1 + sum(min(w, MIN_COLUMN_WIDTH) + 3 for w in natural) <= width:
        table = Table(*columns, show_lines=True)
        for column, w in zip(table.columns, natural, strict=True):
            if w <= MIN_COLUMN_WIDTH:  # narrow columns keep their width; wide ones wrap
                column.no_wrap = True
                column.min_width = w
            else:
                column.overflow = "fold"
                column.min_width = MIN_COLUMN_WIDTH
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        label = max(map(cell_len, columns))
        for number, row in enumerate(rows, 1):
            console.rule(f"row {number}", align="left", style="dim")
            block = Table.grid(padding=(0, 2))
            block.add_column(style="bold", no_wrap=True, min_width=label)
            block.add_column(overflow="fold")
            for name, value in zip(columns, row, strict=True):
                block.add_row(name, value)
            console.print(block)


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
    store = Store.existing(settings.storage)
    with store.read() as con:
        lines = storyline_store.summaries(con)
    if fmt is not TableFormat.table:
        rows = [asdict(line) for line in lines]
        columns = list(rows[0]) if rows else list(storyline_store.Summary.__dataclass_fields__)
        _print_rows(columns, [tuple(r.values()) for r in rows], fmt)
        return
    _print_table(
        ["storyline", "title", "from", "to", "stories", "articles", "outlets"],
        [
            [
                line.storyline_id,
                line.title,
                _when(line.first_published_at)[:10],
                _when(line.last_published_at)[:10],
                str(line.story_count),
                str(line.article_count),
                str(len(line.outlets)),
            ]
            for line in lines
        ],
    )
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
    store = Store.existing(settings.storage)
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
        from monitor.digest.save import write_file

        write_file(out, text)
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
    rows = []
    for t in view.stories:
        mix = t.row.stance_mix
        rows.append(
            [
                _when(t.row.first_published_at)[:10] or "undated",
                t.row.title,
                t.row.origin_outlet or "",
                str(t.row.article_count),
                str(mix["for_withdrawal"]),
                str(mix["against_withdrawal"]),
                str(mix["neutral"]),
                t.status,
            ]
        )
    _print_table(
        ["date", "story", "first in", "articles", "for", "against", "neutral", "new?"], rows
    )
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
    _setup_logging(verbose, service=True)
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
    """Console-script entry point: a usage error (bad option or value) is one line too."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `monitor` alone: the help
            show: Callable[[], None] = exc.show  # type: ignore[attr-defined]
            show()
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        err_console.print(f"usage error: {message}{where}", highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
