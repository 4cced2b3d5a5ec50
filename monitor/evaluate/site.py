"""A labelled folder served as a news site on 127.0.0.1: one page per article behind an RSS feed.

This is how `monitor eval` measures what users get: the articles reach the real ingest as web
pages (fetch, extract, dedup, stories, classify), not as text files. Three ways of dating them:

    dated     the folder's `published` day in the page metadata (`article:published_time`) and
              in the feed (`pubDate`)
    undated   neither: only what the text itself says remains
    coarse    no page metadata, and the feed gives every item the same day, the day of the run
              (feeds and sitemaps that stamp items with the time they were generated)

The outlet is named in `og:site_name` (the host of the article's original URL). The header lines
of the labelled files are never served.
"""

from __future__ import annotations

import email.utils
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from monitor.evaluate.labelled import LabelledArticle
from monitor.seeds import looks_like_headline
from monitor.urls import host_of

FEED_PATH = "/feed.xml"
Dating = Literal["dated", "undated", "coarse"]


def page_path(item: LabelledArticle) -> str:
    """Where an article's page is served."""
    return f"/a/{item.id}.html"


def page_html(item: LabelledArticle, *, dating: Dating, lang: str | None = "en") -> bytes:
    """An article page: headline (when the text opens with one), paragraphs, metadata; `lang`
    is what `<html lang>` declares (None: nothing). Every folder is served declaring English
    by default, so the stored language shows what was read from the text."""
    lines = [line.strip() for line in item.body.split("\n") if line.strip()]
    title = lines[0] if len(lines) > 1 and looks_like_headline(lines[0]) else None
    paragraphs = lines[1:] if title else lines
    outlet = host_of(item.url) or "example.org"
    head = [
        '<meta charset="utf-8">',
        f'<meta property="og:site_name" content="{escape(outlet)}">',
    ]
    if title:
        head.append(f"<title>{escape(title)}</title>")
    if dating == "dated" and item.published is not None:
        head.append(
            f'<meta property="article:published_time" content="{item.published.isoformat()}">'
        )
    body = [f"<h1>{escape(title)}</h1>"] if title else []
    body += [f"<p>{escape(p)}</p>" for p in paragraphs]
    page = (
        "<!doctype html><html"
        + (f' lang="{escape(lang)}"' if lang else "")
        + "><head>"
        + "".join(head)
        + "</head><body><article>"
        + "".join(body)
        + "</article></body></html>"
    )
    return page.encode("utf-8")


def feed_xml(items: Sequence[LabelledArticle], base: str, *, dating: Dating) -> bytes:
    """An RSS 2.0 feed linking every page, in folder order."""
    entries = []
    run_day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for item in items:
        parts = [f"<link>{escape(base + page_path(item))}</link>"]
        when: datetime | None = None
        if dating == "dated" and item.published is not None:
            when = datetime(*item.published.timetuple()[:3], tzinfo=UTC)
        elif dating == "coarse":
            when = run_day
        if when is not None:
            parts.append(f"<pubDate>{email.utils.format_datetime(when)}</pubDate>")
        entries.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>labelled articles</title><link>" + escape(base) + "</link>"
        "<description>monitor eval</description>" + "".join(entries) + "</channel></rss>"
    ).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        """Serve a page, the feed or robots.txt; 404 for anything else."""
        body = self.server.routes.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(404)
            return
        kind = "application/rss+xml" if self.path == FEED_PATH else "text/html; charset=utf-8"
        if self.path == "/robots.txt":
            kind = "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the pipeline records every fetch."""


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, bytes] = {}

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@contextmanager
def serve(
    items: Sequence[LabelledArticle], *, dating: Dating, lang: str | None = "en"
) -> Iterator[str]:
    """Serve the articles and their feed on 127.0.0.1 for the block; yield the feed's URL.
    Every page declares `lang` (None: no language)."""
    site = _Site()
    site.routes = {page_path(item): page_html(item, dating=dating, lang=lang) for item in items}
    site.routes[FEED_PATH] = feed_xml(items, site.base, dating=dating)
    site.routes["/robots.txt"] = b"User-agent: *\nAllow: /\n"
    thread = threading.Thread(target=site.serve_forever, name="eval-site", daemon=True)
    thread.start()
    try:
        yield site.base + FEED_PATH
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=5)
