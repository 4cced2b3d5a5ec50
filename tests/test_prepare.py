"""Preparing an article where its text is made: hash, signatures, classification, zipped HTML."""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from monitor import classify as classify_mod
from monitor import dedup
from monitor.extract import extract_pages
from monitor.models import Article, Page
from monitor.pipeline import open_store, process_pending, read_seeds, run_ingest
from monitor.prepare import Preparation, prepare_articles
from monitor.settings import Settings
from monitor.store.articles import HEADLINE
from tests.fetch_server import LocalServer, article_html, rss, running, static

STORIES = {
    "vote": [
        "Iraq's parliament voted on Sunday to ask the government to end the presence of foreign "
        "troops, two days after a US strike in Baghdad killed an Iranian general.",
        "The resolution calls on the government to cancel its request for help from the US-led "
        "coalition fighting Islamic State, and Kurdish lawmakers stayed away from the session.",
    ],
    "harvest": [
        "Farmers in the Nile delta began the cotton harvest early this year after a warm spring, "
        "and exporters expect prices to hold through the autumn.",
        "Cooperatives said the new irrigation canals had raised yields in several districts, "
        "although fertiliser costs remain high.",
    ],
}


def _page(stem: str) -> Page:
    url = f"https://example.org/news/{stem}"
    html = article_html(stem.title(), STORIES[stem]).encode("utf-8")
    return Page(url, url, "test", 200, html, "text/html", "utf-8", datetime(2024, 1, 1), 5)


def test_workers_prepare_each_article_as_the_main_process_would() -> None:
    pages = [_page(stem) for stem in STORIES]
    done = extract_pages(pages, Preparation(relevance_threshold=0.5))
    for page, after in zip(pages, done, strict=True):
        assert isinstance(after, Article)
        assert after.raw_html is None  # only the compressed page travels back
        assert after.html_zlib is not None and zlib.decompress(after.html_zlib) == page.html
        assert after.content_hash == dedup.content_hash(after.text)
        assert after.signature == dedup.sign([after.text])[0]
        expected = classify_mod.classify(
            after.article_id, after.title, after.text, relevance_threshold=0.5
        )
        assert after.classification == expected
    relevant = {a.url.rsplit("/", 1)[1]: a.classification.relevant for a in done}  # type: ignore[union-attr]
    assert relevant["vote"] != relevant["harvest"]  # the check above compared real work


def test_seeds_are_prepared_in_the_main_process_the_same_way(settings: Settings) -> None:
    articles, records = read_seeds(settings)
    assert len(articles) == 5 and records == []
    again = prepare_articles(
        [replace(a, content_hash=None, signature=None, classification=None) for a in articles],
        Preparation(),
    )
    assert [a.content_hash for a in again] == [a.content_hash for a in articles]
    assert [a.signature for a in again] == [a.signature for a in articles]
    assert all(a.classification and a.classification.relevant for a in articles)


@pytest.fixture
def news_server() -> LocalServer:
    srv = LocalServer()
    for stem, paras in STORIES.items():
        srv.routes[f"/news/{stem}.html"] = static(article_html(stem.title(), paras).encode())
    items = [{"title": stem, "link": srv.url(f"/news/{stem}.html")} for stem in STORIES]
    srv.routes["/feed.xml"] = static(rss(items), "application/rss+xml")
    return srv


def test_ingest_keeps_worker_classifications_and_redoes_outdated_ones(
    news_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.model_validate(
        {
            "storage": {"db": str(tmp_path / "m.duckdb")},
            "seeds": {"dirs": []},
            "sources": [{"name": "news", "kind": "feed", "url": news_server.url("/feed.xml")}],
            "fetch": {"per_host_delay_s": 0, "trusted_hosts": ["127.0.0.1"]},
            "runner": {"workers": 1},
        }
    )
    seen: list[str] = []
    real = classify_mod.classify_articles

    def spy(articles, settings):  # type: ignore[no-untyped-def]
        seen.extend(a.article_id for a in articles)
        return real(articles, settings)

    monkeypatch.setattr(classify_mod, "classify_articles", spy)
    with running(news_server):
        summary = run_ingest(settings)
    assert summary.articles_new == len(STORIES)
    assert seen == []  # every fetched article came back classified from the workers
    store = open_store(settings)
    version = classify_mod.classifier_version(None, settings.classify.relevance_threshold)
    # What the workers classified: the text and the article's own headline (a title made from
    # the lead is for people, monitor/titles.py).
    rows = store.query(
        f"SELECT a.article_id, {HEADLINE}, a.text, c.relevant, c.relevance_score, c.version "
        "FROM core.articles a JOIN core.classifications c USING (article_id)"
    )
    assert len(rows) == len(STORIES)
    for article_id, title, text, relevant, score, got_version in rows:
        again = classify_mod.classify(
            article_id, title, text, relevance_threshold=settings.classify.relevance_threshold
        )
        assert (relevant, score, got_version) == (again.relevant, again.relevance_score, version)
    assert summary.relevant == sum(1 for r in rows if r[3])

    # An article classified by an older classifier is classified again when processed.
    with store.write() as con:
        con.execute("UPDATE core.classifications SET version = 'old'")
        con.execute("UPDATE core.articles SET processed_at = NULL")
    result = process_pending(store, settings)
    assert sorted(seen) == sorted(r[0] for r in rows)
    assert result.relevant == summary.relevant
    assert {r[0] for r in store.query("SELECT DISTINCT version FROM core.classifications")} == {
        version
    }


def test_a_taxonomy_the_worker_cannot_load_leaves_classifying_to_the_main_process(
    tmp_path: Path,
) -> None:
    out = extract_pages([_page("vote")], Preparation(taxonomy=tmp_path / "missing.toml"))
    assert len(out) == 1 and isinstance(out[0], Article)  # the article is not lost
    assert out[0].classification is None and out[0].html_zlib is not None
