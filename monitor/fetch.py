"""Polite, bounded, safe HTTP fetching with httpx (async).

One `Fetcher` per run holds the politeness state: a global and a per-host concurrency bound, the
time each host may next be asked, the robots.txt rules per origin and the address checks per host.
Every call to `Fetcher.fetch` ends in a `FetchResult` whose `record` says what happened; errors
never escape as exceptions, so one bad URL cannot stop a run.

Rules, in the order they apply to each URL and to every redirect hop:

1. only well-formed http and https URLs that every parser reads the same way
   (`urls.why_unfetchable`): anything else is one failed fetch, `FetchInvalidURL`;
2. the host must not resolve to a private, loopback, link-local, reserved or multicast address,
   unless `fetch.allow_private_networks` is true or the host is in `fetch.trusted_hosts`. This
   is checked when the connection is made (`transport.GuardedBackend`, httpx's network
   backend): the addresses checked are the addresses connected to (DNS rebinding cannot pass);
3. article pages only: robots.txt of the origin must allow our User-Agent (RFC 9309: a 4xx
   robots.txt allows everything, an unreachable or 5xx one allows nothing);
4. at most `per_host_concurrency` requests at once to a host, starting at least `per_host_delay_s`
   apart (5 s for the GDELT API whatever the setting), and at most `concurrency` in all;
5. timeouts, 408, 429 and 5xx are retried up to `max_retries` times with exponential backoff,
   honouring Retry-After, never waiting longer than `max_retry_delay_s` at once;
6. the body is read as a stream and decompressed here, so `max_bytes` counts decompressed bytes
   and a gzip bomb is cut off after `max_bytes`;
7. PDFs, images and other binaries are recorded as skipped, not read.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from monitor.errors import (
    FetchBlocked,
    FetchConnection,
    FetchError,
    FetchHTTPStatus,
    FetchInvalidURL,
    FetchTimeout,
    FetchTooLarge,
    FetchUnsupported,
)
from monitor.models import CacheEntry, FetchOutcome, FetchRecord, Link, Page
from monitor.settings import FetchSettings
from monitor.transport import build_client

__all__ = ["FetchResult", "Fetcher", "build_client"]
from monitor.urls import why_unfetchable

log = logging.getLogger(__name__)

#: Hosts that publish a stricter rate limit than our default politeness delay.
HOST_MIN_DELAY_S: dict[str, float] = {"api.gdeltproject.org": 5.0}
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 512_000
_BASE_BACKOFF_S = 1.0

Purpose = Literal["page", "source", "robots"]


@dataclass(frozen=True)
class FetchResult:
    """How fetching one URL ended: a record always; a page when a new body arrived."""

    record: FetchRecord
    page: Page | None = None
    cache: CacheEntry | None = None
    max_age_s: float | None = None


def body_hash(data: bytes) -> str:
    """Hex SHA-256 of a response body, for the unchanged-body skip."""
    return hashlib.sha256(data).hexdigest()


def host_delay(host: str, settings: FetchSettings) -> float:
    """The minimum gap between two requests to `host`."""
    return max(settings.per_host_delay_s, HOST_MIN_DELAY_S.get(host.lower(), 0.0))


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    base = now if now is not None else time.time()
    return max(0.0, when.timestamp() - base)


def cache_max_age_s(headers: httpx.Headers) -> float | None:
    """max-age from Cache-Control (a feed's own idea of how often to come back)."""
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value.strip())
    return None


_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b")
_TEXTUAL_HINTS = ("html", "xml", "rss", "atom", "json", "text/")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip().strip("\"'").lower() or None
    return None


def check_content_type(content_type: str | None) -> None:
    """Raise FetchUnsupported for a declared type we do not read (PDF, image, binary)."""
    media = _media_type(content_type)
    if not media:
        return
    if any(hint in media for hint in _TEXTUAL_HINTS):
        return
    raise FetchUnsupported(f"unsupported content type {media}")


def check_body(data: bytes) -> None:
    """Raise FetchUnsupported when a body is binary whatever its header said."""
    head = data[:1024].lstrip()
    if head.startswith(_BINARY_MAGIC) or b"\x00" in data[:1024]:
        raise FetchUnsupported("binary body (PDF, image or archive)")


