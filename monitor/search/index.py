"""The full-text index: a SQLite FTS5 file beside the database (`<db stem>.search.sqlite`).

SQLite's FTS5 ships inside Python's own `sqlite3` (nothing to install, nothing downloaded),
ranks by BM25, updates in place one article at a time, and keeps its index in one file that
readers open while a writer commits. DuckDB's own `fts` extension cannot be installed offline,
and the index is a side file rather than tables in the database so that searching never takes
the database's lock; docs/reader.md has the measurements behind the choice.

The file holds derived data only: `refresh` brings it up to date with the database (new,
changed and removed articles), and a file that is missing, of another version or unreadable is
rebuilt from scratch, into a temporary file renamed into place, so a reader never sees half an
index. Titles and texts are stored as their terms (`text.indexed_text`), never as written:
snippets are cut from the database's own text.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from monitor.errors import SearchError
from monitor.search.text import TERMS_VERSION, Query, indexed_text
from monitor.store import Connection
from monitor.store import articles as stored
from monitor.store import search as search_store

log = logging.getLogger(__name__)

#: The layout of the file; with TERMS_VERSION it decides whether an index can be kept.
SCHEMA_VERSION = "1"
#: A title's terms weigh this much more than the body's in BM25.
TITLE_WEIGHT = 4.0
CHUNK = 1000

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One row per indexed article: `root` is the article a copy was folded under (itself for an
-- original), so a search shows each report once; `sig` says when to index an article again.
CREATE TABLE docs (
    doc INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    sig TEXT NOT NULL
);
CREATE VIRTUAL TABLE fts USING fts5(
    title, body, tokenize = 'unicode61 remove_diacritics 0', detail = full
);
INSERT INTO fts (fts, rank) VALUES ('rank', 'bm25({TITLE_WEIGHT}, 1.0)');
"""

Reading = Callable[[], AbstractContextManager[Connection]]


