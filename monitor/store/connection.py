"""The DuckDB file: brief connections, closed deterministically, that wait out another process.

DuckDB lets one process write a file and refuses every other process meanwhile ("Could not set
lock on file"). So no connection is held for long: each write opens, runs one transaction,
commits and closes; each read opens read-only and closes. Both retry with backoff while another
process holds the lock, so `monitor digest` and `monitor sql` started during an ingest wait a
moment and then succeed. Every connection is a context manager's and is closed on the way out:
none is left for the interpreter to collect at exit (DuckDB 2 reports such leaks on stderr).

Only the writer (an ingest run) creates the file and migrates it (`Store.migrate`); readers open
an existing, current database or fail with one line (`Store.require_current`).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from monitor.errors import QueryRefused, StoreError, StoreLocked, StoreMissing, StoreOutdated
from monitor.store import migrations

if TYPE_CHECKING:
    from monitor.settings import StorageSettings

log = logging.getLogger(__name__)

Connection = duckdb.DuckDBPyConnection

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")


def _is_lock_error(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def utcnow() -> datetime:
    """Naive UTC now, the form every TIMESTAMP column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (DuckDB's carry hints on further lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def query_error(exc: BaseException) -> str:
    """DuckDB's whole message on a user's query: the error, its hint ("Did you mean ...",
    "Candidate bindings: ...") and the pointer into the query (`LINE 1: ...` over `^^^`)."""
    lines = [line.rstrip() for line in str(exc).strip().splitlines()]
    return "\n".join(line for line in lines if line) or type(exc).__name__


#: DuckDB's own locks on a user's query: no file but the database itself, no extension
#: installed or loaded (INSTALL would go to the network), no setting changed afterwards.
USER_QUERY_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "lock_configuration": True,
}

_READS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_WHY = {
    "COPY": "COPY writes (or reads) files",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the attached databases",
    "LOAD": "INSTALL and LOAD add extensions",
    "SET": "SET, RESET and USE change settings",
    "VARIABLE_SET": "SET VARIABLE changes settings",
    "PRAGMA": "PRAGMA can change settings or import (for a table's columns: DESCRIBE name)",
    "CALL": "CALL runs procedures (for a read, SELECT * FROM the function)",
    "TRANSACTION": "transactions are for writers",
}
_READ_HINT = "SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"


def check_user_query(sql: str) -> duckdb.Statement:
    """The one read statement of a user's query; QueryRefused (why, in one line) otherwise."""
    if not sql.strip():
        raise QueryRefused(f"empty query: give one statement ({_READ_HINT})")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(query_error(exc)) from exc
    if not statements:
        raise QueryRefused(f"empty query (only comments?): give one statement ({_READ_HINT})")
    for number, statement in enumerate(statements, 1):
        if statement.type in _READS:
            continue
        kind = statement.type.name
        which = f"statement {number} of {len(statements)} ({kind})" if number > 1 else kind
        why = _WHY.get(kind, f"{kind} changes the database")
        raise QueryRefused(
            f"refused {which}: {why}; `monitor sql` is read-only (it runs {_READ_HINT})"
        )
    if len(statements) > 1:
        raise QueryRefused(f"one statement at a time: the query has {len(statements)}")
    return statements[0]


