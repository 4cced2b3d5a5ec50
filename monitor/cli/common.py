"""What every command shares: consoles, the --config/--db/-v options, one-line errors, logging,
settings, and tables, CSV and JSON printed the same way everywhere."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperGroup

from monitor.errors import ConfigError, MonitorError
from monitor.settings import Settings, load_settings

if TYPE_CHECKING:
    from monitor.store import Store

# Names are printed as they are: no rich markup, no :emoji: codes, no highlighting (a seed
# called ":tv: [red]x.txt" prints as just that).
console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("monitor.cli")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="Config file (else $MONITOR_CONFIG, else ./monitor.toml).",
    ),
]
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        metavar="PATH",
        help="DuckDB file (default: the config's, else data/monitor.duckdb).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show progress logs.")]


#: Longer than this, a choice's values go into its help text and the metavar is its name.
MAX_CHOICE_METAVAR = 24


class _Argument(TyperArgument):
    """An argument shown by its metavar alone."""

    def display_type_rich(self, ctx: Any) -> str | None:
        """No type tag: the metavar (ARTICLE_ID, relevant|irrelevant) says what to type."""
        return None


def _choices(param: Any) -> list[str]:
    descriptor = getattr(param, "type_descriptor", None)
    found = getattr(descriptor, "choices", None) or getattr(
        getattr(param, "type", None), "choices", None
    )
    found = found or ()
    return [str(getattr(c, "value", c)) for c in found]


def plain_help(command: Any) -> None:
    """Help that says what to type: a metavar for every parameter that has none (a flag takes
    nothing, a short choice lists its values, anything else is its NAME), and no type tags.

    Typer's own help shows the Python type of each parameter (`<str>`, `<bool>`,
    `<list[Path]>`), folded mid-word when long; a metavar replaces the tag where it is set.
    """
    params = list(command.params)
    helper = command.get_help_option(command.context_class(command))
    for param in [*params, *([helper] if helper is not None else [])]:
        if isinstance(param, TyperArgument) and not isinstance(param, _Argument):
            param.__class__ = _Argument
        if param.metavar is not None:
            continue
        choices = _choices(param)
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif choices and len("|".join(choices)) <= MAX_CHOICE_METAVAR:
            param.metavar = "|".join(choices)
        else:
            param.metavar = (param.name or "value").upper()
            if choices and param.help and not all(c in param.help for c in choices):
                param.help = f"{param.help} One of: {', '.join(choices)}."


class HelpGroup(TyperGroup):
    """The `monitor` command group: its commands' help says what to type (`plain_help`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for command in (self, *self.commands.values()):
            plain_help(command)


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOpt = Annotated[TableFormat, typer.Option("--format", help="Output format.")]


def clean_errors(fn: F) -> F:
    """Turn MonitorError into a one-line message and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MonitorError as exc:
            kind = "configuration error" if isinstance(exc, ConfigError) else "error"
            err_console.print(Text.assemble((f"{kind}:", "red"), f" {exc}"), soft_wrap=True)
            if log.isEnabledFor(logging.INFO):  # -v: the detail, after the one line
                log.info("detail of the error above", exc_info=exc)
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


def setup_logging(verbose: bool, *, service: bool = False) -> None:
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


def existing_store(config: Path | None, db: Path | None) -> tuple[Settings, Store]:
    """The settings and the database of a command that needs a database already there (it
    may write, but never into one it would create); console logging for a read command."""
    from monitor.store import Store

    setup_logging(False)
    settings = settings_for(config, db)
    return settings, Store.existing(settings.storage)


def settings_for(config: Path | None, db: Path | None, **kwargs: Any) -> Settings:
    return load_settings(config, db=db, **kwargs)


def when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


#: How a list of plain values reads in a CSV cell or a table: `Al Jazeera; FRANCE 24; RT`.
LIST_SEPARATOR = "; "


def cell(value: Any) -> str:
    """A value as text in one CSV or table cell: NULL empty, a list of plain values joined
    with "; ", a nested list or a struct as JSON, anything else as text."""
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, list) and all(
        v is None or isinstance(v, str | int | float | bool) for v in value
    ):
        return LIST_SEPARATOR.join("" if v is None else cell(v) for v in value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: TableFormat) -> None:
    """Rows as a table fitting the terminal, CSV (lists as `a; b; c`) or JSON (lists as lists)."""
    if fmt is TableFormat.json:
        data = [dict(zip(columns, map(jsonable, row), strict=True)) for row in rows]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    elif fmt is TableFormat.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[cell(v) for v in row] for row in rows])
        sys.stdout.write(buf.getvalue())
    else:
        print_table(columns, [[cell(v) for v in r] for r in rows])
        console.print(f"{len(rows)} row(s)", style="dim")


def print_records(records: Sequence[Any], fmt: TableFormat, record_type: type[Any]) -> None:
    """Dataclass records as CSV or JSON, every field a column (in the type's order)."""
    columns = [f.name for f in fields(record_type)]
    print_rows(columns, [tuple(getattr(r, c) for c in columns) for r in records], fmt)


#: Narrower than this a column's cells would be cut to "art…": then one block per row instead.
MIN_COLUMN_WIDTH = 12


def print_table(columns: list[str], rows: list[list[str]]) -> None:
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
