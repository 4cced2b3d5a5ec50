"""Collect newly published articles from the configured sources.

`collect` goes through four jobs, each in its own module, and returns what they found; the caller
stores it (`pipeline.store_articles`) and then calls `health.save_fetch_state`, so validators and
source health are only written once the articles they vouch for are safe (a crash in between
re-fetches rather than loses an article):

    health.source_health     which sources are due (the rest back off, wait, or are disabled)
    discovery.discover       the due sources read concurrently into links, capped per source
    (store)                  links already stored are dropped: a stored page is never refetched
    fetch + workers          new pages fetched concurrently (per-host politeness in the fetcher)
                             and extracted in worker processes while fetching goes on

Nothing shared is mutated by concurrent work: each coroutine returns its result and the results
are put together here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx

from monitor.discovery import discover
from monitor.extract import ExtractFailure
from monitor.fetch import Fetcher, FetchResult, build_client
from monitor.health import Outcomes, SourceUpdate, outcomes, source_health
from monitor.models import Article, CacheEntry, FetchRecord, Link
from monitor.prepare import Preparation
from monitor.progress import SILENT, Progress
from monitor.settings import Settings, SourceSettings
from monitor.store import Store
from monitor.store import articles as stored_articles
from monitor.store import fetches as fetch_state
from monitor.workers import Extracted, ExtractionPool

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CollectResult:
    """Articles found, one record per URL, and the state to save after storing them."""

    articles: tuple[Article, ...] = ()
    records: tuple[FetchRecord, ...] = ()
    cache: Mapping[str, CacheEntry] = field(default_factory=dict)
    updates: tuple[SourceUpdate, ...] = ()
    known: int = 0  # links found that were stored already
    # Sources not fetched this run, by their state ('backing off', 'waiting', 'disabled').
    not_due: Mapping[str, int] = field(default_factory=dict)
    # The URLs fetched as sources (a feed, a sitemap and its children), not as pages.
    source_urls: frozenset[str] = frozenset()

    @property
    def outcomes(self) -> Outcomes:
        """Failed sources and pages by reason, and the sources not due."""
        return outcomes(self.updates, self.records, self.source_urls, self.not_due)


@dataclass(frozen=True)
class _Fetched:
    """One new page's fetch and, when a body came, its extraction."""

    link: Link
    got: FetchResult
    extracted: Extracted | None


def due_sources(store: Store, settings: Settings) -> tuple[list[SourceSettings], dict[str, int]]:
    """The sources to read now, and the others counted by their state."""
    health = {h.name: h for h in source_health(store, settings)}
    due: list[SourceSettings] = []
    not_due: dict[str, int] = {}
    for src in settings.sources:
        state = health[src.name].state
        if state == "due":
            due.append(src)
        else:
            log.info("source %s is %s; skipped", src.name, state)
            not_due[state] = not_due.get(state, 0) + 1
    return due, not_due


def _validators(store: Store, urls: Sequence[str]) -> dict[str, CacheEntry]:
    if not urls:
        return {}
    with store.read() as con:
        return fetch_state.validators(con, urls)


def _not_stored(store: Store, links: Sequence[Link]) -> list[Link]:
    with store.read() as con:
        stored = stored_articles.known_urls(con, sorted(link.url for link in links))
    return [link for link in links if link.url not in stored]


async def _fetch_pages(
    fetcher: Fetcher,
    links: Sequence[Link],
    cache: Mapping[str, CacheEntry],
    settings: Settings,
    executor: concurrent.futures.Executor | None,
    progress: Progress,
) -> list[_Fetched]:
    """Fetch every link concurrently; extract the bodies in workers as they arrive."""
    if not links:
        return []
    workers = settings.runner.workers or os.cpu_count() or 1
    pool = ExtractionPool(
        Preparation.of(settings),
        workers=workers,
        expected=len(links),
        progress=progress,
        executor=executor,
    )
    fetched: dict[str, FetchResult] = {}
    try:
        tasks = [
            fetcher.fetch(
                link.url, link.source, purpose="page", cache=cache.get(link.url), link=link
            )
            for link in links
        ]
        for next_done in asyncio.as_completed(tasks):
            got = await next_done
            progress.page_fetched()
            fetched[got.record.url] = got
            if got.page is not None:
                pool.add(got.page)
        extracted = await pool.results()
    finally:
        pool.close()
    return [_Fetched(link, fetched[link.url], extracted.get(link.url)) for link in links]


