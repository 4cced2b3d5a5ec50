"""Where the reader reads and writes.

Reads come from the snapshot (`<db stem>.snapshot.duckdb`), which a run never waits for, kept
open read-only until a newer one is renamed into place; before the first snapshot exists they
come from the database itself, through brief read-only connections. Writes (read marks,
labels) go to the database.

The reading list is answered from a working set: every story's row (`store.reader.story_rows`)
loaded once per snapshot into an in-memory DuckDB, where filters and facet counts take a few
milliseconds even for 100,000 articles. Read marks written by this process are applied to the
working set at once (and kept over a reload until the next snapshot has them).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from monitor.digest.model import StorylineRef
from monitor.errors import StoreError
from monitor.store import Connection, Store, utcnow
from monitor.store import reader as reader_store
from monitor.store.snapshot import snapshot_path

log = logging.getLogger(__name__)

PAGE_SIZE = 50
FACET_LIMIT = 12
FACETS = ("outlet", "language", "event", "stance", "storyline", "month")
STANCE_ORDER = ("for_withdrawal", "against_withdrawal", "neutral")

# How each facet is counted and filtered in the working set `s`.
_FACET_VALUES = {
    "outlet": "unnest(outlets)",
    "language": "unnest(languages)",
    "event": "unnest(topics)",
    "stance": "unnest(stances)",
    "storyline": "storyline_id",
    "month": "strftime(last_at, '%Y-%m')",
}
_FACET_FILTER = {
    "outlet": "list_contains(outlets, ?)",
    "language": "list_contains(languages, ?)",
    "event": "list_contains(topics, ?)",
    "stance": "list_contains(stances, ?)",
    "storyline": "storyline_id = ?",
    "month": "strftime(last_at, '%Y-%m') = ?",
}
_UNREAD = "(read_at IS NULL OR read_at < last_seen_at)"


@dataclass(frozen=True)
class Filters:
    """What the reading list is narrowed to (each facet: one value or none)."""

    values: tuple[tuple[str, str], ...] = ()
    show: str = "unread"  # unread | all
    scope: str = "relevant"  # relevant | all
    page: int = 1

    def get(self, facet: str) -> str | None:
        """The chosen value of a facet."""
        return dict(self.values).get(facet)

    def where(self, *, skip: str | None = None) -> tuple[str, list[Any]]:
        """SQL conditions on the working set and their parameters (leaving out one facet)."""
        parts, params = ["TRUE"], []
        if self.scope == "relevant":
            parts.append("relevant")
        for facet, value in self.values:
            if facet != skip:
                parts.append(_FACET_FILTER[facet])
                params.append(value)
        return " AND ".join(parts), params


@dataclass(frozen=True)
class ListPage:
    """A page of the reading list and the facet counts of what the filters leave."""

    stories: list[dict[str, Any]]
    total: int
    unread: int
    facets: dict[str, list[tuple[str, str, int]]]  # facet -> (value, label, stories)
    filters: Filters


class Library:
    """The reader's view of one database (and its snapshot)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.snapshot = snapshot_path(store.path)
        self._lock = threading.RLock()
        self._key: tuple[Any, ...] | None = None
        self._snap: Connection | None = None
        self._mem = duckdb.connect(":memory:")
        self._marks: dict[str, datetime | None] = {}  # this process's, newest truth

    # ------------------------------------------------------------------------ sources

    def _source_key(self) -> tuple[Any, ...]:
        try:
            st = os.stat(self.snapshot)
            return ("snapshot", st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            pass
        parts: list[Any] = ["db"]
        for path in (self.store.path, self.store.path.with_name(self.store.path.name + ".wal")):
            try:
                st = os.stat(path)
                parts += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                parts += [None, None]
        return tuple(parts)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to read from: the snapshot's, else a brief one to the database."""
        with self._lock:
            self._refresh()
            if self._snap is not None:
                yield self._snap
                return
            with self.store.read() as con:
                yield con

    def _refresh(self) -> None:
        key = self._source_key()
        if key == self._key:
            return
        if self._snap is not None:
            self._snap.close()
            self._snap = None
        newer: dict[str, datetime] | None = None
        if key[0] == "snapshot":
            self._snap = duckdb.connect(str(self.snapshot), read_only=True)
            table = reader_store.story_rows(self._snap)
            newer = self._database_marks()
        else:
            with self.store.read() as con:
                table = reader_store.story_rows(con)
        self._mem.register("_rows", table)
        self._mem.execute("CREATE OR REPLACE TABLE s AS SELECT * FROM _rows")
        self._mem.unregister("_rows")
        if key[0] == "snapshot" and newer is not None:
            # The database's marks are the newer truth; this process's own are newer still.
            self._mem.execute("UPDATE s SET read_at = NULL")
            self._apply(dict(newer))
        self._apply(self._marks)
        self._key = key
        log.info("reader: %d stories loaded from the %s", table.num_rows, key[0])

    def _apply(self, marks: dict[str, datetime | None]) -> None:
        """Set these read marks (None: unread) on the working set, in one statement."""
        if not marks:
            return
        table = pa.table(
            {
                "story_id": pa.array(list(marks), pa.string()),
                "read_at": pa.array(list(marks.values()), pa.timestamp("us")),
            }
        )
        self._mem.register("_marks", table)
        self._mem.execute(
            "UPDATE s SET read_at = m.read_at FROM _marks m WHERE s.story_id = m.story_id"
        )
        self._mem.unregister("_marks")

    def _database_marks(self) -> dict[str, datetime] | None:
        """The read marks in the database itself, newer than the snapshot's (marks are written
        there between runs); None if a run holds it for more than a moment."""
        brief = Store(self.store.path, lock_timeout_s=2.0)
        try:
            with brief.read() as con:
                return reader_store.read_marks(con) if reader_store.has_read_marks(con) else {}
        except StoreError as exc:
            log.info("reader: read marks from the snapshot only (%s)", exc)
            return None

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            if self._snap is not None:
                self._snap.close()
                self._snap = None
            self._mem.close()

    # ------------------------------------------------------------------------ the list

    def stories(self, filters: Filters) -> ListPage:
        """A page of the reading list: unread first, then the most recent."""
        with self._lock:
            self._refresh()
            where, params = filters.where()
            shown = where + (f" AND {_UNREAD}" if filters.show == "unread" else "")
            total, unread = self._mem.execute(
                f"SELECT count(*) FILTER (WHERE {shown}), "
                f"count(*) FILTER (WHERE {where} AND {_UNREAD}) FROM s",
                params + params,
            ).fetchall()[0]
            cur = self._mem.execute(
                f"SELECT *, {_UNREAD} AS unread FROM s WHERE {shown} "
                f"ORDER BY {_UNREAD} DESC, last_at DESC, story_id LIMIT ? OFFSET ?",
                [*params, PAGE_SIZE, (filters.page - 1) * PAGE_SIZE],
            )
            names = [d[0] for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            facets = {f: self._facet(f, filters) for f in FACETS}
        return ListPage(rows, int(total), int(unread), facets, filters)

    def _facet(self, facet: str, filters: Filters) -> list[tuple[str, str, int]]:
        where, params = filters.where(skip=facet)
        if filters.show == "unread":
            where += f" AND {_UNREAD}"
        value = _FACET_VALUES[facet]
        label = "any_value(storyline_title)" if facet == "storyline" else "v"
        order = "v DESC" if facet == "month" else "n DESC, v"
        rows = self._mem.execute(
            f"SELECT v, {label}, count(DISTINCT story_id) AS n FROM "
            f"(SELECT story_id, storyline_title, {value} AS v FROM s WHERE {where}) "
            f"WHERE v IS NOT NULL GROUP BY v ORDER BY {order} LIMIT {FACET_LIMIT}",
            params,
        ).fetchall()
        return [(str(r[0]), str(r[1] or r[0]), int(r[2])) for r in rows]

    def next_unread(self, after: str) -> str | None:
        """The unread relevant story listed after this one (or first), for "read, next"."""
        with self._lock:
            self._refresh()
            rows = self._mem.execute(
                f"SELECT story_id FROM s WHERE relevant AND {_UNREAD} AND story_id <> ? "
                "ORDER BY last_at DESC, story_id LIMIT 1",
                [after],
            ).fetchall()
        return str(rows[0][0]) if rows else None

    def story_row(self, story_id: str) -> dict[str, Any] | None:
        """The working set's row of one story (read state included)."""
        with self._lock:
            self._refresh()
            cur = self._mem.execute(
                f"SELECT *, {_UNREAD} AS unread FROM s WHERE story_id = ?", [story_id]
            )
            names = [d[0] for d in cur.description or []]
            rows = cur.fetchall()
        return dict(zip(names, rows[0], strict=True)) if rows else None

    def storyline_ref(self, storyline_id: str | None) -> StorylineRef | None:
        """The storyline a story continues, if it has other stories too (as the digest says)."""
        if storyline_id is None:
            return None
        with self._lock:
            self._refresh()
            rows = self._mem.execute(
                "SELECT any_value(storyline_title), count(*), min(first_at) FROM s "
                "WHERE storyline_id = ?",
                [storyline_id],
            ).fetchall()
        title, stories, first = rows[0]
        return StorylineRef(storyline_id, title, int(stories), first) if stories > 1 else None

    def feed_stories(self, limit: int) -> list[dict[str, Any]]:
        """The relevant stories with the latest reports, for the Atom feed."""
        with self._lock:
            self._refresh()
            cur = self._mem.execute(
                "SELECT * FROM s WHERE relevant ORDER BY last_seen_at DESC, story_id LIMIT ?",
                [limit],
            )
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    # ------------------------------------------------------------------------ writes

    def mark(self, story_id: str, read: bool) -> None:
        """Mark a story read (as of now) or unread, in the database and the working set."""
        read_at = utcnow() if read else None
        with self._lock:
            with self.store.write() as con:
                reader_store.mark_read(con, [story_id], read_at)
            self._marks[story_id] = read_at
            self._mem.execute("UPDATE s SET read_at = ? WHERE story_id = ?", [read_at, story_id])
            if self._key is not None and self._key[0] == "db":
                # Our own write, applied above: no reason to load every story again.
                self._key = self._source_key()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold off reads of this process while something else writes the database (labels):
        DuckDB refuses a read-only connection beside a read-write one in one process."""
        with self._lock:
            yield