def index_path(db: Path) -> Path:
    """Where the search index of this database lives."""
    return db.with_name(f"{db.stem}.search.sqlite")


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did."""

    added: int
    removed: int
    rebuilt: bool
    total: int
    seconds: float


@dataclass(frozen=True)
class Hit:
    """An article that matched, with its BM25 score (higher is better) and its folded copies."""

    article_id: str
    score: float
    copies: int


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
    else:
        con = sqlite3.connect(path, timeout=30)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


@contextlib.contextmanager
def _closing(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        yield con
    finally:
        con.close()


def _current(con: sqlite3.Connection) -> bool:
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    return meta.get("schema") == SCHEMA_VERSION and meta.get("terms") == TERMS_VERSION


class SearchIndex:
    """The index file of one database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        """Whether there is an index file (it may still be stale or unreadable)."""
        return self.path.exists()

    # -------------------------------------------------------------------------- writing

    def refresh(self, reading: Reading, *, wait_s: float = 600.0) -> Refreshed | None:
        """Bring the index up to date with the database `reading` opens; rebuild it when it is
        missing, of another version or unreadable. None if another process is refreshing it and
        did not finish within `wait_s`."""
        lock = FileLock(str(self.path) + ".lock")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            log.info("search index %s is being refreshed elsewhere", self.path)
            return None
        try:
            return self._refresh(reading)
        finally:
            lock.release()

    def _refresh(self, reading: Reading) -> Refreshed:
        start = time.perf_counter()
        with reading() as con:
            wanted = search_store.signatures(con)
        if self.path.exists():
            try:
                with _closing(_connect(self.path, read_only=False)) as idx:
                    if _current(idx):
                        added, removed = self._update(idx, reading, wanted)
                        total = len(wanted)
                        log.info("search index: %d added, %d removed", added, removed)
                        return Refreshed(added, removed, False, total, time.perf_counter() - start)
                log.warning("search index %s is of another version: rebuilding it", self.path)
            except sqlite3.DatabaseError as exc:
                log.warning("search index %s is unreadable (%s): rebuilding it", self.path, exc)
        self._rebuild(reading, wanted)
        log.info("search index rebuilt: %d articles", len(wanted))
        return Refreshed(len(wanted), 0, True, len(wanted), time.perf_counter() - start)

    def _rebuild(self, reading: Reading, wanted: dict[str, tuple[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)  # a build that was stopped (we hold the lock)
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            with _closing(_connect(temp, read_only=False)) as idx:
                idx.executescript(_SCHEMA)
                idx.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("schema", SCHEMA_VERSION), ("terms", TERMS_VERSION)],
                )
                self._add(idx, reading, wanted, sorted(wanted))
                idx.execute("INSERT INTO fts (fts) VALUES ('optimize')")
                idx.commit()
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _update(
        self, idx: sqlite3.Connection, reading: Reading, wanted: dict[str, tuple[str, str]]
    ) -> tuple[int, int]:
        have = {r[0]: (r[1], r[2]) for r in idx.execute("SELECT article_id, sig, doc FROM docs")}
        stale = [a for a, (sig, _) in have.items() if wanted.get(a, (None, None))[0] != sig]
        new = sorted(a for a in wanted if a not in have or a in stale)
        if not stale and not new:
            return 0, 0
        with idx:
            docs = [(have[a][1],) for a in stale]
            idx.executemany("DELETE FROM fts WHERE rowid = ?", docs)
            idx.executemany("DELETE FROM docs WHERE doc = ?", docs)
        self._add(idx, reading, wanted, new)
        idx.commit()
        return len(new), len(stale)

    def _add(
        self,
        idx: sqlite3.Connection,
        reading: Reading,
        wanted: dict[str, tuple[str, str]],
        ids: list[str],
    ) -> None:
        for at in range(0, len(ids), CHUNK):
            chunk = ids[at : at + CHUNK]
            # A brief connection per chunk: a rebuild never holds the database for long.
            with reading() as con:
                texts = stored.texts_of(con, chunk)
            with idx:
                for article_id in chunk:
                    if article_id not in texts:
                        continue  # removed meanwhile
                    title, text = texts[article_id]
                    sig, root = wanted[article_id]
                    cur = idx.execute(
                        "INSERT INTO docs (article_id, root, sig) VALUES (?, ?, ?)",
                        (article_id, root, sig),
                    )
                    idx.execute(
                        "INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)",
                        (cur.lastrowid, indexed_text(title), indexed_text(text)),
                    )

    # -------------------------------------------------------------------------- reading

    def search(self, query: Query, *, limit: int, offset: int = 0) -> tuple[int, list[Hit]]:
        """How many reports match, and the best `limit` of them after `offset` (each report
        once: copies are folded under their original)."""
        expr = query.fts()
        if not expr:
            return 0, []
        if not self.path.exists():
            raise SearchError(
                f"no search index at {self.path} yet: `monitor search --rebuild` makes it "
                "(a run makes it too)"
            )
        sql = """
            WITH matched AS (
                SELECT d.article_id, d.root, fts.rank AS rank
                FROM fts JOIN docs d ON d.doc = fts.rowid WHERE fts MATCH ?
            ), grouped AS (
                -- A group ranks as its best member and is shown as its original when that
                -- matched too.
                SELECT article_id, root, min(rank) OVER (PARTITION BY root) AS best,
                       count(*) OVER (PARTITION BY root) AS n,
                       row_number() OVER (
                           PARTITION BY root ORDER BY article_id <> root, rank, article_id
                       ) AS k
                FROM matched
            )
            SELECT article_id, -best, n - 1, count(*) OVER () FROM grouped WHERE k = 1
            ORDER BY best, root LIMIT ? OFFSET ?
        """
        try:
            with _closing(_connect(self.path, read_only=True)) as idx:
                rows = idx.execute(sql, (expr, limit, offset)).fetchall()
                if not rows and offset:
                    total = idx.execute(
                        "SELECT count(DISTINCT d.root) FROM fts JOIN docs d ON d.doc = fts.rowid "
                        "WHERE fts MATCH ?",
                        (expr,),
                    ).fetchone()[0]
                else:
                    total = rows[0][3] if rows else 0
        except sqlite3.DatabaseError as exc:
            raise SearchError(
                f"search index {self.path} is unusable ({exc}): "
                "`monitor search --rebuild` makes it again"
            ) from exc
        return int(total), [Hit(r[0], float(r[1]), int(r[2])) for r in rows]

    def size(self) -> int:
        """Bytes on disk."""
        return self.path.stat().st_size if self.path.exists() else 0
