"""Fast bulk parameters for DuckDB: columns passed as one delimited string each.

DuckDB 1.x converts a Python list bound as a query parameter element by element, slowly (tens of
thousands of values take seconds). A single string is bound at once and `string_split` unpacks
it in SQL, which is cheap in every version. Values must not contain the control characters used
as separators (\\x1c-\\x1f), which hold for ids, URLs, hashes, numbers, dates and word terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from monitor.store import Connection, _table_columns

SEP = "\x1f"  # between values
NULL = "\x1e"  # a NULL value
ITEM = "\x1d"  # between the items of a list value

_SCALAR = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "DOUBLE", "TIMESTAMP", "BLOB"}


def joined(values: Iterable[Any]) -> str:
    """Values as one string for `unnest(string_split($n, chr(31)))` (see split_sql)."""
    return SEP.join(_encode(v) for v in values)


def split_sql(param: str) -> str:
    """SQL unpacking a joined() parameter into rows of VARCHAR."""
    return f"unnest(string_split({param}, chr(31)))"


def _encode(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list | tuple):
        return ITEM.join(str(v) for v in value)
    return str(value)


def _decode_sql(column: str, sql_type: str) -> str:
    if sql_type == "VARCHAR[]":
        return (
            f"CASE WHEN {column} = chr(30) THEN NULL WHEN {column} = '' THEN []::VARCHAR[] "
            f"ELSE string_split({column}, chr(29)) END"
        )
    if sql_type not in _SCALAR:
        raise ValueError(f"unsupported column type {sql_type}")
    value = f"nullif({column}, chr(30))"
    if sql_type == "VARCHAR":
        return value
    if sql_type == "BLOB":
        return f"unhex({value})"
    return f"CAST({value} AS {sql_type})"


def temp_table(
    con: Connection, name: str, columns: Sequence[tuple[str, str, Sequence[Any]]]
) -> int:
    """Create (or replace) TEMP table `name` from equal-length columns (name, SQL type, values)."""
    n = len(columns[0][2]) if columns else 0
    if any(len(values) != n for _, _, values in columns):
        raise ValueError("columns of different lengths")
    raw = ", ".join(f"{split_sql(f'${i + 1}')} AS c{i}" for i in range(len(columns)))
    decoded = ", ".join(
        f"{_decode_sql(f'c{i}', sql_type)} AS {col}" for i, (col, sql_type, _) in enumerate(columns)
    )
    where = "" if n else " WHERE false"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {decoded} FROM (SELECT {raw}){where}",
        [joined(values) for _, _, values in columns],
    )
    return n


def insert_columns(
    con: Connection,
    table: str,
    columns: Sequence[tuple[str, str, Sequence[Any]]],
    *,
    on_conflict: str = "",
) -> int:
    """Insert rows given as columns into `table`, through a temp table."""
    n = temp_table(con, "_bulk_rows", columns)
    if n:
        names = ", ".join(col for col, _, _ in columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _bulk_rows {on_conflict}")
    con.execute("DROP TABLE _bulk_rows")
    return n


_UNNEST_PARAM = re.compile(r"unnest\(\$(\d+)::([A-Z]+)\[\]\)")


def execute(con: Connection, sql: str, params: Sequence[Any] | None = None) -> Connection:
    """con.execute, with every `unnest($n::TYPE[])` list parameter bound as one joined string."""
    if not params:
        return con.execute(sql)

    def rewrite(match: re.Match[str]) -> str:
        index, sql_type = match.group(1), match.group(2)
        value = f"nullif(unnest(string_split(${index}, chr(31))), chr(30))"
        return value if sql_type == "VARCHAR" else f"CAST({value} AS {sql_type})"

    listed = {int(m.group(1)) - 1 for m in _UNNEST_PARAM.finditer(sql)}
    bound = [joined(p) if i in listed else p for i, p in enumerate(params)]
    return con.execute(_UNNEST_PARAM.sub(rewrite, sql), bound)


def insert_rows(
    con: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str = "",
) -> int:
    """store.insert_rows with the values bound as joined strings (fast on DuckDB 1.x)."""
    if not rows:
        return 0
    types = dict(_table_columns(con, table))
    data = [list(col) for col in zip(*rows, strict=True)]
    return insert_columns(
        con,
        table,
        [(col, types[col], values) for col, values in zip(columns, data, strict=True)],
        on_conflict=on_conflict,
    )
