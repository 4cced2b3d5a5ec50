"""Work moved off the main process: compression, classification and dedup signatures done early."""

from __future__ import annotations

import zlib
from datetime import datetime
from pathlib import Path

import pytest

from monitor import classify as classify_mod
from monitor import dedup
from monitor.extract import extract_pages
from monitor.models import Article, Page
from monitor.pipeline import open_store, process_pending, run_ingest
from monitor.settings import Settings
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


def test_workers_compress_the_raw_page_and_classify_as_the_main_process_would() -> None:
    pages = [_page(stem) for stem in STORIES]
    plain = extract_pages(pages)
    done = extract_pages(pages, compress=True, classify=True, relevance_threshold=0.5)
    for page, before, after in zip(pages, plain, done, strict=True):
        assert isinstance(before, Article) and isinstance(after, Article)
        assert before.html_zlib is None and before.classification is None
        assert after.html_zlib is not None and zlib.decompress(after.html_zlib) == page.html
        expected = classify_mod.classify(
            after.article_id, after.title, after.text, relevance_threshold=0.5
        )
        assert after.classification == expected
    relevant = {a.url.rsplit("/", 1)[1]: a.classification.relevant for a in done}  # type: ignore[union-attr]
    assert relevant["vote"] != relevant["harvest"]  # the check above compared real work


def test_primed_signatures_and_hashes_equal_computed_ones() -> None:
    texts = [" ".join(paras) for paras in STORIES.values()]
    fresh = dedup.signatures(texts)
    hashes = [dedup.content_hash(t) for t in texts]
    dedup.prime_signatures(texts)
    assert [dedup.content_hash(t) for t in texts] == hashes
    primed = dedup.signatures(texts)
    for a, b in zip(fresh, primed, strict=True):
        assert (a.full == b.full).all() and (a.lead == b.lead).all()
        assert a.size == b.size and a.shingle_set == b.shingle_set
    assert not dedup._PRIMED  # signatures are taken out once used
    dedup.clear_primed()
    assert not dedup._PRIMED_HASH


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
    rows = store.query(
        "SELECT a.article_id, a.title, a.text, c.relevant, c.relevance_score, c.version "
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
    out = extract_pages(
        [_page("vote")], compress=True, classify=True, taxonomy=tmp_path / "missing.toml"
    )
    assert len(out) == 1 and isinstance(out[0], Article)  # the article is not lost
    assert out[0].classification is None and out[0].html_zlib is not None
