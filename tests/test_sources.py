"""Discovery: real feeds from ../shared/data/feeds, news sitemaps, GDELT ArtList answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import feedparser
import pytest

from monitor.collect import collect
from monitor.errors import ParseError
from monitor.fetch import Fetcher, build_client
from monitor.health import save_fetch_state, source_health
from monitor.pipeline import open_store
from monitor.settings import FetchSettings, Settings, load_settings
from monitor.sources import parse_feed, parse_gdelt, parse_sitemap, parse_source
from tests.fetch_server import FEEDS, LocalServer, running, static

FEED_FILES = (
    sorted(p for p in FEEDS.rglob("*") if p.is_file() and p.suffix in {".xml", ".rss", ".atom"})
    if FEEDS.is_dir()
    else []
)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    with running(srv):
        yield srv


@pytest.mark.skipif(not FEED_FILES, reason="../shared/data/feeds is absent (real feed files)")
@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shared_feed_is_read_or_fails_with_a_reason(path: Path, server: LocalServer) -> None:
    data = path.read_bytes()
    route = f"/feeds/{path.parent.name}/{path.name}"
    server.routes[route] = static(data, "application/rss+xml")
    settings = FetchSettings(per_host_delay_s=0, trusted_hosts=["127.0.0.1"], timeout_s=5)

    async def fetch_and_parse() -> list[object]:
        async with build_client(settings) as client:
            got = await Fetcher(client, settings).fetch(server.url(route), "f", purpose="source")
        assert got.record.outcome == "new", got.record
        assert got.page is not None
        try:
            return list(parse_source("feed", got.page.html, "f", server.url(route)).links)
        except ParseError as exc:
            assert str(exc), "a parse failure must say why"
            return [exc]

    result = asyncio.run(fetch_and_parse())
    parsed = feedparser.parse(data)
    if result and isinstance(result[0], ParseError):
        # Only a feed feedparser itself found broken and empty may fail.
        assert parsed.bozo and not parsed.entries
        return
    for link in result:
        assert link.url.startswith(("http://", "https://"))  # type: ignore[attr-defined]
        assert link.source == "f"  # type: ignore[attr-defined]
    if not parsed.bozo:
        with_links = [e for e in parsed.entries if e.get("link")]
        assert len(result) == len(with_links)


def test_feed_dates_titles_and_google_news_outlets() -> None:
    data = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Google News</title>
    <item><title>Iraq asks US-led coalition to plan exit - Reuters</title>
    <link>https://news.google.com/rss/articles/CBMiabc?oc=5</link>
    <pubDate>Fri, 26 Jan 2024 12:00:00 GMT</pubDate>
    <source url="https://www.reuters.com">Reuters</source></item>
    <item><title>relative</title><link>/world/iraq-1</link></item>
    <item><title>no link</title></item>
    </channel></rss>"""
    links = parse_feed(data, "gn", base_url="https://example.org/feed")
    assert [link.url for link in links] == [
        "https://news.google.com/rss/articles/CBMiabc?oc=5",
        "https://example.org/world/iraq-1",
    ]
    assert links[0].outlet == "Reuters"
    assert links[0].published_at == datetime(2024, 1, 26, 12, 0)
    # An item without <source> is not the feed's: the feed's title is kept apart, an outlet
    # name of last resort (after the page's own name and its host, monitor/titles.py).
    assert (links[1].outlet, links[1].feed_name) == (None, "Google News")


def test_an_html_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="feed"):
        parse_feed(b"<html><body><p>Hello</p></body></html>", "x")


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://www.rudaw.net/english/middleeast/iraq/260120241</loc>
    <news:news>
      <news:publication><news:name>Rudaw</news:name><news:language>en</news:language>
      </news:publication>
      <news:publication_date>2024-01-26T14:05:00+03:00</news:publication_date>
      <news:title>Baghdad and Washington open talks on coalition future</news:title>
    </news:news></url>
  <url><loc>https://www.rudaw.net/english/about</loc><lastmod>2023-05-01</lastmod></url>
  <url><loc>javascript:alert(1)</loc></url>
