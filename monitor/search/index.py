"""The full-text index: a tantivy index in a folder beside the database (`<db stem>.search/`).

tantivy (the Rust search library, through its official Python bindings) ranks by BM25, answers
phrase and boolean queries over 100,000 articles in a few milliseconds, and keeps its index
compact; SQLite FTS5 and bm25s were measured against it on the same terms (docs/reader.md,
bench/compare_search_engines.py). DuckDB's own `fts` extension cannot be installed offline. The
index is a side folder, not tables in the database, so that searching never takes the
database's lock.

It holds derived data only: `refresh` brings it up to date with the database (new, changed and
removed articles: `state.json` keeps what was indexed), and an index that is missing, of
another version or unreadable is rebuilt from scratch in a temporary folder swapped into place,
so a reader never sees half an index. Titles and texts are indexed as their terms
(`text.indexed_text`, one space between terms), never as written: snippets are cut from the
database's own text.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy
from filelock import FileLock, Timeout

from monitor.errors import SearchError
from monitor.search.text import TERMS_VERSION, Clause, Query, indexed_text
from monitor.store import Connection
from monitor.store import articles as stored
from monitor.store import search as search_store

log = logging.getLogger(__name__)

#: The layout of the index; with TERMS_VERSION it decides whether an index can be kept.
SCHEMA_VERSION = "tantivy-1"
#: A title's terms weigh this much more than the body's in BM25.
TITLE_WEIGHT = 4.0
CHUNK = 1000
WRITER_HEAP = 128_000_000
STATE = "state.json"

Reading = Callable[[], AbstractContextManager[Connection]]


def index_path(db: Path) -> Path:
    """Where the search index of this database lives (a folder)."""
    return db.with_name(f"{db.stem}.search")


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # `raw`: the whole value is one term, so an article can be deleted by its id.
    builder.add_text_field("article_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("root", stored=True, tokenizer_name="raw")
    # The terms are made by text.py already: split on spaces, positions kept for phrases.
    builder.add_text_field("title", tokenizer_name="whitespace")
    builder.add_text_field("body", tokenizer_name="whitespace")
    return builder.build()


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
    """A matching report, with its BM25 score (higher is better) and its matching copies."""

    article_id: str
    score: float
    copies: int


class SearchIndex:
    """The index folder of one database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._opened: tuple[int, tantivy.Index] | None = None

    def exists(self) -> bool:
        """Whether there is an index (it may still be stale or unreadable)."""
        return (self.path / STATE).exists()

    def size(self) -> int:
        """Bytes on disk."""
        if not self.path.is_dir():
            return 0
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())

    # -------------------------------------------------------------------------- writing

    def refresh(self, reading: Reading, *, wait_s: float = 600.0) -> Refreshed | None:
        """Bring the index up to date with the database `reading` opens; rebuild it when it is
        missing, of another version or unreadable. None if another process is refreshing it and
        did not finish within `wait_s`."""
        lock = FileLock(f"{self.path}.lock")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            log.info("search index %s is being refreshed elsewhere", self.path)
            return None
        try:
            return self._refresh(reading)
        finally:
            lock.release()

    def rebuild(self, reading: Reading, *, wait_s: float = 600.0) -> Refreshed | None:
        """Make the index again from scratch (None if another process kept it busy)."""
        lock = FileLock(f"{self.path}.lock")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            return None
        try:
            start = time.perf_counter()
            with reading() as con:
                wanted = search_store.signatures(con)
            self._rebuild(reading, wanted)
            return Refreshed(len(wanted), 0, True, len(wanted), time.perf_counter() - start)
        finally:
            lock.release()

    def _refresh(self, reading: Reading) -> Refreshed:
        start = time.perf_counter()
        with reading() as con:
            wanted = search_store.signatures(con)
        state = self._state()
        if state is not None:
            try:
                index = tantivy.Index.open(str(self.path))
                added, removed = self._update(index, reading, wanted, state)
                log.info("search index: %d added, %d removed", added, removed)
                return Refreshed(added, removed, False, len(wanted), time.perf_counter() - start)
            except (ValueError, OSError) as exc:
                log.warning("search index %s is unreadable (%s): rebuilding it", self.path, exc)
        elif self.path.exists():
            log.warning("search index %s is of another version: rebuilding it", self.path)
        self._rebuild(reading, wanted)
        log.info("search index rebuilt: %d articles", len(wanted))
        return Refreshed(len(wanted), 0, True, len(wanted), time.perf_counter() - start)

    def _state(self) -> dict[str, str] | None:
        """What the index holds (article_id -> signature), if it is one of this version."""
        try:
            data = json.loads((self.path / STATE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("schema") != SCHEMA_VERSION or data.get("terms") != TERMS_VERSION:
            return None
        sigs = data.get("sigs")
        return sigs if isinstance(sigs, dict) else None

    def _save_state(self, folder: Path, sigs: dict[str, str]) -> None:
        data = {"schema": SCHEMA_VERSION, "terms": TERMS_VERSION, "sigs": sigs}
        temp = folder / f"{STATE}.tmp"
        temp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temp, folder / STATE)

    def _rebuild(self, reading: Reading, wanted: dict[str, tuple[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)  # a build that was stopped (we hold the lock)
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        old = self.path.with_name(f"{self.path.name}.{os.getpid()}.old.tmp")
        temp.mkdir()
        try:
            index = tantivy.Index(_schema(), path=str(temp))
            writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
            sigs = self._add(writer, reading, wanted, sorted(wanted), replace=False)
            writer.commit()
            writer.wait_merging_threads()
            self._save_state(temp, sigs)
            if self.path.exists():
                # Readers keep what they opened (the files stay until they let go).
                os.replace(self.path, old) if self.path.is_dir() else self.path.unlink()
            os.replace(temp, self.path)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)

    def _update(
        self,
        index: tantivy.Index,
        reading: Reading,
        wanted: dict[str, tuple[str, str]],
        have: dict[str, str],
    ) -> tuple[int, int]:
        stale = [a for a, sig in have.items() if a not in wanted or wanted[a][0] != sig]
        new = sorted(a for a in wanted if have.get(a) != wanted[a][0])
        if not stale and not new:
            return 0, 0
        writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
        for article_id in stale:
            writer.delete_documents_by_term("article_id", article_id)
        sigs = {a: s for a, s in have.items() if a not in set(stale)}
        sigs.update(self._add(writer, reading, wanted, new, replace=True))
        writer.commit()
        writer.wait_merging_threads()
        self._save_state(self.path, sigs)
        return len(new), len(stale)

    def _add(
        self,
        writer: tantivy.IndexWriter,
        reading: Reading,
        wanted: dict[str, tuple[str, str]],
        ids: list[str],
        *,
        replace: bool,
    ) -> dict[str, str]:
        done: dict[str, str] = {}
        for at in range(0, len(ids), CHUNK):
            chunk = ids[at : at + CHUNK]
            # A brief connection per chunk: a rebuild never holds the database for long.
            with reading() as con:
                texts = stored.texts_of(con, chunk)
            for article_id in chunk:
                if article_id not in texts:
                    continue  # removed meanwhile
                if replace:  # an earlier refresh may have added it before its state was saved
                    writer.delete_documents_by_term("article_id", article_id)
                title, text = texts[article_id]
                sig, root = wanted[article_id]
                writer.add_document(
                    tantivy.Document(
                        article_id=article_id,
                        root=root,
                        title=indexed_text(title),
                        body=indexed_text(text),
                    )
                )
                done[article_id] = sig
        return done

    # -------------------------------------------------------------------------- reading

    def _index(self) -> tantivy.Index:
        """The index as it is now: opened again after a rebuild swapped the folder."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            raise SearchError(
                f"no search index at {self.path} yet: `monitor search --rebuild` makes it "
                "(a run makes it too)"
            ) from None
        with self._lock:
            if self._opened is None or self._opened[0] != inode:
                self._opened = (inode, tantivy.Index.open(str(self.path)))
            index = self._opened[1]
        index.reload()  # see what was committed since
        return index

    def search(self, query: Query, *, limit: int, offset: int = 0) -> tuple[int, list[Hit]]:
        """How many articles match, and the best `limit` reports after `offset` (each report
        once: copies of an article are folded under it)."""
        if not query.groups:
            return 0, []
        try:
            index = self._index()
            built = _query(index.schema, query)
            if built is None:
                return 0, []
            searcher = index.searcher()
            want = offset + limit
            fetch = want * 2 + 20
            while True:
                result = searcher.search(built, fetch, count=True)
                # `count` is there at run time (count=True); the package's stub omits it.
                total = int(getattr(result, "count", 0) or 0)
                groups = _fold(searcher, result.hits)
                if len(groups) >= want or len(result.hits) >= total:
                    break
                fetch *= 4
        except (ValueError, OSError) as exc:
            raise SearchError(
                f"search index {self.path} is unusable ({exc}): "
                "`monitor search --rebuild` makes it again"
            ) from exc
        return total, groups[offset:want]


def _fold(searcher: tantivy.Searcher, hits: list[tuple[float, tantivy.DocAddress]]) -> list[Hit]:
    """Hits in rank order, each report once: a group of copies ranks as its best member and is
    shown as its original when that matched too."""
    groups: dict[str, list[tuple[float, str]]] = {}
    for score, address in hits:
        doc: dict[str, Any] = searcher.doc(address).to_dict()
        groups.setdefault(doc["root"][0], []).append((score, doc["article_id"][0]))
    out = []
    for root, members in groups.items():
        shown = next((m for m in members if m[1] == root), members[0])
        out.append(Hit(shown[1], members[0][0], len(members) - 1))
    return out


def _clause(schema: tantivy.Schema, clause: Clause, field: str) -> tantivy.Query:
    first = clause.terms[0]
    words: list[str | tuple[int, str]] = list(clause.terms)
    if clause.prefix:
        if len(words) == 1:
            return tantivy.Query.regex_query(schema, field, _regex_prefix(first))
        return tantivy.Query.phrase_prefix_query(schema, field, words)
    if len(words) == 1:
        return tantivy.Query.term_query(schema, field, first)
    return tantivy.Query.phrase_query(schema, field, words)


def _regex_prefix(prefix: str) -> str:
    # Terms are letters, digits and marks only (text.WORD); escape all the same.
    return "".join(c if c.isalnum() else f"\\{c}" for c in prefix) + ".*"


def _query(schema: tantivy.Schema, query: Query) -> tantivy.Query | None:
    """The parsed query as tantivy query objects: no user text is ever parsed by tantivy."""
    should = tantivy.Occur.Should
    groups = []
    for group in query.groups:
        parts = []
        for clause in group:
            either = tantivy.Query.boolean_query(
                [
                    (
                        should,
                        tantivy.Query.boost_query(_clause(schema, clause, "title"), TITLE_WEIGHT),
                    ),
                    (should, _clause(schema, clause, "body")),
                ]
            )
            occur = tantivy.Occur.MustNot if clause.negated else tantivy.Occur.Must
            parts.append((occur, either))
        if any(o == tantivy.Occur.Must for o, _ in parts):
            groups.append((should, tantivy.Query.boolean_query(parts)))
    if not groups:
        return None
    return groups[0][1] if len(groups) == 1 else tantivy.Query.boolean_query(groups)
