"""Collect newly published articles from the configured sources.

`collect` picks the sources that are due, fetches and parses them, drops links already stored,
fetches the new pages and extracts them in worker processes while the fetching goes on. It returns
articles and one fetch record per URL; the caller stores them (`pipeline.store_articles`) and then
calls `save_fetch_state`, so validators and source health are only written once the articles they
vouch for are safe (a crash in between re-fetches rather than losing an article).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing
import os
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from monitor.errors import ParseError
from monitor.extract import ExtractFailure, extract_pages
from monitor.fetch import Fetcher, FetchResult, build_client
from monitor.models import Article, CacheEntry, FetchRecord, Link, Page
from monitor.prepare import Preparation
from monitor.settings import Settings, SourceSettings
from monitor.sources import parse_source
from monitor.store import Store, utcnow
from monitor.store import articles as stored_articles
from monitor.store import fetches as fetch_state
from monitor.store.fetches import SourceRow

log = logging.getLogger(__name__)

MAX_FAILURE_BACKOFF_S = 7 * 24 * 3600.0
# A run whose extraction pool breaks (a worker killed) starts at most this many new ones.
MAX_POOL_RESTARTS = 3
MAX_CACHE_AGE_S = 6 * 3600.0
T = TypeVar("T")


@dataclass(frozen=True)
class SourceHealth:
    """One configured source and how fetching it has gone."""

    name: str
    kind: str
    url: str
    enabled: bool
    state: str  # due | waiting | backing off | disabled | off
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    next_due_at: datetime | None = None
    last_status: int | None = None
    last_error_kind: str | None = None
    last_cutoff: str | None = None


@dataclass(frozen=True)
class SourceUpdate:
    """The health row to write for one source after this run."""

    name: str
    kind: str
    url: str
    ok: bool
    error: str | None
    status: int | None
    max_age_s: float | None = None
    error_kind: str | None = None
    cutoff: str | None = None  # what this run's discovery left unread (a limit it hit)


@dataclass
class CollectResult:
    """Articles found, one record per URL, and the state to save after storing them."""

    articles: list[Article] = field(default_factory=list)
    records: list[FetchRecord] = field(default_factory=list)
    cache: dict[str, CacheEntry] = field(default_factory=dict)
    sources: list[SourceUpdate] = field(default_factory=list)
    known: int = 0
    sources_due: int = 0
    sources_skipped: int = 0
    # Sources not fetched this run, by their state ('backing off', 'waiting', 'disabled').
    not_due: dict[str, int] = field(default_factory=dict)
    # The URLs fetched as sources (a feed, a sitemap and its children), not as pages.
    source_urls: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Outcomes:
    """What collecting came to, counted by reason for a person to read (`monitor run`)."""

    sources_failed: dict[str, int]
    sources_not_due: dict[str, int]
    pages_failed: dict[str, int]


def failure_reason(kind: str | None, error: str | None) -> str:
    """A short reason to count failures by: 'cannot resolve host', 'HTTP 404', 'timed out' ..."""
    text = (error or "").lower()
    if kind == "FetchConnection":
        if "cannot resolve" in text:
            return "cannot resolve host"
        if "refused" in text:
            return "connection refused"
        if "timed out" in text or "timeout" in text:
            return "timed out"
        if "redirects" in text:
            return "too many redirects"
        return "connection failed"
    if kind == "FetchHTTPStatus":
        return (error or "HTTP error").split(";")[0]
    if kind == "FetchBlocked":
        if "robots.txt" in text:
            return "robots.txt"
        if "non-public address" in text:
            return "private address"
        return "blocked"
    reasons = {
        "FetchTimeout": "timed out",
        "FetchTooLarge": "too large",
        "FetchUnsupported": "not a page",
        "ParseError": "unreadable",
        "ExtractError": "worker failed" if "worker failed" in text else "no article text",
    }
    return reasons.get(kind or "", kind or "failed")


def _count(reasons: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def outcomes(result: CollectResult) -> Outcomes:
    """Failed sources and pages by reason, and the sources not due, from one collect."""
    failed = [failure_reason(u.error_kind, u.error) for u in result.sources if not u.ok]
    pages = [
        failure_reason(r.error_kind, r.error)
        for r in result.records
        if r.outcome == "error" and r.url not in result.source_urls
    ]
    return Outcomes(_count(failed), dict(result.not_due), _count(pages))


# -- source health ------------------------------------------------------------------------------


def _health(
    src: SourceSettings, row: SourceRow | None, settings: Settings, now: datetime
) -> SourceHealth:
    if row is None or row.url != src.url:  # never fetched, or the URL changed: start afresh
        return SourceHealth(
            src.name, src.kind, src.url, src.enabled, "due" if src.enabled else "off"
        )
    failures = row.consecutive_failures
    next_due = row.next_due_at
    if not src.enabled:
        state = "off"
    elif failures >= settings.fetch.disable_after_failures:
        state = "disabled"
    elif next_due is not None and next_due > now:
        state = "backing off" if failures else "waiting"
    else:
        state = "due"
    return SourceHealth(
        src.name,
        src.kind,
        src.url,
        src.enabled,
        state,
        row.last_fetch_at,
        row.last_success_at,
        row.last_error,
        failures,
        next_due,
        row.last_status,
        row.last_error_kind,
        row.last_cutoff,
    )


def source_health(store: Store, settings: Settings) -> list[SourceHealth]:
    """Every configured source with its last fetch, last error, failures and next due time."""
    rows: dict[str, SourceRow] = {}
    if store.path.exists():
        with store.read() as con:
            rows = fetch_state.source_rows(con)
    now = utcnow()
    return [_health(src, rows.get(src.name), settings, now) for src in settings.sources]


def _next_due(
    update: SourceUpdate,
    failures: int,
    src: SourceSettings | None,
    settings: Settings,
    now: datetime,
) -> datetime:
    if not update.ok:
        backoff = settings.fetch.failure_backoff_s * (2 ** max(failures - 1, 0))
        return now + timedelta(seconds=min(backoff, MAX_FAILURE_BACKOFF_S))
    interval = src.min_interval_s if src else 0.0
    if update.max_age_s:
        interval = max(interval, min(update.max_age_s, MAX_CACHE_AGE_S))
    return now + timedelta(seconds=interval)


def save_fetch_state(store: Store, settings: Settings, result: CollectResult) -> None:
    """Write HTTP validators and source health in one short transaction (after storing)."""
    if not result.cache and not result.sources:
        return
    now = utcnow()
    by_name = {s.name: s for s in settings.sources}
    with store.write() as con:
        fetch_state.save_validators(con, result.cache, now)
        old = fetch_state.source_rows(con)
        rows = []
        for update in result.sources:
            prev = old.get(update.name)
            same = prev is not None and prev.url == update.url
            failures = 0 if update.ok else (prev.consecutive_failures if same and prev else 0) + 1
            last_success = now if update.ok else (prev.last_success_at if same and prev else None)
            rows.append(
                SourceRow(
                    update.name,
                    update.kind,
                    update.url,
                    now,
                    last_success,
                    None if update.ok else update.error,
                    failures,
                    _next_due(update, failures, by_name.get(update.name), settings, now),
                    update.status,
                    None if update.ok else update.error_kind,
                    update.cutoff,
                )
            )
        fetch_state.save_sources(con, rows)


# -- collecting ---------------------------------------------------------------------------------


def _load_cache(store: Store, urls: Sequence[str]) -> dict[str, CacheEntry]:
    if not urls:
        return {}
    with store.read() as con:
        return fetch_state.validators(con, urls)


def _newest_first(links: list[Link], limit: int) -> list[Link]:
    ordered = sorted(
        enumerate(links),
        key=lambda item: (
            item[1].published_at is None,
            -(item[1].published_at.timestamp() if item[1].published_at else 0),
            item[0],
        ),
    )
    return [link for _, link in ordered[:limit]]


async def _read_source(
    fetcher: Fetcher, src: SourceSettings, cache: dict[str, CacheEntry], result: CollectResult
) -> list[Link]:
    """Fetch and parse one source (and a sitemap index's children); record its health."""
    if src.kind == "url":
        return [Link(url=src.url, source=src.name)]
    queue = [src.url]
    seen: set[str] = set()
    links: list[Link] = []
    first_error: FetchRecord | None = None
    status: int | None = None
    max_age: float | None = None
    most = fetcher.settings.max_child_sitemaps + 1  # the source itself and its children
    while queue and len(seen) < most:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        result.source_urls.add(url)
        got: FetchResult = await fetcher.fetch(
            url, src.name, purpose="source", cache=cache.get(url)
        )
        record = got.record
        if url == src.url:
            status, max_age = record.status_code, got.max_age_s
        if got.page is not None:
            try:
                parsed = parse_source(src.kind, got.page.html, src.name, url)
            except ParseError as exc:
                record = replace(record, outcome="error", error=str(exc), error_kind="ParseError")
                got = replace(got, cache=None)
            else:
                links.extend(parsed.links)
                queue.extend(c for c in parsed.children if c not in seen)
                log.info("source %s: %d links from %s", src.name, len(parsed.links), url)
        if got.cache is not None:
            result.cache[url] = got.cache
        if record.outcome == "error" and first_error is None:
            first_error = record
        result.records.append(record)
    unread = [u for u in dict.fromkeys(queue) if u not in seen]
    cutoff = None
    if unread:
        cutoff = (
            f"sitemap index cut off: read {len(seen) - 1} child sitemaps, "
            f"{len(unread)} more not read (fetch.max_child_sitemaps = "
            f"{fetcher.settings.max_child_sitemaps})"
        )
        result.records.append(_cutoff_record(src, cutoff))
        log.info("source %s: %s", src.name, cutoff)
    ok = first_error is None or bool(links)
    result.sources.append(
        SourceUpdate(
            src.name,
            src.kind,
            src.url,
            ok,
            first_error.error if first_error else None,
            status,
            max_age,
            first_error.error_kind if first_error else None,
            cutoff,
        )
    )
    return links


def _cutoff_record(src: SourceSettings, reason: str) -> FetchRecord:
    """The fetch-log row of a cut-off: outcome `skipped`, error_kind `CutOff`."""
    return FetchRecord(src.url, src.name, utcnow(), "skipped", error=reason, error_kind="CutOff")


def _note_cutoff(result: CollectResult, src: SourceSettings, reason: str) -> None:
    """Record a cut-off in the fetch log and in the source's health update."""
    result.records.append(_cutoff_record(src, reason))
    for i, update in enumerate(result.sources):
        if update.name == src.name:
            joined = f"{update.cutoff}; {reason}" if update.cutoff else reason
            result.sources[i] = replace(update, cutoff=joined)
    log.info("source %s: %s", src.name, reason)


def _chunk_size(n_pages: int, workers: int) -> int:
    # Chunks, not one task per page, to amortise pickling; small enough that the workers start
    # while fetching goes on and finish together (a few slow pages do not leave one core idle).
    return max(1, min(8, n_pages // max(workers * 8, 1)))


def _pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # forkserver: workers do not inherit the event loop's threads and sockets; preloading the
    # extractor makes each worker a cheap fork of a server that imported trafilatura once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["monitor.extract", "monitor.classify", "datasketch"])
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _start_workers(pool: concurrent.futures.Executor | None, workers: int) -> None:
    """Start the pool's worker processes (each submit starts one while none is idle)."""
    if pool is None:
        return
    try:
        for _ in range(workers):
            pool.submit(int)
    except (BrokenExecutor, RuntimeError):
        pass  # the first chunk's submit meets the same error and records it


async def _collect(
    settings: Settings,
    store: Store,
    client: httpx.AsyncClient,
    executor: concurrent.futures.Executor | None,
) -> CollectResult:
    result = CollectResult()
    now = utcnow()
    health = {h.name: h for h in source_health(store, settings)}
    due = [s for s in settings.sources if health[s.name].state == "due"]
    result.sources_due = len(due)
    result.sources_skipped = len(settings.sources) - len(due)
    for src in settings.sources:
        state = health[src.name].state
        if state != "due":
            log.info("source %s is %s; skipped", src.name, state)
            result.not_due[state] = result.not_due.get(state, 0) + 1
    if not due:
        return result
    cache = _load_cache(store, [s.url for s in due])
    fetcher = Fetcher(client, settings.fetch)
    per_source = await asyncio.gather(*(_read_source(fetcher, s, cache, result) for s in due))

    # One link per URL across sources, newest first, capped per source.
    links: dict[str, Link] = {}
    url_sources: dict[str, SourceSettings] = {s.url: s for s in due if s.kind == "url"}
    cap = settings.fetch.max_articles_per_source
    for src, found in zip(due, per_source, strict=True):
        if len(found) > cap:
            reason = (
                f"links cut off: took the newest {cap} of {len(found)} "
                "(fetch.max_articles_per_source)"
            )
            _note_cutoff(result, src, reason)
        for link in _newest_first(found, cap):
            links.setdefault(link.url, link)
    with store.read() as con:
        stored = stored_articles.known_urls(con, sorted(links))
    fresh = [link for url, link in links.items() if url not in stored]
    result.known = len(links) - len(fresh)
    page_cache = _load_cache(store, [link.url for link in fresh])
    log.info(
        "collect: %d due sources, %d links, %d already stored, %d to fetch (at %s)",
        len(due),
        len(links),
        result.known,
        len(fresh),
        now,
    )

    workers = settings.runner.workers or os.cpu_count() or 1
    chunk = _chunk_size(len(fresh), workers)
    own_pool = executor is None and bool(fresh)
    pool = _pool(workers) if own_pool else executor
    pools = [pool] if own_pool and pool is not None else []
    loop = asyncio.get_running_loop()
    extracting: list[asyncio.Future[list[Article | ExtractFailure]]] = []
    chunks: list[list[Page]] = []
    fetched: dict[str, FetchResult] = {}
    batch: list[Page] = []

    # The workers also prepare each article (hash, signatures, classification, compressed
    # HTML), off the main process.
    work = functools.partial(
        extract_pages,
        how=Preparation.of(settings),
    )

    # The first worker's start waits for the forkserver to import the extractor (0.7 s);
    # done from a thread, the event loop fetches meanwhile and the chunks wait in `ready`.
    warming = loop.run_in_executor(None, _start_workers, pool, workers) if own_pool else None
    ready: list[list[Page]] = []

    def submit() -> None:
        if batch:
            ready.append(list(batch))
            batch.clear()
        if warming is not None and not warming.done():
            return
        while ready:
            send(ready.pop(0))

    def send(pages: list[Page]) -> None:
        nonlocal pool
        if pool is None:
            return
        chunks.append(pages)
        try:
            extracting.append(loop.run_in_executor(pool, work, pages))
            return
        except (BrokenExecutor, RuntimeError) as exc:
            # A worker died (killed, out of memory): the pool refuses every later chunk.
            broken: BaseException = exc
        if own_pool and len(pools) <= MAX_POOL_RESTARTS:
            log.warning("extraction worker pool broke (%r); starting a new one", broken)
            pool.shutdown(wait=False, cancel_futures=True)
            pool = _pool(workers)
            pools.append(pool)
            try:
                extracting.append(loop.run_in_executor(pool, work, pages))
                return
            except (BrokenExecutor, RuntimeError) as exc:
                broken = exc
        failed: asyncio.Future[list[Article | ExtractFailure]] = loop.create_future()
        failed.set_exception(broken)  # these pages are recorded as "worker failed"
        extracting.append(failed)

    try:
        tasks = [
            fetcher.fetch(
                link.url, link.source, purpose="page", cache=page_cache.get(link.url), link=link
            )
            for link in fresh
        ]
        for next_done in asyncio.as_completed(tasks):
            got = await next_done
            fetched[got.record.url] = got
            if got.page is not None:
                batch.append(got.page)
                if len(batch) >= chunk:
                    submit()
        if warming is not None:
            await asyncio.wait([warming])
        submit()
        log.debug("collect: fetching done, %d chunks submitted", len(chunks))
        gathered = await asyncio.gather(*extracting, return_exceptions=True)
        log.debug("collect: extraction done")
    finally:
        for each in pools:
            each.shutdown(wait=True, cancel_futures=True)

    extracted: dict[str, Article | ExtractFailure] = {}
    for pages, output in zip(chunks, gathered, strict=True):
        if isinstance(output, BaseException):  # a worker died: the chunk failed, the run goes on
            log.warning("extraction of %d pages failed: %r", len(pages), output)
            output = [ExtractFailure(p.url, p.source, f"worker failed: {output!r}") for p in pages]
        for page, item in zip(pages, output, strict=True):
            extracted[page.url] = item
    for link in fresh:
        got = fetched[link.url]
        record = got.record
        done = extracted.get(link.url)
        if isinstance(done, ExtractFailure):
            record = replace(record, outcome="error", error=done.reason, error_kind="ExtractError")
        elif isinstance(done, Article):
            # Which of two copies is the original, and so keeps `new`, dedup decides once.
            result.articles.append(done)
        if got.cache is not None and not isinstance(done, Article):
            # Remember validators only for pages we did not store, so an unchanged page that
            # gave no article costs no extraction next time; stored ones are never refetched.
            result.cache[link.url] = got.cache
        result.records.append(record)
        single = url_sources.get(link.url)
        if single is not None:
            ok = record.outcome != "error"
            result.sources.append(
                SourceUpdate(
                    single.name,
                    single.kind,
                    single.url,
                    ok,
                    record.error,
                    record.status_code,
                    error_kind=record.error_kind,
                )
            )
    for url, single in url_sources.items():
        if url in stored:
            result.sources.append(
                SourceUpdate(single.name, single.kind, single.url, True, None, None)
            )
    log.info(
        "collect: %d articles, %d fetch records, %d requests",
        len(result.articles),
        len(result.records),
        fetcher.requests,
    )
    return result


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
) -> CollectResult:
    """Fetch due sources and their new article pages; extract them in worker processes."""

    async def main() -> CollectResult:
        if client is not None:
            return await _collect(settings, store, client, executor)
        async with build_client(settings.fetch) as own:
            return await _collect(settings, store, own, executor)

    log.info("run %s: collecting from %d sources", run_id, len(settings.sources))
    return _run(main())
