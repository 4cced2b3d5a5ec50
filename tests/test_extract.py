"""Extraction: text, metadata, dates, canonical URLs, encodings; quality on realworld/aeb."""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import trafilatura

from monitor.collect import collect
from monitor.errors import ExtractError
from monitor.extract import (
    ExtractFailure,
    decode_html,
    extract_page,
    extract_pages,
)
from monitor.models import Article, Link, Page
from monitor.pipeline import open_store, store_articles
from monitor.prepare import Preparation
from monitor.settings import Settings
from tests.fetch_server import (
    AEB,
    CHARSET_SENTENCE,
    LocalServer,
    aeb_pages,
    article_html,
    rss,
    running,
    static,
)

PARAS = [
    "Iraq's parliament voted on Sunday to ask the government to end the presence of foreign "
    "troops, two days after a US strike in Baghdad killed an Iranian general.",
    "The resolution, backed by Shiite lawmakers, calls on the government to cancel its request "
    "for help from the US-led coalition fighting Islamic State.",
    "Kurdish and Sunni lawmakers largely stayed away from the session, and the vote is not "
    "binding on the caretaker government.",
]


def page(
    html: str | bytes,
    url: str = "https://example.org/world/iraq-vote",
    link: Link | None = None,
    encoding: str | None = "utf-8",
) -> Page:
    data = html.encode("utf-8") if isinstance(html, str) else html
    return Page(
        url, url, "test", 200, data, "text/html", encoding, datetime(2024, 1, 1), 5, link=link
    )


@pytest.mark.slow  # 181 real pages extracted twice: the second lane
@pytest.mark.skipif(not aeb_pages(), reason="../shared/data/realworld/aeb is absent")
def test_lean_metadata_reads_what_trafilatura_reads_and_the_same_text() -> None:
    # page_metadata is extract_metadata cut to the fields stored, and extraction without
    # trafilatura's metadata pass is the same extraction: on every realworld page, the same
    # title, URL, site name and text; the author only where the page declares one.
    from trafilatura.metadata import extract_metadata
    from trafilatura.utils import load_html

    from monitor.extract import page_metadata

    bylines = 0
    for stem, html in aeb_pages().items():
        url = f"https://example.org/{stem}"
        full = extract_metadata(load_html(html), url, extensive=False)
        lean = page_metadata(load_html(html), url)
        assert (lean.title, lean.url, lean.sitename) == (full.title, full.url, full.sitename), stem
        assert lean.author in (None, full.author), stem
        bylines += lean.author is None and full.author is not None
        with_meta = trafilatura.bare_extraction(html, url=url, with_metadata=True, fast=True)
        without = trafilatura.bare_extraction(html, url=url, with_metadata=False, fast=True)
        assert (with_meta.text if with_meta else None) == (without.text if without else None)
    assert bylines < len(aeb_pages()) / 2  # most authors are declared in metadata


def test_metadata_date_title_author_and_canonical() -> None:
    head = (
        "<meta property='article:published_time' content='2020-01-05T14:30:00Z'>"
        "<meta name='author' content='Jane Arraf'>"
        "<meta property='og:site_name' content='Example News'>"
        "<link rel='canonical' href='https://example.org/world/iraq-vote-canonical'>"
    )
    article = extract_page(page(article_html("Iraq votes to expel US troops", PARAS, head=head)))
    assert "foreign troops" in article.text and "Copyright" not in article.text
    assert article.title == "Iraq votes to expel US troops"
    assert article.author == "Jane Arraf"
    assert article.outlet == "Example News"
    assert article.published_at is not None and article.published_at.date().isoformat() == (
        "2020-01-05"
    )
    assert article.date_source == "metadata"
    assert article.canonical_url == "https://example.org/world/iraq-vote-canonical"
    assert article.language == "en"


def test_feed_date_then_url_date() -> None:
    html = article_html("Talks", PARAS)
    link = Link(
        "https://example.org/a?utm_source=rss", "feed", published_at=datetime(2024, 1, 26, 9, 15)
    )
    from_feed = extract_page(page(html, "https://example.org/a?utm_source=rss&id=7", link))
    assert (from_feed.published_at, from_feed.date_source) == (datetime(2024, 1, 26, 9, 15), "feed")
    assert from_feed.canonical_url == "https://example.org/a?id=7"
    from_url = extract_page(page(html, "https://example.org/news/2024/01/26/iraq-talks"))
    assert (from_url.published_at, from_url.date_source) == (datetime(2024, 1, 26), "url")
    nothing = extract_page(page(html, "https://example.org/news/iraq-talks"))
    assert (nothing.published_at, nothing.date_source) == (None, "unknown")


