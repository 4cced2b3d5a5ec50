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

Each snapshot starts as a file copy of the previous one (made within the last day): every table
is copied afresh but `core.articles`, whose texts are most of what is left, which is brought up
to date by the rows that changed (INCREMENTAL). On 100,000 articles that is a few seconds less
per run and per label (bench/bench_snapshot.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
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

#: Tables too big to copy afresh every time: the previous snapshot's copy is brought up to date
#: by the rows whose columns differ (the key, and columns never updated once inserted, which are
#: left out of the comparison: an article's text, stood for by its content hash and word count).
INCREMENTAL: dict[str, tuple[str, frozenset[str]]] = {
    "core.articles": ("article_id", frozenset({"text"})),
}
#: A snapshot older than this is built afresh rather than updated: what deleted rows leave in
#: the file does not pile up.
REBUILD_AFTER_S = 24 * 3600


def snapshot_path(db: Path) -> Path:
    """Where the snapshot of this database lives."""
    return db.with_name(f"{db.stem}.snapshot{db.suffix or '.duckdb'}")


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot: where, how big, how long it took, and whether it was updated from
    the previous one (else built afresh)."""

    path: Path
    bytes: int
    seconds: float
    tables: int
    views: int
    updated: bool


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def _names(con: Connection, database: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = ? AND NOT temporary ORDER BY schema_name, table_name",
        [database],
    ).fetchall()
    views = con.execute(
        "SELECT schema_name, view_name FROM duckdb_views() "
        "WHERE database_name = ? AND NOT internal AND NOT temporary",
        [database],
    ).fetchall()
    return tables, views


def _columns(con: Connection, database: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [database, schema, table],
    ).fetchall()


def _update_in_place(con: Connection, source: str, alias: str, schema: str, table: str) -> bool:
    """Bring the previous snapshot's copy of an INCREMENTAL table up to date by its changed
    rows only; False (nothing done) when its columns differ from the database's."""
    key, immutable = INCREMENTAL[f"{schema}.{table}"]
    columns = _columns(con, source, schema, table)
    if columns != _columns(con, alias, schema, table):
        return False
    name = f"{_quote(schema)}.{_quote(table)}"
    here, there = f"{_quote(source)}.{name}", f"{alias}.{name}"
    compared = ", ".join(_quote(c) for c, _ in columns if c not in immutable)
    changed = f"_snapshot_changed_{uuid.uuid4().hex[:8]}"
    con.execute(
        f"CREATE TEMP TABLE {changed} AS SELECT {_quote(key)} AS k FROM "
        f"(SELECT {compared} FROM {here} EXCEPT SELECT {compared} FROM {there})"
    )
    try:
        con.execute(
            f"DELETE FROM {there} WHERE {_quote(key)} IN (SELECT k FROM {changed}) "
            f"OR {_quote(key)} NOT IN (SELECT {_quote(key)} FROM {here})"
        )
        con.execute(
            f"INSERT INTO {there} SELECT * FROM {here} "
            f"WHERE {_quote(key)} IN (SELECT k FROM {changed})"
        )
    finally:
        con.execute(f"DROP TABLE {changed}")
    return True


def _copy(con: Connection, alias: str, *, incremental: bool) -> tuple[int, int]:
    """Copy the database's schemas, tables (but SKIPPED) and views into `alias`: every table
    afresh, except (`incremental`) the INCREMENTAL ones, which the previous snapshot (that
    `alias` starts as) holds already, brought up to date by their changed rows."""
    row = con.execute("SELECT current_database()").fetchone()
    source = str(row[0]) if row else "memory"
    tables, _ = _names(con, source)
    old_tables, old_views = _names(con, alias)
    for schema, view in old_views:
        con.execute(f"DROP VIEW {alias}.{_quote(schema)}.{_quote(view)}")
    wanted = {(s, t) for s, t in tables if f"{s}.{t}" not in SKIPPED}
    for schema, table in old_tables:
        kept = incremental and f"{schema}.{table}" in INCREMENTAL and (schema, table) in wanted
        if not kept:
            con.execute(f"DROP TABLE {alias}.{_quote(schema)}.{_quote(table)}")
    views = con.execute(
        "SELECT schema_name, view_name, sql FROM duckdb_views() "
        "WHERE database_name = ? AND NOT internal AND NOT temporary ORDER BY view_oid",
        [source],
    ).fetchall()
    for schema in sorted({s for s, _ in tables} | {s for s, _, _ in views} - {"main"}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {alias}.{_quote(schema)}")
    copied = 0
    for schema, table in tables:
        if (schema, table) not in wanted:
            continue
        name = f"{_quote(schema)}.{_quote(table)}"
        updated = (
            (schema, table) in old_tables and incremental and (f"{schema}.{table}" in INCREMENTAL)
        )
        if updated and _update_in_place(con, source, alias, schema, table):
            copied += 1
            continue
        con.execute(f"DROP TABLE IF EXISTS {alias}.{name}")
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


def _previous(target: Path) -> Path | None:
    """The snapshot to start from, if there is a recent one (else it is built afresh)."""
    try:
        age = time.time() - target.stat().st_mtime
    except OSError:
        return None
    return target if 0 <= age < REBUILD_AFTER_S else None


def publish(store: Store) -> Snapshot:
    """Write the snapshot of the store's database aside and rename it into place."""
    started = time.perf_counter()
    target = snapshot_path(store.path)
    aside = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with store.read_write() as con:
            try:
                previous = _previous(target)
                if previous is not None:
                    shutil.copyfile(previous, aside)
                    os.chmod(aside, 0o644)
                updated = previous is not None
                con.execute(f"ATTACH '{_literal(aside)}' AS {_ALIAS}")
                try:
                    tables, views = _copy(con, _ALIAS, incremental=updated)
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
    seconds = time.perf_counter() - started
    snapshot = Snapshot(target, target.stat().st_size, seconds, tables, views, updated)
    log.info(
        "published %s (%s): %d tables, %d views, %.1f MB in %.2fs",
        target,
        "updated" if updated else "afresh",
        tables,
        views,
        snapshot.bytes / 1e6,
        snapshot.seconds,
    )
    return snapshot
