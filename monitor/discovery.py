"""Discovery: read the due sources (feeds, sitemaps and their child sitemaps, news-search APIs)
into the links of the pages to fetch.

Each source is read by its own coroutine, which returns what it found (`SourceRead`: links, one
fetch record per URL read, HTTP validators, the source's health update); `discover` runs them
concurrently and puts their results together: one link per URL across sources, the newest first,
at most `fetch.max_articles_per_source` per source. Every limit a source hits (child sitemaps,
links) is recorded as a `skipped` fetch row with error_kind `CutOff` and in its health.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from monitor.errors import ParseError
from monitor.fetch import Fetcher, FetchResult
from monitor.health import SourceUpdate
from monitor.models import CacheEntry, FetchRecord, Link
from monitor.progress import Progress
from monitor.settings import SourceSettings
from monitor.sources import parse_source
from monitor.store import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceRead:
    """What reading one source gave: its links, and what to record of each URL read."""

    source: SourceSettings
    links: tuple[Link, ...]
    records: tuple[FetchRecord, ...]
    cache: Mapping[str, CacheEntry]
    update: SourceUpdate | None  # None for a single-page source: its page's fetch decides
    urls: frozenset[str]  # the URLs read as this source (the source, its child sitemaps)


@dataclass(frozen=True)
class Discovery:
    """The links to consider fetching, and what reading the sources left to record."""

    links: tuple[Link, ...]
    records: tuple[FetchRecord, ...]
    cache: Mapping[str, CacheEntry]
    updates: tuple[SourceUpdate, ...]
    source_urls: frozenset[str]


def cutoff_record(src: SourceSettings, reason: str) -> FetchRecord:
    """The fetch-log row of a cut-off: outcome `skipped`, error_kind `CutOff`."""
    return FetchRecord(src.url, src.name, utcnow(), "skipped", error=reason, error_kind="CutOff")


async def read_source(
    fetcher: Fetcher, src: SourceSettings, cache: Mapping[str, CacheEntry]
) -> SourceRead:
    """Fetch and parse one source (and a sitemap index's children)."""
    if src.kind == "url":
        link = Link(url=src.url, source=src.name, language=src.language)
        return SourceRead(src, (link,), (), {}, None, frozenset())
    queue = [src.url]
    seen: set[str] = set()
    links: list[Link] = []
    records: list[FetchRecord] = []
    validators: dict[str, CacheEntry] = {}
    first_error: FetchRecord | None = None
    status: int | None = None
    max_age: float | None = None
    most = fetcher.settings.max_child_sitemaps + 1  # the source itself and its children
    while queue and len(seen) < most:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
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
                links.extend(
                    replace(link, language=src.language)
                    if src.language and not link.language
                    else link
                    for link in parsed.links
                )
                queue.extend(c for c in parsed.children if c not in seen)
                log.info("source %s: %d links from %s", src.name, len(parsed.links), url)
        if got.cache is not None:
            validators[url] = got.cache
        if record.outcome == "error" and first_error is None:
            first_error = record
        records.append(record)
    unread = [u for u in dict.fromkeys(queue) if u not in seen]
    cutoff = None
    if unread:
        cutoff = (
            f"sitemap index cut off: read {len(seen) - 1} child sitemaps, "
            f"{len(unread)} more not read (fetch.max_child_sitemaps = "
            f"{fetcher.settings.max_child_sitemaps})"
        )
        records.append(cutoff_record(src, cutoff))
        log.info("source %s: %s", src.name, cutoff)
    update = SourceUpdate(
        src.name,
        src.kind,
        src.url,
        first_error is None or bool(links),
        first_error.error if first_error else None,
        status,
        max_age,
        first_error.error_kind if first_error else None,
        cutoff,
    )
    return SourceRead(src, tuple(links), tuple(records), validators, update, frozenset(seen))


def newest_first(links: Sequence[Link], limit: int) -> list[Link]:
    """At most `limit` links, the newest first (undated ones last, in the source's order)."""
    ordered = sorted(
        enumerate(links),
        key=lambda item: (
            item[1].published_at is None,
            -(item[1].published_at.timestamp() if item[1].published_at else 0),
            item[0],
        ),
    )
    return [link for _, link in ordered[:limit]]


def _capped(read: SourceRead, cap: int) -> SourceRead:
    """The source's newest `cap` links; a cut-off recorded when it gave more."""
    if len(read.links) <= cap:
        return read
    reason = (
        f"links cut off: took the newest {cap} of {len(read.links)} (fetch.max_articles_per_source)"
    )
    log.info("source %s: %s", read.source.name, reason)
    update = read.update
    if update is not None:
        update = replace(update, cutoff=f"{update.cutoff}; {reason}" if update.cutoff else reason)
    return replace(
        read,
        links=tuple(newest_first(read.links, cap)),
        records=(*read.records, cutoff_record(read.source, reason)),
        update=update,
    )


async def discover(
    fetcher: Fetcher,
    due: Sequence[SourceSettings],
    cache: Mapping[str, CacheEntry],
    progress: Progress,
) -> Discovery:
    """Read every due source concurrently; one link per URL across sources, capped per source."""

    async def one(src: SourceSettings) -> SourceRead:
        read = await read_source(fetcher, src, cache)
        progress.source_read(src.name, len(read.links))
        return read

    reads = await asyncio.gather(*(one(s) for s in due))
    cap = fetcher.settings.max_articles_per_source
    capped = [_capped(r, cap) for r in reads]
    links: dict[str, Link] = {}
    for read in capped:
        for link in read.links:
            links.setdefault(link.url, link)
    return Discovery(
        links=tuple(links.values()),
        records=tuple(r for read in capped for r in read.records),
        cache={url: entry for read in capped for url, entry in read.cache.items()},
        updates=tuple(read.update for read in capped if read.update is not None),
        source_urls=frozenset(u for read in capped for u in read.urls),
    )