def test_a_lying_charset_header_is_overruled_by_the_bytes() -> None:
    cp1252 = article_html("Café", [CHARSET_SENTENCE] * 4).encode("cp1252")
    text, encoding = decode_html(cp1252, "utf-8")
    assert CHARSET_SENTENCE in text and encoding == "cp1252"
    latin_claim = CHARSET_SENTENCE.encode("utf-8")
    assert decode_html(latin_claim, "iso-8859-1")[0] == CHARSET_SENTENCE
    arabic = "<html><head><meta charset='windows-1256'></head><body><p>العراق</p></body></html>"
    assert "العراق" in decode_html(arabic.encode("cp1256"), "utf-8")[0]
    article = extract_page(page(cp1252, encoding="utf-8"))
    assert "café owner in Erbil" in article.text


def test_pages_without_text_fail_and_chunks_report_each_failure() -> None:
    with pytest.raises(ExtractError):
        extract_page(page("<html><body><nav>Home</nav></body></html>"))
    out = extract_pages(
        [
            page(article_html("ok", PARAS)),
            page(b"\x00\x01binary", "https://example.org/bin"),
            page("", "https://example.org/empty"),
        ],
        Preparation(),
    )
    assert [type(o).__name__ for o in out] == ["Article", "ExtractFailure", "ExtractFailure"]
    assert isinstance(out[2], ExtractFailure) and out[2].reason
    # The article comes back prepared, its raw page compressed, nothing left for the main process.
    assert isinstance(out[0], Article)
    assert out[0].content_hash and out[0].signature and out[0].classification
    assert out[0].raw_html is None and zlib.decompress(out[0].html_zlib or b"").startswith(b"<")


# -- quality on realworld/aeb ------------------------------------------------------------------

PAGES = aeb_pages()
TRUTH = json.loads((AEB / "ground-truth.json").read_text()) if PAGES else {}


def _tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def prf(predicted: str, expected: str) -> tuple[float, float, float]:
    """Token-level precision, recall and F1 (as the article-extraction-benchmark counts)."""
    p, t = _tokens(predicted), _tokens(expected)
    hit = sum((p & t).values())
    precision = hit / sum(p.values()) if p else 0.0
    recall = hit / sum(t.values()) if t else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def mean(scores: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    n = len(scores)
    return (
        sum(s[0] for s in scores) / n,
        sum(s[1] for s in scores) / n,
        sum(s[2] for s in scores) / n,
    )


@pytest.fixture
def aeb_server() -> Iterator[LocalServer]:
    srv = LocalServer()
    for stem, html in PAGES.items():
        srv.routes[f"/aeb/{stem}.html"] = static(html)
    items = [{"title": stem, "link": srv.url(f"/aeb/{stem}.html")} for stem in PAGES]
    srv.routes["/aeb.xml"] = static(rss(items), "application/rss+xml")
    with running(srv):
        yield srv


@pytest.mark.slow  # 181 real pages through the ingest and through trafilatura: the second lane
@pytest.mark.skipif(not PAGES, reason="../shared/data/realworld/aeb is absent (quality set)")
def test_stored_text_on_aeb_is_within_001_f1_of_trafilatura_alone(
    aeb_server: LocalServer, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {
            "storage": {"db": str(tmp_path / "m.duckdb")},
            "seeds": {"dirs": []},
            "sources": [{"name": "aeb", "kind": "feed", "url": aeb_server.url("/aeb.xml")}],
            "fetch": {
                "per_host_delay_s": 0,
                "trusted_hosts": ["127.0.0.1"],
                "per_host_concurrency": 8,
                "max_articles_per_source": 500,
            },
            "runner": {"workers": 2},
        }
    )
    store = open_store(settings)
    result = collect(settings, store, "q")
    store_articles(store, "q", result.articles, result.records)
    stored = {
        url.rsplit("/", 1)[1].removesuffix(".html"): (text, raw)
        for url, text, raw in store.query(
            "SELECT a.url, a.text, r.html_zlib FROM articles a "
            "JOIN core.raw_pages r USING (article_id)"
        )
    }
    assert len(result.records) == len(PAGES) + 1
    pipeline, bare = [], []
    for stem, html in PAGES.items():
        truth = TRUTH[stem]["articleBody"]
        text, raw = stored.get(stem, ("", None))
        if raw is not None:
            assert zlib.decompress(raw) == html  # the raw page is kept for re-extraction
        pipeline.append(prf(text, truth))
        doc = trafilatura.bare_extraction(html, with_metadata=True)
        bare.append(prf(doc.text if doc else "", truth))
    p_mean, b_mean = mean(pipeline), mean(bare)
    print(
        f"\naeb ({len(PAGES)} pages) stored text: P={p_mean[0]:.4f} R={p_mean[1]:.4f} "
        f"F1={p_mean[2]:.4f} | trafilatura alone: P={b_mean[0]:.4f} R={b_mean[1]:.4f} "
        f"F1={b_mean[2]:.4f}"
    )
    assert p_mean[2] >= b_mean[2] - 0.01