</urlset>"""


def test_news_sitemap_tags_give_title_date_outlet() -> None:
    parsed = parse_sitemap(NEWS_SITEMAP, "rudaw")
    assert [link.url for link in parsed.links] == [
        "https://www.rudaw.net/english/middleeast/iraq/260120241",
        "https://www.rudaw.net/english/about",
        "javascript:alert(1)",  # kept: the fetch records why it is not fetched
    ]
    first = parsed.links[0]
    assert first.title == "Baghdad and Washington open talks on coalition future"
    assert first.outlet == "Rudaw" and first.language == "en"
    assert first.published_at == datetime(2024, 1, 26, 11, 5)
    assert parsed.links[1].published_at == datetime(2023, 5, 1)


def test_sitemap_index_lists_children_and_garbage_fails() -> None:
    index = b"""<?xml version="1.0"?>
    <sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>https://example.org/news-1.xml</loc></sitemap>
      <sitemap><loc>/news-2.xml</loc></sitemap>
    </sitemapindex>"""
    parsed = parse_sitemap(index, "x", base_url="https://example.org/sitemap.xml")
    assert parsed.links == []
    assert parsed.children == ["https://example.org/news-1.xml", "https://example.org/news-2.xml"]
    with pytest.raises(ParseError):
        parse_sitemap(b"<html><body>not a sitemap</body></html>", "x")
    with pytest.raises(ParseError):
        parse_sitemap(b"", "x")


def test_gdelt_artlist_json() -> None:
    answer = {
        "articles": [
            {
                "url": "https://www.kurdistan24.net/en/story/123-iraq-us-talks",
                "url_mobile": "",
                "title": "Iraq, US begin talks on ending coalition mission",
                "seendate": "20240126T120000Z",
                "socialimage": "",
                "domain": "kurdistan24.net",
                "language": "English",
                "sourcecountry": "Iraq",
            },
            {"url": "ftp://bad.example/x", "seendate": "20240126T120000Z"},
            {"url": "https://example.com/a", "seendate": "garbage"},
        ]
    }
    links = parse_gdelt(json.dumps(answer).encode(), "gdelt")
    assert [link.url for link in links] == [
        "https://www.kurdistan24.net/en/story/123-iraq-us-talks",
        "ftp://bad.example/x",  # kept: the fetch records why it is not fetched
        "https://example.com/a",
    ]
    assert links[0].published_at == datetime(2024, 1, 26, 12, 0, 0)
    assert links[0].outlet == "kurdistan24.net"
    assert links[2].published_at is None
    assert parse_gdelt(b"{}", "gdelt") == []
    with pytest.raises(ParseError, match="not JSON"):
        parse_gdelt(b"Invalid query: the specified phrase is too short.", "gdelt")


def test_sitemap_index_is_followed_over_http(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/sitemap-index.xml"] = static(
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>/sitemap-news.xml</loc></sitemap></sitemapindex>",
        "application/xml",
    )
    page = (
        "<html><head><title>Talks</title></head><body><article><h1>Talks</h1>"
        + "<p>Iraqi and American officials met in Baghdad to discuss the coalition.</p>" * 8
        + "</article></body></html>"
    ).encode()
    server.routes["/news/talks.html"] = static(page)
    server.routes["/sitemap-news.xml"] = static(
        NEWS_SITEMAP.replace(
            b"https://www.rudaw.net/english/middleeast/iraq/260120241",
            server.url("/news/talks.html").encode(),
        ).replace(
            b"<url><loc>https://www.rudaw.net/english/about</loc>"
            b"<lastmod>2023-05-01</lastmod></url>",
            b"",
        ),
        "application/xml",
    )
    settings = Settings.model_validate(
        {
            "storage": {"db": str(tmp_path / "m.duckdb")},
            "seeds": {"dirs": []},
            "sources": [{"name": "sm", "kind": "sitemap", "url": server.url("/sitemap-index.xml")}],
            "fetch": {
                "per_host_delay_s": 0,
                "trusted_hosts": ["127.0.0.1"],
                "respect_robots": False,
            },
            "runner": {"workers": 1},
        }
    )
    store = open_store(settings)
    result = collect(settings, store, "r")
    save_fetch_state(store, settings, result.cache, result.updates)
    assert [a.url for a in result.articles] == [server.url("/news/talks.html")]
    article = result.articles[0]
    assert article.outlet == "Rudaw"  # no site name in the page: the sitemap's publication name
    assert article.date_source == "feed"
    assert article.published_at == datetime(2024, 1, 26, 11, 5)
    assert {r.outcome for r in result.records if r.url.startswith("http")} == {"new"}
    (odd,) = [r for r in result.records if not r.url.startswith("http")]
    assert (odd.outcome, odd.error_kind) == ("error", "FetchInvalidURL")
    (health,) = source_health(store, settings)
    assert health.consecutive_failures == 0 and health.last_success_at is not None


def test_default_sources_cover_the_outlets_and_gdelt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    kinds = {s.kind for s in settings.sources}
    assert {"feed", "gdelt"} <= kinds
    gdelt = [s for s in settings.sources if s.kind == "gdelt"]
    assert all("mode=ArtList" in s.url and "format=json" in s.url for s in gdelt)
    assert any("news.google.com/rss/search" in s.url for s in settings.sources)
    assert len({s.name for s in settings.sources}) == len(settings.sources)
