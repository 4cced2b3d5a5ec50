"""The one bulk path between Python and DuckDB: Arrow tables.

Every multi-row insert, id list and join parameter goes through here: the values become a
pyarrow table, registered on the connection under a fresh name for the statements that use it,
and unregistered afterwards. DuckDB scans Arrow memory directly (no value-by-value conversion),
and any value, separators and NULLs included, travels as itself.

    with bulk.rows(con, {"article_id": ids}) as table:
        con.execute(f"DELETE FROM core.quotes WHERE article_id IN (SELECT article_id FROM {table})")

    bulk.insert(con, "core.fetches", {"url": urls, "source": sources, ...})
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

_names = itertools.count()

Columns = Mapping[str, Sequence[Any] | pa.Array]


def table(columns: Columns) -> pa.Table:
    """An Arrow table of equal-length columns (types inferred; DuckDB casts on insert)."""
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return pa.table(
        {
            name: values if isinstance(values, pa.Array) else pa.array(list(values))
            for name, values in columns.items()
        }
    )


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string column that may be all NULL (Arrow would infer the null type)."""
    return pa.array(list(values), type=pa.string())


def floats(values: Sequence[float | None]) -> pa.Array:
    """A float column that may be all NULL."""
    return pa.array(list(values), type=pa.float64())


@contextmanager
def rows(con: duckdb.DuckDBPyConnection, columns: Columns) -> Iterator[str]:
    """Register the columns as a table for the statements in the block; yield its name."""
    name = f"_arrow_{next(_names)}"
    # DuckDB 2 streams results: what the connection ran last is run to its end first, and so
    # is what the block ran, before the table goes away.
    con.complete()
    con.register(name, table(columns))
    try:
        yield name
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # the statement's own error is the one to see
            con.unregister(name)
        raise
    con.complete()
    con.unregister(name)


def insert(
    con: duckdb.DuckDBPyConnection, target: str, columns: Columns, *, on_conflict: str = ""
) -> int:
    """Insert rows given as columns into `target` in one statement; return the row count."""
    count = len(next(iter(columns.values()), ()))
    if not count:
        return 0
    names = ", ".join(columns)
    with rows(con, columns) as source:
        con.execute(
            f"INSERT INTO {target} ({names}) SELECT {names} FROM {source} {on_conflict}"
        ).fetchall()
    return count


def select(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    columns: Columns,
    params: Sequence[Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Run `sql` with `{rows}` standing for the registered columns; return all rows."""
    with rows(con, columns) as source:
        return con.execute(sql.replace("{rows}", source), params or []).fetchall()


def execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    columns: Columns,
    params: Sequence[Any] | None = None,
) -> None:
    """Run a statement with `{rows}` standing for the registered columns."""
    with rows(con, columns) as source:
        con.execute(sql.replace("{rows}", source), params or []).fetchall()
