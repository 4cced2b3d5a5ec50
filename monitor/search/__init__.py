"""Ranked full-text search over titles and texts, English and Arabic (`monitor search`, the
reader's /search).

    text    words to index terms (Arabic normalisation, Snowball stemming), queries, snippets
    index   the tantivy index beside the database (`<db stem>.search/`): refresh, rebuild, search

The index is refreshed after every ingest run (`publish.after_run` calls `refresh_index`) and
rebuilt from scratch whenever it is missing or unusable; results are shown from the database
(the snapshot when there is one), with the matching words of title and snippet marked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from monitor.errors import SearchError
from monitor.search.index import Hit, Refreshed, SearchIndex, index_path
from monitor.search.text import Piece, Query, highlight, parse_query, snippet
from monitor.settings import Settings
from monitor.store import Connection, Store
from monitor.store import search as search_store
from monitor.store.snapshot import snapshot_path

__all__ = [
    "Found",
    "Hit",
    "Piece",
    "Query",
    "Refreshed",
    "SearchIndex",
    "SearchResults",
    "index_path",
    "parse_query",
    "refresh_index",
    "run_search",
    "snippet",
]

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500


def refresh_index(store: Store, settings: Settings) -> None:
    """Bring the search index of the run's database up to date (publish step: a failure is
    logged, never raised; the next run or `monitor search --rebuild` tries again)."""
    try:
        SearchIndex(index_path(store.path)).refresh(store.read_write)
    except Exception as exc:  # publishing never fails the run: the next one tries again
        log.warning("search index not refreshed: %s", exc)


def reading_store(store: Store) -> Store:
    """The store to read results from: the snapshot beside the database when there is one
    (reading it never blocks a run), else the database itself."""
    snap = snapshot_path(store.path)
    return Store(snap, lock_timeout_s=store.lock_timeout_s) if snap.exists() else store


@dataclass(frozen=True)
class Found:
    """One result: the article as stored, its title and snippet with the matches marked."""

    article_id: str
    url: str
    outlet: str
    title: tuple[Piece, ...]
    snippet: tuple[Piece, ...]
    language: str | None
    published_at: datetime | None
    story_id: str | None
    relevant: bool | None
    stance: str | None
    score: float
    copies: int

    @property
    def title_text(self) -> str:
        """The title without marks."""
        return "".join(p.text for p in self.title)

    @property
    def snippet_text(self) -> str:
        """The snippet without marks."""
        return "".join(p.text for p in self.snippet)


@dataclass(frozen=True)
class SearchResults:
    """A page of results and how many reports match in all."""

    query: str
    total: int
    offset: int
    results: tuple[Found, ...]


def run_search(
    index: SearchIndex,
    reading: Callable[[], AbstractContextManager[Connection]],
    text: str,
    *,
    limit: int = 20,
    offset: int = 0,
) -> SearchResults:
    """Search the index, then show each hit from the database `reading` opens."""
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(f"a query is at most {MAX_QUERY_CHARS} characters")
    if limit < 1 or offset < 0:
        raise SearchError("--limit must be at least 1")
    query = parse_query(text)
    total, hits = index.search(query, limit=limit, offset=offset)
    with reading() as con:
        rows = search_store.found(con, [h.article_id for h in hits])
    results = []
    for hit in hits:
        row = rows.get(hit.article_id)
        if row is None:  # in the index, no longer (or not yet) in what is read
            continue
        title = row.title or " ".join(row.text.split())[:120]
        results.append(
            Found(
                article_id=row.article_id,
                url=row.url,
                outlet=row.outlet or row.source,
                title=highlight(title, query),
                snippet=snippet(row.text, query),
                language=row.language,
                published_at=row.published_at,
                story_id=row.story_id,
                relevant=row.relevant,
                stance=row.stance,
                score=hit.score,
                copies=hit.copies,
            )
        )
    return SearchResults(text, total, offset, tuple(results))


def ensure_index(store: Store) -> SearchIndex:
    """The index of this database, built first if there is none yet."""
    index = SearchIndex(index_path(store.path))
    if not index.exists():
        index.refresh(reading_store(store).read)
    return index


def rebuild_index(store: Store) -> Refreshed | None:
    """Make the index again from scratch (`monitor search --rebuild`)."""
    return SearchIndex(index_path(store.path)).rebuild(reading_store(store).read)
