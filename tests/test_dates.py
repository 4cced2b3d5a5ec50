"""Publication dates from the article's own evidence, each with its provenance; never another
article's day, never a day nobody wrote down."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from monitor.dates import (
    Dated,
    choose_date,
    parse_date,
    relative_date,
    text_date,
    text_dated,
    url_date,
    without_generation_stamp,
)
from monitor.extract import extract_page
from monitor.models import Article, Link, Page
from monitor.pipeline import process_pending, store_articles
from monitor.prepare import Preparation, prepare_articles
from monitor.settings import Settings
from monitor.store import Store
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
PARAS = "".join(f"<p>{p}</p>" for p in BODY)


def page(
    html: str,
    url: str = "https://example.org/news/iraq-talks",
    feed: datetime | None = None,
    fetched_at: datetime = NOW,
) -> Page:
    link = Link(url, "feed", published_at=feed) if feed else None
    return Page(url, url, "t", 200, html.encode(), "text/html", "utf-8", fetched_at, 5, link=link)


def provenance(article: Article) -> tuple[datetime | None, str, str | None]:
    return article.published_at, article.date_source, article.date_evidence


def body_page(inner: str, head: str = "") -> str:
    return (
        f"<html><head><title>Talks</title>{head}</head><body><nav><a href='/'>Home</a></nav>"
        f"<article><h1>Talks on the coalition's future</h1>{inner}</article>"
        "<footer>Copyright Example News</footer></body></html>"
    )


def test_a_page_without_metadata_takes_the_feed_date_not_a_year_from_its_body() -> None:
    feed = datetime(2024, 1, 25, 8, 30)
    article = extract_page(page(article_html("Talks on coalition future", BODY), feed=feed))
    assert provenance(article) == (feed, "feed", "feed")


@pytest.mark.parametrize(
    ("head", "evidence"),
    [
        ("<meta property='article:published_time' content='2024-01-25T06:00:00+03:00'>", "meta"),
        ("<meta name='pubdate' content='2024-01-25T03:00:00Z'>", "meta"),
        ("<meta itemprop='datePublished' content='2024-01-25T03:00'>", "meta"),
        (
            '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
            '[{"@type": "NewsArticle", "headline": "Talks", "datePublished": '
            '"2024-01-25T03:00:00Z", "dateModified": "2024-03-01T10:00:00Z"}]}</script>',
            "json-ld",
        ),
    ],
)
def test_meta_tags_and_json_ld_give_the_published_date(head: str, evidence: str) -> None:
    html = article_html("Talks on coalition future", BODY, head=head)
    article = extract_page(page(html, feed=datetime(2024, 1, 20)))
    assert provenance(article) == (datetime(2024, 1, 25, 3, 0), "metadata", evidence)


def test_a_time_element_marked_published_gives_the_date_and_modified_never_does() -> None:
    marked = body_page(
        f'<p>By Staff <time class="published" datetime="2024-01-25">Jan 25</time></p>{PARAS}'
    )
    assert provenance(extract_page(page(marked))) == (datetime(2024, 1, 25), "metadata", "time")
    modified = article_html(
        "Talks", BODY, head="<meta property='article:modified_time' content='2024-03-01'>"
    )
    assert provenance(extract_page(page(modified))) == (None, "unknown", None)
    updated = body_page(f'<p><time class="updated" datetime="2024-03-01">1 March</time></p>{PARAS}')
    assert provenance(extract_page(page(updated))) == (None, "unknown", None)


@pytest.mark.parametrize(
    "stamp",
    [
        '<time datetime="2024-01-25T10:15:00Z">25 January 2024</time>',
        '<time datetime="2024-01-25">Thursday</time>',
        "<time>January 25, 2024</time>",
    ],
)
def test_a_bare_time_element_of_the_article_gives_its_date(stamp: str) -> None:
    html = body_page(f"<p class='byline'>By Jane Doe, {stamp}</p>{PARAS}")
    article = extract_page(page(html))
    assert article.published_at is not None and article.published_at.date().isoformat() == (
        "2024-01-25"
    )
    assert (article.date_source, article.date_evidence) == ("metadata", "time")


def test_times_of_other_items_are_not_the_articles_date() -> None:
    # A teaser list, a link to another article, an embedded post and a comment thread each
    # carry a date; the article's own is the bare one in its header.
    html = body_page(
        '<p><time datetime="2019-06-28T13:49:45Z">28 June 2019</time></p>'
        f"{PARAS}"
        '<blockquote class="instagram-media"><p><time datetime="2018-03-12">12 March 2018'
        "</time></p></blockquote>"
        '<div class="comments"><p>Nice. <time datetime="2019-07-17">17 July 2019</time></p></div>'
        '<ul><li><a href="/other"><time pubdate datetime="2019-09-24">24 Sept</time> Other</a>'
        "</li></ul>"
    )
    assert provenance(extract_page(page(html)))[:2] == (
        datetime(2019, 6, 28, 13, 49, 45),
        "metadata",
    )
    # A <time> whose visible text names another day than its datetime is not trusted.
    clash = body_page(f'<p><time datetime="2019-07-03T10:18:46Z">29 June 2019</time></p>{PARAS}')
    assert extract_page(page(clash)).date_evidence != "time"


def test_the_url_wins_a_disagreement_with_the_pages_published_mark() -> None:
    # The URL is fixed when the article first goes up; a later "published" mark is as often
    # the last edit. On the same day, the mark's time of day stays.
    head = "<meta property='article:published_time' content='2019-06-17T18:28:00+02:00'>"
    html = article_html("Montauk", BODY, head=head)
    moved = extract_page(page(html, "https://example.org/home/2017/7/12/montauk"))
    assert provenance(moved) == (datetime(2017, 7, 12), "url", "url")
    same = extract_page(page(html, "https://example.org/2019/06/17/montauk"))
    assert provenance(same) == (datetime(2019, 6, 17, 16, 28), "metadata", "meta")


def test_a_dateline_or_date_line_gives_a_text_date() -> None:
    paras = ["BAGHDAD, Feb. 14, 2026 (Reuters) - " + BODY[0], *BODY[1:]]
    article = extract_page(page(article_html("Talks", paras)))
    assert provenance(article) == (datetime(2026, 2, 14), "text", "dateline")
    assert text_date("Monday 18 March 2024 - 21:00\nIraq's parliament ...") == datetime(
        2024, 3, 18, 21, 0
    )
    assert text_date("Erbil, 5 January 2020: the regional government said") == datetime(2020, 1, 5)
    assert text_date("date 2020-01-06 Iraq's parliament has called for") == datetime(2020, 1, 6)
    assert text_date("Talks\n06.05.2018\nUnter dem Motto") == datetime(2018, 5, 6)
    assert text_date("von Klaus Beispiel, 8.5.12\nDie Landtagswahl") == datetime(2012, 5, 8)
    # Background further down is not the report's date.
    assert text_date("Officials met.\nThe term began on January 9, 2022, and lasts.") is None


def test_arabic_date_lines_datelines_and_relative_dates() -> None:
    # Arabic-Indic digits, a weekday, a Levantine or Egyptian month name, a time "م" (p.m.).
    assert text_date("الخميس ٢٣ يوليو ٢٠٢٠ - ٠٨:٤٢ بتوقيت غرينتش\nهل دقت ساعة") == datetime(
        2020, 7, 23, 8, 42
    )
    assert text_date("الثلاثاء 13 أغسطس 2019 08:22 م\nرجح خبراء") == datetime(2019, 8, 13, 20, 22)
    assert text_date("بغداد، 5 كانون الثاني 2020 - صوت البرلمان") == datetime(2020, 1, 5)
    assert text_date("صوت البرلمان العراقي في 5 كانون الثاني 2020 على القرار") is None
    fetched = datetime(2025, 9, 9, 15, 0)
    assert relative_date("منذ 6 ساعات", fetched) == datetime(2025, 9, 9, 9, 0)
    assert relative_date("منذ ساعتين", fetched) == datetime(2025, 9, 9, 13, 0)
    assert relative_date("أمس", fetched) == datetime(2025, 9, 8)
    assert relative_date("منذ قليل", fetched) is None  # "a little while ago" is not a day


def test_relative_dates_only_against_the_time_the_page_was_fetched() -> None:
    fetched = datetime(2024, 1, 25, 15, 40)
    assert relative_date("3 hours ago", fetched) == datetime(2024, 1, 25, 12, 40)
    assert relative_date("Published 2 days ago", fetched) == datetime(2024, 1, 23)
    assert relative_date("Yesterday at 10:32", fetched) == datetime(2024, 1, 24, 10, 32)
    assert relative_date("3 weeks ago", fetched) is None  # not a day
    assert relative_date("on Sunday, officials said", fetched) is None
    assert text_dated("3 hours ago\nBaghdad talks") is None  # no anchor, no date
    found = text_dated("3 hours ago\nBaghdad talks", fetched)
    assert found == Dated(datetime(2024, 1, 25, 12, 40), datetime(2024, 1, 25).date(), "relative")
    html = article_html("Talks", ["2 hours ago", *BODY])
    article = extract_page(page(html, fetched_at=fetched))
    assert provenance(article) == (datetime(2024, 1, 25, 13, 40), "text", "relative")


def test_htmldate_finds_a_date_element_and_never_a_date_of_the_article_text() -> None:
    # A date box outside the text (htmldate's search of the page's date elements) dates it.
    boxed = body_page(f'{PARAS}<div class="meta"><span class="date">12.01.2017</span></div>')
    assert provenance(extract_page(page(boxed))) == (datetime(2017, 1, 12), "text", "page")
    # Its extensive search sees the page around the text, not the text: a caption's date
    # ("November 7, 2008") is the photo's, not the report's.
    caption = body_page(
        "<p>A soldier stands guard at a conference in Baghdad, November 7, 2008. /Reuters</p>"
        + PARAS
    )
    assert provenance(extract_page(page(caption))) == (None, "unknown", None)
    aside = body_page(f"{PARAS}<aside><dl><dt>Datum</dt><dd>12.01.2017</dd></dl></aside>")
    assert extract_page(page(aside)).published_at == datetime(2017, 1, 12)
    # A publication statement around the article, in any of a few languages; an update's never.
    for statement, day in (
        ("This entry was posted on Saturday, December 3rd, 2011 at 10:32 am.", 3),
        ("Dieser Beitrag wurde am Samstag, 3. Dezember 2011 veröffentlicht.", 3),
        ("This entry was last updated on December 9th, 2011.", None),
    ):
        stated = body_page(f"{PARAS}<p class='postmetadata'><small>{statement}</small></p>")
        found = extract_page(page(stated))
        assert (found.published_at.day if found.published_at else None) == day, statement
        assert (found.date_evidence in ("page", "page-text")) == bool(day), statement


def test_no_page_gets_a_january_first_it_does_not_carry() -> None:
    year_only = [
        "<meta property='article:published_time' content='2014'>",
        "<meta name='date' content='2014-01'>",
        "<meta itemprop='copyrightYear' content='2014'>",
        "<meta name='dc.date' content='2014-01-01'>",  # claims Jan 1, but nothing else says so
    ]
    for head in year_only:
        html = article_html("Coalition formed in 2014", BODY, head=head)
        assert provenance(extract_page(page(html))) == (None, "unknown", None), head
    # A page that does spell January 1 out keeps it.
    spelled = article_html(
        "New year",
        ["Published January 1, 2024. " + BODY[0]],
        head="<meta name='dc.date' content='2024-01-01'>",
    )
    assert extract_page(page(spelled)).published_at == datetime(2024, 1, 1)
    assert url_date("https://x.org/2024/01/iraq") is None  # a month is not a day
    assert url_date("https://x.org/2024/01/26/iraq") == datetime(2024, 1, 26)
    assert url_date("https://x.org/web/20210916140120/https://y.org/a") is None
    assert parse_date("2014") is None and parse_date("2014-01") is None


def test_the_order_of_trust_and_the_same_day_feed_time() -> None:
    feed = datetime(2024, 1, 26, 9, 15)
    url = "https://x.org/a"
    meta = Dated(datetime(2024, 1, 26), datetime(2024, 1, 26).date(), "meta")
    assert choose_date(meta, feed, url, "", NOW) == (feed, "metadata", "meta")
    earlier = Dated(datetime(2024, 1, 25), datetime(2024, 1, 25).date(), "json-ld")
    assert choose_date(earlier, feed, url, "", NOW) == (
        datetime(2024, 1, 25),
        "metadata",
        "json-ld",
    )
    assert choose_date(None, feed, url, "", NOW) == (feed, "feed", "feed")
    dated_url = "https://x.org/2021/03/04/a"
    assert choose_date(None, None, dated_url, "January 5, 2020", NOW)[:2] == (
        datetime(2021, 3, 4),
        "url",
    )
    assert choose_date(None, feed, "https://x.org/2024/01/26/a", "", NOW)[:2] == (feed, "feed")
    # Feeds re-date what they re-publish: the page's own earlier day wins, a later one not.
    old = "BAGHDAD, January 5, 2020 - Parliament voted."
    assert choose_date(None, feed, url, old, NOW) == (datetime(2020, 1, 5), "text", "dateline")
    later = "BAGHDAD, February 5, 2024 - Parliament voted."
    assert choose_date(None, feed, url, later, NOW) == (feed, "feed", "feed")
    future = Dated(datetime(2027, 6, 1), datetime(2027, 6, 1).date(), "meta")
    assert choose_date(future, None, url, "", NOW) == (None, "unknown", None)


def test_a_feed_that_stamps_every_item_with_one_time_gives_no_dates() -> None:
    stamp = datetime(2026, 12, 1, 7, 0)
    links = [Link(f"https://x.org/{i}", "f", published_at=stamp) for i in range(5)]
    assert all(link.published_at is None for link in without_generation_stamp(links))
    varied = [Link(f"https://x.org/{i}", "f", published_at=stamp.replace(hour=i)) for i in range(5)]
    assert without_generation_stamp(varied) == varied
    assert without_generation_stamp(links[:2]) == links[:2]  # two items may share a minute


# -- through the store: no article lends its date to another, except to its own copy ------------

VOTE = (
    "Iraq's parliament voted on Sunday in favour of a resolution calling on the government to "
    "expel all foreign troops, including some 5,000 U.S. soldiers, from the country. Lawmakers "
    "of the main Shi'ite blocs backed the non-binding motion during an emergency session."
)
BACKGROUND = (
    "The coalition was formed in 2014 to fight Islamic State and has about 2,500 U.S. troops in "
    "Iraq; its mission was the subject of the resolution that parliament passed in January 2020."
)
LATER = (
    "Iraqi and U.S. officials opened talks in Baghdad on the future of the coalition, with "
    "Iraq's prime minister saying the mission should wind down. "
)


def test_an_undated_article_takes_no_date_from_its_story_and_a_copy_its_originals(
    tmp_path: Path,
) -> None:
    sunday = datetime(2020, 1, 5, 18, 0)
    dated = Article(
        url="https://a.example/vote",
        source="test",
        text=f"{VOTE}\n{BACKGROUND}",
        title="Iraqi parliament votes to expel US troops",
        published_at=sunday,
        date_source="metadata",
        date_evidence="meta",
    )
    shares_background = Article(
        url="https://b.example/talks", source="test", text=f"{LATER}\n{BACKGROUND}"
    )
    same_text = Article(url="https://c.example/vote-copy", source="test", text=dated.text)
    db = tmp_path / "m.duckdb"
    store = Store(db)
    store.migrate()
    store_articles(store, "r1", prepare_articles([dated], Preparation()), [])
    store_articles(store, "r2", prepare_articles([shares_background, same_text], Preparation()), [])
    process_pending(store, Settings.model_validate({"storage": {"db": str(db)}}))
    rows = {
        r[0]: r[1:]
        for r in store.query(
            "SELECT url, published_at, date_source, date_evidence, duplicate_of FROM articles"
        )
    }
    assert rows["https://a.example/vote"][:3] == (sunday, "metadata", "meta")
    assert rows["https://b.example/talks"][:3] == (None, "unknown", None)
    assert rows["https://c.example/vote-copy"][3] == dated.article_id  # the same text: a copy
    assert rows["https://c.example/vote-copy"][:3] == (sunday, "story", "copy")


def test_the_migration_takes_back_dates_borrowed_from_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.store import migrations

    db = tmp_path / "m.duckdb"
    store = Store(db)
    every = list(migrations.MIGRATIONS)
    # The schema as it was, with a date lent the old way (b: another report of the story's).
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in every if m.name < "0014"])
    store.migrate()
    with store.write() as con:
        con.execute(
            "INSERT INTO core.articles (article_id, url, source, text, word_count, "
            "content_hash, first_seen_at, published_at, date_source, duplicate_of, "
            "duplicate_reason) VALUES "
            "('a', 'u:a', 's', 't', 1, 'h', now(), '2020-01-05', 'metadata', NULL, NULL), "
            "('b', 'u:b', 's', 't', 1, 'i', now(), '2020-01-05', 'story', NULL, NULL), "
            "('c', 'u:c', 's', 't', 1, 'h', now(), NULL, 'unknown', 'a', 'hash')"
        )
    monkeypatch.setattr(migrations, "MIGRATIONS", every)
    assert "0014_date_evidence" in store.migrate()
    rows = {
        r[0]: r[1:]
        for r in store.query(
            "SELECT article_id, published_at, date_source, date_evidence FROM articles"
        )
    }
    assert rows["b"] == (None, "unknown", None)
    assert rows["c"] == (datetime(2020, 1, 5), "story", "copy")
    assert rows["a"] == (datetime(2020, 1, 5), "metadata", None)  # stored before: not recorded


def test_arabic_datelines_in_levantine_months_and_hijri_are_read() -> None:
    from monitor.dates import text_dated

    levantine = text_dated("بغداد - 5 كانون الثاني 2020\nصوّت مجلس النواب العراقي على قرار")
    assert levantine is not None and levantine.day == date(2020, 1, 5)
    hijri = text_dated("الأحد ١٢ جمادى الأولى ١٤٤١ هـ\nنص الخبر")
    assert hijri is not None and hijri.day == date(2020, 1, 7)
    # A date deep inside a line is background, not a dateline.
    assert (
        text_dated("قال المتحدث إن القوات الأمريكية التي وصلت إلى البلاد في 5 كانون الثاني 2020")
        is None
    )