class Store:
    """A DuckDB file, opened briefly for each read or write."""

    def __init__(self, path: Path, *, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @classmethod
    def of(cls, storage: StorageSettings) -> Store:
        """The store the config's `[storage]` names."""
        return cls(storage.db, lock_timeout_s=storage.lock_timeout_s)

    @classmethod
    def existing(cls, storage: StorageSettings) -> Store:
        """For readers: the configured store, which must exist and be current (else one line
        saying what to do, see `require_current`)."""
        store = cls.of(storage)
        store.require_current()
        return store

    def _connect(self, *, read_only: bool, config: dict[str, Any] | None = None) -> Connection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=config or {})
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise StoreError(
                        f"cannot open database {self.path}: {first_line(exc)}"
                    ) from exc
                if time.monotonic() >= deadline:
                    from monitor.store.snapshot import snapshot_path

                    raise StoreLocked(
                        f"database {self.path} stayed locked by another process for "
                        f"{self.lock_timeout_s:g}s (a DuckDB session left open on it? "
                        f"open the snapshot {snapshot_path(self.path)} instead: "
                        "it never stands in a run's way)"
                    ) from exc
                log.debug("database %s is locked, retrying in %.2fs", self.path, delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)

    def migrate(self) -> list[str]:
        """Create the file if needed and apply pending migrations; return their names."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}") from exc
        con = self._connect(read_only=False)
        try:
            return migrations.migrate(con, utcnow())
        except duckdb.Error as exc:
            raise StoreError(f"cannot prepare database {self.path}: {first_line(exc)}") from exc
        finally:
            con.close()

    def require_current(self) -> None:
        """For readers: the file exists and has every migration; else one line saying what to do."""
        if not self.path.exists():
            raise StoreMissing(f"no database at {self.path} yet: run `monitor run` first")
        with self.read() as con:
            try:
                missing = migrations.pending(con)
            except duckdb.Error as exc:
                raise StoreError(f"cannot read database {self.path}: {first_line(exc)}") from exc
        if missing:
            raise StoreOutdated(
                f"database {self.path} was written by an older version ({len(missing)} schema "
                "step(s) behind): run `monitor run` once to upgrade it"
            )

    def writable(self) -> bool:
        """Whether this process may write the file (and its folder, where DuckDB puts its WAL)."""
        folder = self.path.parent
        try:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                return False
        except OSError:
            return False
        return os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction on a briefly held read-write connection."""
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except duckdb.Error as exc:
            raise StoreError(f"write to {self.path} failed: {first_line(exc)}") from exc
        finally:
            con.close()

    @contextmanager
    def read_write(self) -> Iterator[Connection]:
        """A briefly held read-write connection without a transaction (for the writer process).

        A process that writes uses this for its own reads: DuckDB refuses a read-only
        connection in a process that has the file open read-write.
        """
        con = self._connect(read_only=False)
        try:
            yield con
        except duckdb.Error as exc:
            raise StoreError(f"read of {self.path} failed: {first_line(exc)}") from exc
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A briefly held read-only connection; the database must exist (it is never created)."""
        if not self.path.exists():
            raise StoreMissing(f"no database at {self.path} yet: run `monitor run` first")
        con = self._connect(read_only=True)
        try:
            yield con
        except duckdb.Error as exc:
            raise StoreError(f"read of {self.path} failed: {first_line(exc)}") from exc
        finally:
            con.close()

    def user_query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A user's query (`monitor sql`): one read statement, on a locked-down connection.

        Two guards, each enough alone: the statement must be a read (`check_user_query`), and
        the connection is read-only with DuckDB's file system, extension loading and settings
        locked (`USER_QUERY_CONFIG`), so not even a read can reach a file or the network.
        """
        statement = check_user_query(sql)
        if not self.path.exists():
            raise StoreMissing(f"no database at {self.path} yet: run `monitor run` first")
        con = self._connect(read_only=True, config=USER_QUERY_CONFIG)
        try:
            cursor = con.execute(statement)
            columns = [d[0] for d in cursor.description or []]
            return columns, cursor.fetchall()
        except duckdb.PermissionException as exc:
            raise QueryRefused(
                f"refused: {first_line(exc).removeprefix('Permission Error: ')} "
                "(`monitor sql` reads the database only)"
            ) from exc
        except duckdb.Error as exc:
            raise StoreError(query_error(exc)) from exc
        finally:
            con.close()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read-only query and return all rows."""
        with self.read() as con:
            try:
                return con.execute(sql, params or []).fetchall()
            except duckdb.Error as exc:
                raise StoreError(first_line(exc)) from exc
