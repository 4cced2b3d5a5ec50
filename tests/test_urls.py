"""URL keys: one key for every spelling of a page's address, used by collect and dedup alike."""

from __future__ import annotations

import pytest

from monitor.urls import canonical_url, clean_url, url_key, why_unfetchable


def test_url_key_drops_tracking_amp_www_fragment_scheme_and_trailing_slash() -> None:
    base = url_key("https://www.example.com/news/story-1")
    for variant in (
        "https://example.com/news/story-1/",
        "http://www.example.com/news/story-1?utm_source=x&utm_medium=y",
        "https://example.com/news/story-1?gclid=abc#comments",
        "https://amp.example.com/news/story-1",
        "https://example.com/amp/news/story-1",
        "https://example.com/news/story-1/amp",
        "https://example.com/news/story-1?amp=1",
        "https://m.example.com/news/story-1",
        "https://www.example.com/news/story-1?ocid=rss&smid=tw",
        "https://WWW.EXAMPLE.COM:443/news/story-1?cmpid=x&at_medium=y&fbclid=z",
    ):
        assert url_key(variant) == base, variant


def test_url_key_keeps_parameters_that_name_the_page() -> None:
    assert url_key("https://example.com/news?id=3") != url_key("https://example.com/news?id=4")
    # Not on any tracker list: a site's own article parameter must not fold two pages into one.
    assert url_key("https://example.com/news.php?nid=123") != url_key(
        "https://example.com/news.php?nid=124"
    )
    assert url_key("https://example.com/a?b=2&a=1") == url_key("https://example.com/a?a=1&b=2")
    assert url_key("http://127.0.0.1:8765/a.html?ocid=rss") == "https://127.0.0.1:8765/a.html"
    assert url_key("seed:000_x") == "seed:000_x"


def test_clean_url_is_still_a_working_address() -> None:
    assert clean_url("https://ex.org/a/b?utm_medium=x&utm_campaign=y&fbclid=z&gclid=q&p=2#top") == (
        "https://ex.org/a/b?p=2"
    )
    assert clean_url("http://www.ex.org/a?ocid=rss&smid=tw") == "http://www.ex.org/a"


def test_home_page_and_relative_canonicals_are_ignored() -> None:
    # A canonical pointing at the home page would merge every article of the site: ignored.
    assert canonical_url("https://ex.org/", "https://ex.org/story/1?utm_source=t") == (
        "https://ex.org/story/1"
    )
    assert canonical_url("/relative", "https://ex.org/story/1") == "https://ex.org/story/1"
    assert canonical_url("https://ex.org/story/1-full", "https://ex.org/story/1") == (
        "https://ex.org/story/1-full"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://0177.0.0.1/x", "ambiguous numeric host"),
        ("http://0x7f.1/x", "ambiguous numeric host"),
        ("http://127.1/x", "ambiguous numeric host"),
        ("http://2130706433/x", "ambiguous numeric host"),
        ("http://a.org:99999/x", "Port out of range"),
        ("http://a.org:0/x", "port 0"),
        ("http://[::1/x", "Invalid IPv6 URL"),
        ("http://a..org/x", "invalid host name"),
        ("http://a b.org/x", "invalid host name"),
        ("http://" + "a" * 300 + ".org/x", "invalid host name"),
        ("mailto:x@a.org", "scheme 'mailto'"),
        ("http:///x", "URL has no host"),
        ("http://u:p@a.org/x", "credentials"),
    ],
)
def test_links_no_parser_reads_the_same_way_are_refused_with_a_reason(
    url: str, reason: str
) -> None:
    got = why_unfetchable(url)
    assert got is not None and reason in got
    assert url_key(url)  # and they still have a key: recorded, never an exception


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/a.html",
        "https://www.shafaq.com/en/Iraq/x",
        "http://[::1]:8080/x",
        "http://m\u00fcnchen.de/x",
        "https://a_b.example.com/x",
    ],
)
def test_ordinary_links_are_fetchable(url: str) -> None:
    assert why_unfetchable(url) is None
