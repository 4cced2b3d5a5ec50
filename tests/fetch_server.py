"""A real HTTP server on 127.0.0.1 for fetch tests and the fetch benchmark.

It serves the real pages of `shared/data/realworld/aeb`, the real feeds of `shared/data/feeds`,
a generated RSS feed, and fault routes (timeout, 500, 429 + Retry-After, connection reset, redirect
loop, 60 MB body, gzip bomb, lying charset, PDF, empty body, 304 on the second request). It counts
the requests to each path so tests can show that retries stay bounded.
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

# The shared folder beside the repo root; MONITOR_SHARED_DATA points elsewhere (e.g. from a git
# worktree, whose parent folder has no shared/ beside it).
DATA = Path(
    os.environ.get("MONITOR_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)
AEB = DATA / "realworld" / "aeb"
FEEDS = DATA / "feeds"

ROBOTS = b"User-agent: *\nDisallow: /private/\n"
CHARSET_SENTENCE = (
    "The caf\u00e9 owner in Erbil said the na\u00efve plan \u2014 a full withdrawal of "
    "coalition troops \u2014 would change the city."
)

Route = Callable[["Handler"], None]

_BOMB: bytes | None = None


def gzip_bomb(size: int = 100_000_000) -> bytes:
    """A gzip stream of `size` zero bytes (about 1000:1)."""
    global _BOMB
    if _BOMB is None:
        comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b"\0" * 1_000_000
        parts = [comp.compress(block) for _ in range(size // len(block))]
        parts.append(comp.flush())
        _BOMB = b"".join(parts)
    return _BOMB


def article_html(title: str, paragraphs: list[str], *, head: str = "") -> str:
    """A small but real-looking article page."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='en'><head><title>{escape(title)}</title>{head}</head>"
        f"<body><nav><a href='/'>Home</a> | <a href='/world'>World</a></nav>"
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        f"<footer>Copyright Example News</footer></body></html>"
    )


def rss(items: list[dict[str, str]], *, title: str = "Test feed") -> bytes:
    """An RSS 2.0 document with the given items (link, title, pubDate)."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>http://example.org/</link>",
        "<description>test</description>",
    ]
    for item in items:
        parts.append("<item>")
        for key, value in item.items():
            parts.append(f"<{key}>{escape(value)}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    """Dispatches to the server's routes by path, counting hits."""

    server: LocalServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Send a complete response."""
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "text/html; charset=utf-8")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.note(path, dict(self.headers.items()))
        route = self.server.route_for(path)
        if route is None:
            self.send(404, b"not found")
            return
        with suppress(BrokenPipeError, ConnectionResetError):
            route(self)


class LocalServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a route table and per-path hit log."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.prefix_routes: list[tuple[str, Route]] = []
        self.hits: Counter[str] = Counter()
        self.hit_times: dict[str, list[float]] = {}
        self.request_headers: dict[str, list[dict[str, str]]] = {}
        self._lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on the fault routes are expected; stay quiet."""

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return self.base + path

    def note(self, path: str, headers: dict[str, str]) -> None:
        """Record one request."""
        with self._lock:
            self.hits[path] += 1
            self.hit_times.setdefault(path, []).append(time.monotonic())
            self.request_headers.setdefault(path, []).append(
                {k.lower(): v for k, v in headers.items()}
            )

    def route_for(self, path: str) -> Route | None:
        """The route serving a path."""
        if path in self.routes:
            return self.routes[path]
        for prefix, route in self.prefix_routes:
            if path.startswith(prefix):
                return route
        return None


# -- route builders ------------------------------------------------------------------------------


def static(
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> Route:
    """Always the same body."""

    def route(h: Handler) -> None:
        h.send(200, body, {"Content-Type": content_type, **(headers or {})})

    return route


def with_etag(body: bytes, etag: str, content_type: str = "text/html; charset=utf-8") -> Route:
    """Serves the body with an ETag; answers 304 when the client sends it back."""

    def route(h: Handler) -> None:
        if h.headers.get("If-None-Match") == etag:
            h.send(304, b"", {"ETag": etag})
        else:
            h.send(
                200,
                body,
                {
                    "Content-Type": content_type,
                    "ETag": etag,
                    "Last-Modified": "Fri, 26 Jan 2024 12:00:00 GMT",
                },
            )

    return route


def sleeper(seconds: float) -> Route:
    """Answers only after `seconds` (longer than the client's timeout)."""

    def route(h: Handler) -> None:
        time.sleep(seconds)
        h.send(200, b"<html>too late</html>")

    return route


def status(code: int, headers: dict[str, str] | None = None) -> Route:
    """Always this status."""

    def route(h: Handler) -> None:
        h.send(code, b"error", headers)

    return route


def then_ok(first: Route, body: bytes) -> Route:
    """`first` on the first request, then 200 with the body."""
    calls = {"n": 0}
    lock = threading.Lock()

    def route(h: Handler) -> None:
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 1:
            first(h)
        else:
            h.send(200, body)

    return route


def reset(h: Handler) -> None:
    """Closes the connection with a TCP RST before answering."""
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def redirect(target: str) -> Route:
    """302 to target."""

    def route(h: Handler) -> None:
        h.send(302, b"", {"Location": target})

    return route


def huge(size: int = 60_000_000) -> Route:
    """A chunked response of `size` bytes of HTML-ish text, no Content-Length."""

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"<p>" + b"x" * 65_000 + b"</p>"
        sent = 0
        try:
            while sent < size:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    return route


def bomb(h: Handler) -> None:
    """A gzip bomb: ~100 KB on the wire, 100 MB once decompressed."""
    h.send(200, gzip_bomb(), {"Content-Type": "text/html", "Content-Encoding": "gzip"})


def gzipped(body: bytes) -> Route:
    """The body gzip-encoded on the wire."""
    packed = gzip.compress(body)

    def route(h: Handler) -> None:
        h.send(200, packed, {"Content-Encoding": "gzip"})

    return route


@contextmanager
def running(server: LocalServer) -> Iterator[LocalServer]:
    """Serve in a background thread for the duration of the block."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def aeb_pages() -> dict[str, bytes]:
    """stem -> HTML bytes of the realworld/aeb pages (empty when the data is absent)."""
    if not (AEB / "html").is_dir():
        return {}
    return {
        p.name.removesuffix(".html.gz"): gzip.decompress(p.read_bytes())
        for p in sorted((AEB / "html").glob("*.html.gz"))
    }
