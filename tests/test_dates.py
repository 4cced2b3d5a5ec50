"""Publication dates in order of trust: page metadata, feed, URL, text; never an invented day."""

from __future__ import annotations

from datetime import datetime

import pytest

from monitor.dates import choose_date, parse_date, text_date, url_date
from monitor.extract import extract_page
from monitor.models import Link, Page
from tests.fetch_server import article_html

NOW = datetime(2026, 12, 1)
# A 2024 report whose body names other years, as reports do: the trap of a date search.
BODY = [
    "Iraqi and US officials met in Baghdad to discuss the future of the coalition, which was "
    "formed in 2014 to fight the Islamic State group and has stayed on since the 2020 vote.",
    "The talks follow the 2006 agreement and the 2008 status of forces agreement, which set a "
    "first deadline for the departure of American troops, one diplomat recalled.",
    "Officials said a joint committee would meet again next month to review the mission.",
]


def page(
    html: str, url: str = "https://example.org/news/iraq-talks", feed: datetime | None = None
) -> Page:
    link = Link(url, "feed", published_at=feed) if feed else None
    return Page(url, url, "t", 200, html.encode(), "text/html", "utf-8", NOW, 5, link=link)


def test_a_page_without_metadata_takes_the_feed_date_not_a_year_from_its_body() -> None:
    feed = datetime(2024, 1, 25, 8, 30)
    article = extract_page(page(article_html("Talks on coalition future", BODY), feed=feed))
    assert (article.published_at, article.date_source) == (feed, "feed")


@pytest.mark.parametrize(
    "head",
    [
        "<meta property='article:published_time' content='2024-01-25T06:00:00+03:00'>",
        "<meta name='pubdate' content='2024-01-25T03:00:00Z'>",
        "<meta itemprop='datePublished' content='2024-01-25T03:00'>",
        '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
        '[{"@type": "NewsArticle", "headline": "Talks", "datePublished": "2024-01-25T03:00:00Z", '
        '"dateModified": "2024-03-01T10:00:00Z"}]}</script>',
    ],
)
def test_meta_tags_and_json_ld_give_the_published_date(head: str) -> None:
    html = article_html("Talks on coalition future", BODY, head=head)
    article = extract_page(page(html, feed=datetime(2024, 1, 20)))
    assert (article.published_at, article.date_source) == (datetime(2024, 1, 25, 3, 0), "metadata")


def test_a_time_element_marked_published_gives_the_date_and_modified_never_does() -> None:
    paras = "".join(f"<p>{p}</p>" for p in BODY)
    marked = (
        "<html><head><title>Talks</title></head><body><article><h1>Talks</h1>"
        f'<p>By Staff <time class="published" datetime="2024-01-25">Jan 25</time></p>{paras}'
        "</article></body></html>"
    )
    assert extract_page(page(marked)).published_at == datetime(2024, 1, 25)
    assert extract_page(page(marked)).date_source == "metadata"
    modified = article_html(
        "Talks", BODY, head="<meta property='article:modified_time' content='2024-03-01'>"
    )
    assert extract_page(page(modified)).date_source == "unknown"


def test_a_dateline_only_page_gives_a_text_date() -> None:
    paras = ["BAGHDAD, Feb. 14, 2026 (Reuters) - " + BODY[0], *BODY[1:]]
    article = extract_page(page(article_html("Talks", paras)))
    assert (article.published_at, article.date_source) == (datetime(2026, 2, 14), "text")
    assert text_date("Monday 18 March 2024 - 21:00\nIraq's parliament ...") == datetime(
        2024, 3, 18, 21, 0
    )
    assert text_date("Erbil, 5 January 2020: the regional government said") == datetime(2020, 1, 5)


def test_no_page_gets_a_january_first_it_does_not_carry() -> None:
    year_only = [
        "<meta property='article:published_time' content='2014'>",
        "<meta name='date' content='2014-01'>",
        "<meta itemprop='copyrightYear' content='2014'>",
        "<meta name='dc.date' content='2014-01-01'>",  # claims Jan 1, but nothing else says so
    ]
    for head in year_only:
        html = article_html("Coalition formed in 2014", BODY, head=head)
        article = extract_page(page(html))
        assert article.published_at is None, head
        assert article.date_source == "unknown", head
    # A page that does spell January 1 out keeps it.
    spelled = article_html(
        "New year",
        ["Published January 1, 2024. " + BODY[0]],
        head="<meta name='dc.date' content='2024-01-01'>",
    )
    assert extract_page(page(spelled)).published_at == datetime(2024, 1, 1)
    assert url_date("https://x.org/2024/01/iraq") is None  # a month is not a day
    assert url_date("https://x.org/2024/01/26/iraq") == datetime(2024, 1, 26)
    assert parse_date("2014") is None and parse_date("2014-01") is None


def test_the_order_of_trust_and_the_same_day_feed_time() -> None:
    feed = datetime(2024, 1, 26, 9, 15)
    url = "https://x.org/2021/03/04/a"
    assert choose_date(datetime(2024, 1, 26), feed, url, "", NOW) == (feed, "metadata")
    assert choose_date(datetime(2024, 1, 25), feed, url, "", NOW) == (
        datetime(2024, 1, 25),
        "metadata",
    )  # the page wins a disagreement
    assert choose_date(None, feed, url, "", NOW) == (feed, "feed")
    assert choose_date(None, None, url, "January 5, 2020", NOW) == (datetime(2021, 3, 4), "url")
    assert choose_date(None, None, "https://x.org/a", "BAGHDAD, January 5, 2020 -", NOW) == (
        datetime(2020, 1, 5),
        "text",
    )
    future = datetime(2027, 6, 1)
    assert choose_date(future, None, "https://x.org/a", "", NOW) == (None, "unknown")
