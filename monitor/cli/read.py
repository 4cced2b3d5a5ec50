"""The commands that read the database: `monitor digest`, `monitor sql`, `monitor sources`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    FormatOpt,
    TableFormat,
    clean_errors,
    console,
    err_console,
    existing_store,
    print_records,
    print_rows,
    print_table,
    when,
)


class DigestFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"
    csv = "csv"


@clean_errors
def digest(
    config: ConfigOpt = None,
    db: DbOpt = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE|last",
            help="A date (YYYY-MM-DD) or 'last' (since the previous digest).",
        ),
    ] = None,
    fmt: Annotated[DigestFormat, typer.Option("--format", help="Output format.")] = DigestFormat.md,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write to this file instead of stdout."),
    ] = None,
    include_all: Annotated[
        bool, typer.Option("--all", help="Include stories not classified as relevant.")
    ] = False,
) -> None:
    """Write a digest of relevant stories, newest first."""
    from monitor.digest import parse_since, write_digest

    _, store = existing_store(config, db)
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


@clean_errors
def sql(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="SQL to run against the database (read-only).")
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Run a read-only query; the views are documented in docs/schema.md."""
    _, store = existing_store(config, db)
    columns, rows = store.user_query(query)
    print_rows(columns, rows, fmt)


@clean_errors
def sources(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Configured sources with their health: last fetch, last error, failures, next due."""
    from monitor.health import SourceHealth, source_health

    settings, store = existing_store(config, db)
    health = source_health(store, settings)
    if fmt is not TableFormat.table:
        print_records(health, fmt, SourceHealth)
        return
    table_rows = [
        [
            h.name,
            h.state,
            str(h.consecutive_failures),
            when(h.next_due_at),
            ": ".join(p for p in (h.last_error_kind, h.last_error) if p)
            or (f"cut off: {h.last_cutoff}" if h.last_cutoff else ""),
        ]
        for h in health
    ]
    print_table(["source", "state", "failures", "next due", "last error or cut-off"], table_rows)
    console.print(
        f"{len(health)} source(s); every field (kind, last fetch, last success ...): --format json",
        style="dim",
    )