class _Decoder:
    """Content-Encoding decoder that never produces more than it is allowed to."""

    def __init__(self, encoding: str) -> None:
        enc = encoding.strip().lower()
        self._obj: zlib._Decompress | None
        self._deflate = False
        if enc in ("", "identity"):
            self._obj = None
        elif enc in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._obj = zlib.decompressobj(zlib.MAX_WBITS)
            self._deflate = True
        else:
            raise FetchUnsupported(f"unsupported content encoding {encoding!r}")

    def decode(self, chunk: bytes, limit: int) -> bytes:
        if self._obj is None:
            return chunk
        try:
            return self._obj.decompress(chunk, limit)
        except zlib.error:
            if self._deflate:  # servers that send raw deflate without the zlib header
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate = False
                return self._obj.decompress(chunk, limit)
            raise

    @property
    def pending(self) -> bool:
        return bool(self._obj is not None and self._obj.unconsumed_tail)


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The decompressed body, raising FetchTooLarge as soon as it passes `max_bytes`."""
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    parts: list[bytes] = []
    total = 0
    try:
        async for chunk in response.aiter_raw():
            out = decoder.decode(chunk, max_bytes - total + 1)
            total += len(out)
            if total > max_bytes or decoder.pending:
                raise FetchTooLarge(f"body larger than {max_bytes} bytes (after decompression)")
            parts.append(out)
    except zlib.error as exc:
        raise FetchConnection(f"corrupt compressed body: {exc}") from exc
    return b"".join(parts)


class _Clock:
    """Time spent in requests only: running() adds the time its block takes."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds += time.monotonic() - start

    @property
    def ms(self) -> int:
        return int(self.seconds * 1000)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str