def _page_record(page: _Fetched) -> FetchRecord:
    if isinstance(page.extracted, ExtractFailure):
        return replace(
            page.got.record, outcome="error", error=page.extracted.reason, error_kind="ExtractError"
        )
    return page.got.record


def _single_page_updates(
    due: Sequence[SourceSettings], pages: Sequence[_Fetched], fresh: set[str]
) -> list[SourceUpdate]:
    """The health of sources that are one page (`kind = "url"`): that page's fetch."""
    by_url = {page.link.url: page for page in pages}
    updates = []
    for src in due:
        if src.kind != "url":
            continue
        page = by_url.get(src.url)
        if page is None:
            if src.url not in fresh:  # stored already: nothing to fetch, nothing wrong
                updates.append(SourceUpdate(src.name, src.kind, src.url, True, None, None))
            continue
        record = _page_record(page)
        updates.append(
            SourceUpdate(
                src.name,
                src.kind,
                src.url,
                record.outcome != "error",
                record.error,
                record.status_code,
                error_kind=record.error_kind,
            )
        )
    return updates


async def _collect(
    settings: Settings,
    store: Store,
    client: httpx.AsyncClient,
    executor: concurrent.futures.Executor | None,
    progress: Progress,
) -> CollectResult:
    due, not_due = due_sources(store, settings)
    progress.sources_due(len(due))
    if not due:
        return CollectResult(not_due=not_due)
    fetcher = Fetcher(client, settings.fetch)
    found = await discover(fetcher, due, _validators(store, [s.url for s in due]), progress)
    fresh = _not_stored(store, found.links)
    log.info(
        "collect: %d due sources, %d links, %d already stored, %d to fetch",
        len(due),
        len(found.links),
        len(found.links) - len(fresh),
        len(fresh),
    )
    progress.pages_to_fetch(len(fresh))
    page_cache = _validators(store, [link.url for link in fresh])
    pages = await _fetch_pages(fetcher, fresh, page_cache, settings, executor, progress)
    cache = dict(found.cache)
    for page in pages:
        # Validators only for pages we did not store, so an unchanged page that gave no article
        # costs no extraction next time; stored ones are never refetched.
        if page.got.cache is not None and not isinstance(page.extracted, Article):
            cache[page.link.url] = page.got.cache
    log.info("collect: %d fetched pages, %d requests", len(pages), fetcher.requests)
    return CollectResult(
        # Which of two copies is the original, and so keeps `new`, dedup decides once.
        articles=tuple(p.extracted for p in pages if isinstance(p.extracted, Article)),
        records=(*found.records, *(_page_record(p) for p in pages)),
        cache=cache,
        updates=(*found.updates, *_single_page_updates(due, pages, {link.url for link in fresh})),
        known=len(found.links) - len(fresh),
        not_due=not_due,
        source_urls=found.source_urls,
    )


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="monitor-collect")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def collect(
    settings: Settings,
    store: Store,
    run_id: str,
    *,
    client: httpx.AsyncClient | None = None,
    executor: concurrent.futures.Executor | None = None,
    progress: Progress = SILENT,
) -> CollectResult:
    """Fetch due sources and their new article pages; extract them in worker processes."""

    async def main() -> CollectResult:
        if client is not None:
            return await _collect(settings, store, client, executor, progress)
        async with build_client(settings.fetch) as own:
            return await _collect(settings, store, own, executor, progress)

    log.info("run %s: collecting from %d sources", run_id, len(settings.sources))
    return _run(main())
