"""The read-only snapshot of a database that readers open: `<db stem>.snapshot.duckdb` beside it
(for `data/monitor.duckdb`: `data/monitor.snapshot.duckdb`).

DuckDB lets one process write a file and no other process open it meanwhile, not even to read:
a DuckDB shell, DBeaver or a notebook left open on the database would stop every ingest. So
after each run and each label the writer publishes a copy for them. The copy is written beside
the snapshot under a temporary name and renamed over it: a session holding the old snapshot
open keeps reading the old file (on Linux the old file lives on until its last reader closes
it) and never stands in a writer's way. The copy is made inside one read-write connection of
the database, so it is consistent (no other process can write meanwhile) and snapshots land
in the order their contents were taken.

It holds every view (`articles`, `stories` ...) and the tables they read; left out are the
working tables of deduplication and story clustering and the raw pages (`SKIPPED`), which no
view reads and which are most of the file. The file is made read-only (mode 0444).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from monitor.errors import StoreError
from monitor.store.connection import Connection, Store, first_line

log = logging.getLogger(__name__)

#: Tables not copied: deduplication's and clustering's working state and the raw HTML.
SKIPPED = frozenset(
    {
        "core.raw_pages",
        "core.minhash",
        "core.lsh_bands",
        "core.story_features",
        "core.story_terms",
        "core.term_df",
        "core.http_cache",
    }
)
_ALIAS = "monitor_snapshot"


def snapshot_path(db: Path) -> Path:
    """Where the snapshot of this database lives."""
    return db.with_name(f"{db.stem}.snapshot{db.suffix or '.duckdb'}")


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot: where, how big, how long it took."""

    path: Path
    bytes: int
    seconds: float
    tables: int
    views: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def _copy(con: Connection, alias: str) -> tuple[int, int]:
    """Copy the database's schemas, tables (but SKIPPED) and views into `alias`."""
    row = con.execute("SELECT current_database()").fetchone()
    source = str(row[0]) if row else "memory"
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = ? AND NOT temporary ORDER BY schema_name, table_name",
        [source],
    ).fetchall()
    views = con.execute(
        "SELECT schema_name, view_name, sql FROM duckdb_views() "
        "WHERE database_name = ? AND NOT internal AND NOT temporary ORDER BY view_oid",
        [source],
    ).fetchall()
    schemas = {s for s, _ in tables} | {s for s, _, _ in views}
    for schema in sorted(schemas - {"main"}):
        con.execute(f"CREATE SCHEMA {alias}.{_quote(schema)}")
    copied = 0
    for schema, table in tables:
        if f"{schema}.{table}" in SKIPPED:
            continue
        name = f"{_quote(schema)}.{_quote(table)}"
        con.execute(f"CREATE TABLE {alias}.{name} AS FROM {_quote(source)}.{name}")
        copied += 1
    # A view's SQL names its tables without a database: created with the snapshot as the
    # default database, it reads the snapshot's own copies. A view may read another view:
    # what fails for want of one is tried again once that one exists.
    con.execute(f"USE {alias}")
    try:
        waiting = [(schema, sql) for schema, _, sql in views]
        while waiting:
            failed: list[tuple[str, str]] = []
            for schema, sql in waiting:
                try:
                    con.execute(f"USE {alias}.{_quote(schema)}")
                    con.execute(sql)
                except duckdb.CatalogException:
                    failed.append((schema, sql))
            if len(failed) == len(waiting):
                raise StoreError(f"snapshot: cannot recreate view: {failed[0][1][:80]}")
            waiting = failed
    finally:
        con.execute(f"USE {_quote(source)}")
    return copied, len(views)


def publish(store: Store) -> Snapshot:
    """Write the snapshot of the store's database aside and rename it into place."""
    started = time.perf_counter()
    target = snapshot_path(store.path)
    aside = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with store.read_write() as con:
            try:
                con.execute(f"ATTACH '{_literal(aside)}' AS {_ALIAS}")
                try:
                    tables, views = _copy(con, _ALIAS)
                finally:
                    con.execute(f"DETACH {_ALIAS}")
                os.chmod(aside, 0o444)
                # Renamed while the database is still held: snapshots land in the order taken.
                os.replace(aside, target)
            except (duckdb.Error, OSError) as exc:
                message = first_line(exc) if isinstance(exc, duckdb.Error) else str(exc)
                raise StoreError(f"cannot publish the snapshot {target}: {message}") from exc
    finally:
        for leftover in (aside, aside.with_name(aside.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    snapshot = Snapshot(target, target.stat().st_size, time.perf_counter() - started, tables, views)
    log.info(
        "published %s: %d tables, %d views, %.1f MB in %.2fs",
        target,
        tables,
        views,
        snapshot.bytes / 1e6,
        snapshot.seconds,
    )
    return snapshot