class Fetcher:
    """Fetches URLs under the politeness, retry and safety rules of one run."""

    def __init__(self, client: httpx.AsyncClient, settings: FetchSettings) -> None:
        self.client = client
        self.settings = settings
        self._all = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_at: dict[str, float] = {}
        self._robots: dict[str, asyncio.Task[Protego | str]] = {}
        self.requests = 0

    # -- public -------------------------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        source: str,
        *,
        purpose: Purpose = "page",
        cache: CacheEntry | None = None,
        link: Link | None = None,
    ) -> FetchResult:
        """Fetch one URL; never raises for what the web does, the record says what happened.

        `elapsed_ms` is the time spent in requests (each hop and retry, from sending to the
        last byte), not the waits for a concurrency slot, a politeness delay or a backoff.
        """
        clock = _Clock()
        fetched_at = datetime.now(UTC).replace(tzinfo=None)

        def record(
            outcome: FetchOutcome,
            status: int | None,
            error: FetchError | None = None,
            size: int = 0,
        ) -> FetchRecord:
            elapsed = clock.ms
            kind = type(error).__name__ if error is not None else None
            message = str(error) if error is not None else None
            return FetchRecord(
                url, source, fetched_at, outcome, status, message, size, elapsed, kind
            )

        try:
            try:
                answer = await self._fetch(url, purpose, cache, clock)
            except httpx.InvalidURL as exc:  # a hop check_url let through: still one record
                raise FetchInvalidURL(f"invalid URL: {exc}") from exc
        except FetchError as exc:
            status = exc.status_code if isinstance(exc, FetchHTTPStatus) else None
            outcome: FetchOutcome = (
                "skipped" if isinstance(exc, FetchBlocked | FetchUnsupported) else "error"
            )
            log.info("fetch %s: %s (%s)", url, outcome, exc)
            return FetchResult(record(outcome, status, exc))
        max_age = cache_max_age_s(answer.headers)
        if answer.status == 304:
            return FetchResult(record("not_modified", 304), cache=cache, max_age_s=max_age)
        digest = body_hash(answer.body)
        entry = CacheEntry(answer.headers.get("etag"), answer.headers.get("last-modified"), digest)
        if cache is not None and cache.body_hash == digest:
            rec = record("not_modified", answer.status, size=len(answer.body))
            return FetchResult(rec, cache=entry, max_age_s=max_age)
        if not answer.body.strip():
            rec = record("error", answer.status, FetchError("empty body"))
            return FetchResult(rec, cache=entry, max_age_s=max_age)
        content_type = answer.headers.get("content-type")
        page = Page(
            url=url,
            final_url=answer.url,
            source=source,
            status_code=answer.status,
            html=answer.body,
            content_type=content_type,
            encoding=_charset(content_type),
            fetched_at=fetched_at,
            elapsed_ms=clock.ms,
            etag=entry.etag,
            last_modified=entry.last_modified,
            link=link,
        )
        rec = record("new", answer.status, size=len(answer.body))
        return FetchResult(rec, page=page, cache=entry, max_age_s=max_age)

    # -- the rules ----------------------------------------------------------------------------

    async def _fetch(
        self, url: str, purpose: Purpose, cache: CacheEntry | None, clock: _Clock
    ) -> _Answer:
        current = url
        for hop in range(self.settings.max_redirects + 1):
            await self.check_url(current)
            if purpose == "page" and self.settings.respect_robots:
                await self._check_robots(current)
            headers: dict[str, str] = {}
            if hop == 0 and cache is not None:
                if cache.etag:
                    headers["If-None-Match"] = cache.etag
                if cache.last_modified:
                    headers["If-Modified-Since"] = cache.last_modified
            max_bytes = ROBOTS_MAX_BYTES if purpose == "robots" else self.settings.max_bytes
            answer = await self._with_retries(current, headers, max_bytes, purpose, clock)
            if answer.status in REDIRECT_STATUSES:
                location = answer.headers.get("location")
                if not location:
                    raise FetchHTTPStatus("redirect without Location", answer.status)
                try:
                    current = urljoin(current, location.strip())
                except ValueError as exc:
                    raise FetchInvalidURL(f"redirect to an invalid URL: {exc}") from exc
                continue
            if answer.status == 304 or 200 <= answer.status < 300:
                return answer
            raise FetchHTTPStatus(f"HTTP {answer.status}", answer.status)
        raise FetchConnection(f"more than {self.settings.max_redirects} redirects")

    async def check_url(self, url: str) -> None:
        """Raise FetchInvalidURL unless the URL is a well-formed http(s) URL with a host that
        every parser reads the same way (`urls.why_unfetchable`, then httpx's own parser).

        Where the host may connect to is checked at connection time (GuardedBackend).
        """
        reason = why_unfetchable(url)
        if reason is None:
            try:
                httpx.URL(url)
            except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
                reason = f"invalid URL: {exc}"
        if reason is not None:
            raise FetchInvalidURL(reason)

    async def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        task = self._robots.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load_robots(origin))
            self._robots[origin] = task
        rules = await task
        if isinstance(rules, str):
            raise FetchBlocked(rules)
        if not rules.can_fetch(url, self.settings.user_agent):
            raise FetchBlocked("disallowed by robots.txt")

    async def _load_robots(self, origin: str) -> Protego | str:
        """Rules of an origin's robots.txt (Protego: RFC 9309 wildcards, `$`, longest match)."""
        try:
            answer = await self._fetch(origin + "/robots.txt", "robots", None, _Clock())
        except FetchHTTPStatus as exc:
            if 400 <= exc.status_code < 500:
                return Protego.parse("")
            return f"robots.txt answered HTTP {exc.status_code}; not fetching from {origin}"
        except FetchBlocked as exc:  # the origin itself is refused (a private address)
            return str(exc)
        except FetchError as exc:
            return f"robots.txt unreachable ({exc}); not fetching from {origin}"
        return Protego.parse(answer.body.decode("utf-8", errors="replace"))

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        semaphore = self._hosts.setdefault(
            host, asyncio.Semaphore(self.settings.per_host_concurrency)
        )
        async with semaphore:
            now = time.monotonic()
            start = max(now, self._next_at.get(host, 0.0))
            # Reserve the start time before sleeping so concurrent callers queue behind it.
            self._next_at[host] = start + host_delay(host, self.settings)
            if start > now:
                await asyncio.sleep(start - now)
            async with self._all:
                yield

    def _hold_off(self, host: str, delay: float) -> None:
        self._next_at[host] = max(self._next_at.get(host, 0.0), time.monotonic() + delay)

    def _backoff(self, attempt: int) -> float:
        delay = _BASE_BACKOFF_S * float(2**attempt) * (0.5 + random.random() / 2)
        return min(delay, self.settings.max_retry_delay_s)

    async def _with_retries(
        self, url: str, headers: dict[str, str], max_bytes: int, purpose: Purpose, clock: _Clock
    ) -> _Answer:
        host = (urlsplit(url).hostname or "").lower()
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                async with self._slot(host):
                    self.requests += 1
                    with clock.running():
                        answer = await asyncio.wait_for(
                            self._send(url, headers, max_bytes, purpose),
                            timeout=self.settings.timeout_s * 3,
                        )
            except (httpx.TimeoutException, TimeoutError) as exc:
                if last:
                    raise FetchTimeout(f"timed out after {attempts} attempts") from exc
                delay = self._backoff(attempt)
                log.info("timeout on %s; retry %d in %.1fs", url, attempt + 1, delay)
                await asyncio.sleep(delay)
                continue
            except httpx.TooManyRedirects as exc:  # pragma: no cover - we never let httpx redirect
                raise FetchConnection(str(exc)) from exc
            except (httpx.HTTPError, OSError) as exc:
                reason = str(exc) or "connection failed"
                raise FetchConnection(f"{type(exc).__name__}: {reason}") from exc
            if answer.status in RETRY_STATUSES and not last:
                wanted = retry_after_s(answer.headers.get("retry-after"))
                delay = self._backoff(attempt) if wanted is None else wanted
                delay = min(delay, self.settings.max_retry_delay_s)
                if answer.status == 429:
                    self._hold_off(host, delay)
                log.info("HTTP %d on %s; retry %d in %.1fs", answer.status, url, attempt + 1, delay)
                await asyncio.sleep(delay)
                continue
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self, url: str, headers: dict[str, str], max_bytes: int, purpose: Purpose
    ) -> _Answer:
        request = self.client.build_request("GET", url, headers=headers)
        response = await self.client.send(request, stream=True)
        try:
            status = response.status_code
            if not 200 <= status < 300:
                return _Answer(status, response.headers, b"", url)
            if purpose != "robots":
                check_content_type(response.headers.get("content-type"))
            declared = response.headers.get("content-length", "")
            if (
                declared.isdigit()
                and int(declared) > max_bytes
                and not response.headers.get("content-encoding")
            ):
                raise FetchTooLarge(f"Content-Length {declared} is over {max_bytes} bytes")
            body = await read_capped(response, max_bytes)
            if purpose != "robots":
                check_body(body)
            return _Answer(status, response.headers, body, url)
        finally:
            await response.aclose()
