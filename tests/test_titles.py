"""Titles and outlets: every article has a title by a documented order of trust, a story is titled
by an informative headline (never a section or site name), and an outlet is named by its own page
or host before an aggregating feed's title."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monitor.extract import extract_page
from monitor.models import Link, Page
from monitor.pipeline import run_ingest
from monitor.settings import Settings
from monitor.store import Store
from monitor.titles import clean_title, lead_title, outlet_name
from tests.fetch_server import LocalServer, article_html, rss, running, static

PARAS = [
    "The Pentagon said on Tuesday that the US-led coalition mission in Iraq is being scaled "
    "back, with hundreds of troops leaving bases in Baghdad and Anbar over the coming months.",
    "Iraqi officials welcomed the step and said talks on the future of the coalition would go "
    "on, while armed factions said every foreign soldier must leave the country.",
    "The drawdown follows months of negotiations in the Higher Military Commission.",
]
SITES = ["Shafaq News", "shafaq.com"]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Shafaq News – Washington", None),  # the site's name and a place
        ("Iraq", None),  # a section
        ("MENA", None),
        ("Video", None),
        ("Shafaq News", None),
        (
            "Pentagon says Iraq mission being scaled back | Shafaq News",
            "Pentagon says Iraq mission being scaled back",
        ),
        (
            "Shafaq News: Pentagon says Iraq mission being scaled back",
            "Pentagon says Iraq mission being scaled back",
        ),
        (
            "Pentagon says Iraq mission being scaled back - shafaq.com",
            "Pentagon says Iraq mission being scaled back",
        ),
        ("Iraq: parliament votes to expel US troops", "Iraq: parliament votes to expel US troops"),
        ("US-led coalition to leave Iraq", "US-led coalition to leave Iraq"),
        ("fb-pixel Skip to main content", None),  # page chrome
        ("Skip to content", None),
        ("Site icon Sports Time Now", None),
        ("موقع العهد الاخباري", None),  # "the Al-Ahd news site"
        (
            "- Iraq's Joint Operations Command announced Wednesday",
            "Iraq's Joint Operations Command announced Wednesday",
        ),
        (
            "البرلمان العراقي يصوت على إخراج القوات الأجنبية",
            "البرلمان العراقي يصوت على إخراج القوات الأجنبية",
        ),
    ],
)
def test_a_headline_counts_only_when_informative(title: str, expected: str | None) -> None:
    assert clean_title(title, SITES) == expected


def test_a_title_from_the_lead_is_a_sentence_or_a_clause() -> None:
    assert lead_title("Troops will leave Iraq by September. Officials said so.\n\nMore.") == (
        "Troops will leave Iraq by September"
    )
    long = (
        "Adoption of the resolution, urging the expulsion of the US military from Iraq, marks a "
        "very important step for the country, yet making them actually leave will take more."
    )
    assert lead_title(long) == (
        "Adoption of the resolution, urging the expulsion of the US military from Iraq"
    )
    one_clause = "word " * 40
    cut = lead_title(one_clause)
    assert cut is not None and cut.endswith("…") and len(cut) <= 120


def test_outlet_names_are_written_one_way() -> None:
    assert outlet_name("www.Shafaq.com") == "shafaq.com"
    assert outlet_name("https://www.rudaw.net/") == "rudaw.net"
    assert outlet_name("  Shafaq   News ") == "Shafaq News"
    assert outlet_name("") is None


def _page(html: str, link: Link | None = None, url: str = "https://shafaq.com/en/x") -> Page:
    return Page(
        url,
        url,
        "agg",
        200,
        html.encode(),
        "text/html",
        "utf-8",
        datetime(2024, 1, 1),
        5,
        link=link,
    )


def test_page_title_and_outlet_by_order_of_trust() -> None:
    feed = Link(
        "https://shafaq.com/en/x",
        "agg",
        "Pentagon scales back the Iraq mission",
        feed_name="World News Aggregator",
    )
    junk_meta = article_html(
        "Shafaq News – Washington",
        PARAS,
        head="<meta property='og:site_name' content='www.shafaq.com'>",
    )
    article = extract_page(_page(junk_meta, feed))
    # The <title> and <h1> say only the site and a place: the feed's title is the headline.
    assert (article.title, article.title_source) == (
        "Pentagon scales back the Iraq mission",
        "feed",
    )
    # og:site_name is a domain (its own host): written as a host, never the feed's title.
    assert (article.outlet, article.outlet_source) == ("shafaq.com", "url")

    named = article_html(
        "Pentagon says Iraq mission being scaled back | Shafaq News",
        PARAS,
        head="<meta property='og:site_name' content='Shafaq News'>",
    )
    article = extract_page(_page(named, feed))
    assert (article.title, article.title_source) == (
        "Pentagon says Iraq mission being scaled back",
        "metadata",
    )
    assert (article.outlet, article.outlet_source) == ("Shafaq News", "metadata")

    item = Link(
        "https://shafaq.com/en/x",
        "agg",
        "Iraq",
        outlet="Shafaq News Agency",
        feed_name="World News Aggregator",
    )
    bare = "<html><body><article>" + "".join(f"<p>{p}</p>" for p in PARAS) + "</article></body>"
    article = extract_page(_page(bare, item))
    # No name on the page: what the feed said of this item, before the page's host.
    assert (article.outlet, article.outlet_source) == ("Shafaq News Agency", "feed")
    assert (article.title, article.title_source) == (None, None)  # the store titles it by its lead
    article = extract_page(
        _page(bare, Link("https://shafaq.com/en/x", "agg", feed_name="World News Aggregator"))
    )
    assert (article.outlet, article.outlet_source) == ("shafaq.com", "url")


@pytest.fixture
def aggregator() -> Iterator[LocalServer]:
    """One feed ("World News Aggregator") in front of pages from several sites."""
    srv = LocalServer()
    pages = {
        # (og:site_name, <title>): the same report, three times, and one more story.
        "a": ("www.shafaq.com", "Shafaq News – Washington", PARAS),
        "b": ("Rudaw", "Iraq", PARAS),
        "c": ("www.964media.com", "Pentagon says Iraq mission being scaled back", PARAS),
        "d": (
            None,
            "Video",
            [
                "Protesters gathered outside the parliament in Baghdad on Friday "
                "to demand the departure of foreign troops from Iraq.",
                "Security forces closed the bridges into the Green Zone.",
                "The protest ended peacefully in the evening, organisers said.",
            ],
        ),
    }
    items = []
    for key, (site, title, paras) in pages.items():
        head = f"<meta property='og:site_name' content='{site}'>" if site else ""
        srv.routes[f"/{key}.html"] = static(article_html(title, paras, head=head).encode())
        items.append({"link": srv.url(f"/{key}.html")})
    srv.routes["/feed.xml"] = static(
        rss(items, title="World News Aggregator"), "application/rss+xml"
    )
    with running(srv):
        yield srv


def test_behind_an_aggregating_feed_each_outlet_keeps_its_name_and_stories_real_titles(
    aggregator: LocalServer, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {
            "storage": {"db": str(tmp_path / "m.duckdb")},
            "seeds": {"dirs": []},
            "sources": [{"name": "agg", "kind": "feed", "url": aggregator.url("/feed.xml")}],
            "fetch": {"per_host_delay_s": 0, "trusted_hosts": ["127.0.0.1"]},
            "runner": {"workers": 1},
        }
    )
    report = run_ingest(settings)
    assert report.articles_new == 4, report.failures
    store = Store(settings.storage.db)
    rows = {
        url.rsplit("/", 1)[1]: (title, how, outlet, outlet_how)
        for url, title, how, outlet, outlet_how in store.query(
            "SELECT url, title, title_source, outlet, outlet_source FROM articles"
        )
    }
    assert rows["a.html"][2:] == ("shafaq.com", "metadata")
    assert rows["b.html"][2:] == ("Rudaw", "metadata")
    assert rows["c.html"][2:] == ("964media.com", "metadata")
    assert rows["d.html"][2:] == ("127.0.0.1", "url")  # no name on the page: its host
    assert all(r[0] for r in rows.values())  # every article has a title
    assert rows["a.html"][1] == rows["b.html"][1] == "lead"  # junk headlines gave way
    assert rows["c.html"][:2] == ("Pentagon says Iraq mission being scaled back", "metadata")
    titles = {title for (title,) in store.query("SELECT title FROM stories")}
    assert "Pentagon says Iraq mission being scaled back" in titles
    assert not titles & {"Shafaq News – Washington", "Iraq", "Video", "World News Aggregator"}
    outlets = store.query("SELECT outlets FROM stories ORDER BY article_count DESC")[0][0]
    assert sorted(outlets) == ["964media.com", "Rudaw", "shafaq.com"]
    assert "World News Aggregator" not in json.dumps(store.query("SELECT outlet FROM articles"))


def test_a_database_from_before_gets_its_titles_and_outlets_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zlib

    from monitor.store import migrations

    store = Store(tmp_path / "old.duckdb")
    before = [m for m in migrations.MIGRATIONS if m.name < "0016"]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    store.migrate()  # as a database written by the previous version
    page = article_html(
        "Shafaq News – Washington",
        PARAS,
        head="<meta property='og:site_name' content='Shafaq News'>",
    )
    rows = [
        # article_id, url, outlet, outlet_source, title, html
        (
            "a1",
            "https://shafaq.com/en/1",
            "World News Aggregator",
            "feed",
            "Shafaq News – Washington",
            page,
        ),
        ("a2", "https://rudaw.net/en/2", "www.rudaw.net", "metadata", "Iraq", None),
        (
            "a3",
            "https://964media.com/3",
            "964media.com",
            "url",
            "Pentagon says Iraq mission being scaled back | 964",
            None,
        ),
    ]
    with store.write() as con:
        for article_id, url, outlet, how, title, html in rows:
            con.execute(
                "INSERT INTO core.articles (article_id, url, source, outlet, outlet_source, title, "
                "text, word_count, content_hash, first_seen_at, story_id, processed_at) "
                "VALUES (?, ?, 'agg', ?, ?, ?, ?, 60, ?, now()::TIMESTAMP, 's1', now()::TIMESTAMP)",
                [article_id, url, outlet, how, title, "\n\n".join(PARAS), article_id],
            )
            if html:
                con.execute(
                    "INSERT INTO core.raw_pages (article_id, url, html_zlib) VALUES (?, ?, ?)",
                    [article_id, url, zlib.compress(html.encode())],
                )
        con.execute(
            "INSERT INTO core.stories VALUES ('s1', 'a1', now()::TIMESTAMP, now()::TIMESTAMP, "
            "NULL, false)"
        )
    assert store.query("SELECT title FROM stories") == [("Shafaq News – Washington",)]

    monkeypatch.undo()  # this version's migrations
    assert store.migrate() == ["0016_alerts_titles_outlets", "0017_titles_without_date_debris"]
    got = {
        r[0]: r[1:]
        for r in store.query(
            "SELECT article_id, title, title_source, outlet, outlet_source FROM articles"
        )
    }
    lead = PARAS[0].split(", with")[0]
    assert got["a1"] == (lead, "lead", "Shafaq News", "metadata")  # the stored page's own name
    assert got["a2"] == (lead, "lead", "rudaw.net", "metadata")
    assert got["a3"] == (
        "Pentagon says Iraq mission being scaled back",
        None,
        "964media.com",
        "url",
    )
    assert store.query("SELECT title FROM stories") == [
        ("Pentagon says Iraq mission being scaled back",)
    ]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        # Date debris at the head of a headline goes ...
        (
            "date 2020-01-06 Iraq's parliament calls for US troops to leave",
            "Iraq's parliament calls for US troops to leave",
        ),
        (
            "Published: Jan. 5, 2020 | Iraq votes to expel US troops",
            "Iraq votes to expel US troops",
        ),
        ("12 May 2021 14:05 GMT Rockets hit Ain al-Asad base", "Rockets hit Ain al-Asad base"),
        ("Jan 5 2020 - Iraq votes to expel US troops", "Iraq votes to expel US troops"),
        # ... a line that is only a date is no headline ...
        ("Saturday, 02 November 2024", None),
        ("date 2025-10-11 Shafaq News – Baghdad", None),
        # ... nor is a byline or a photo's caption ...
        ("By Michael Hernandez", None),
        ("A burning vehicle at the airport after a US airstrike in Baghdad, Iraq. (AP)", None),
        ("Smoke rises over the base after the rocket attack (Photo: Reuters)", None),
        (
            "By the numbers: US troops in Iraq and Syria",
            "By the numbers: US troops in Iraq and Syria",
        ),
        # ... and a headline that opens with its date or a figure keeps it.
        ("2020 was a year of talks in Baghdad", "2020 was a year of talks in Baghdad"),
        (
            "On 5 January 2020, parliament voted to expel US troops",
            "On 5 January 2020, parliament voted to expel US troops",
        ),
        ("5,000 US troops to stay in Iraq", "5,000 US troops to stay in Iraq"),
    ],
)
def test_date_debris_at_a_headlines_head_is_taken_off(title: str, expected: str | None) -> None:
    assert clean_title(title, ["shafaq.com"]) == expected


def test_a_stored_title_with_date_debris_is_redone_with_its_story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.store import migrations

    store = Store(tmp_path / "old.duckdb")
    before = [m for m in migrations.MIGRATIONS if m.name < "0017"]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    store.migrate()  # as a database written by the previous version
    text = "\n\n".join(PARAS)
    with store.write() as con:
        for article_id, title, how in [
            ("a1", "date 2020-01-05 Iraq's parliament votes to expel US troops", "metadata"),
            ("a2", "Saturday, 02 November 2024", "metadata"),
        ]:
            con.execute(
                "INSERT INTO core.articles (article_id, url, source, outlet, title, title_source, "
                "text, word_count, content_hash, first_seen_at, story_id, processed_at) VALUES "
                "(?, ?, 'seed', 'shafaq.com', ?, ?, ?, 60, ?, now()::TIMESTAMP, ?, "
                "now()::TIMESTAMP)",
                [
                    article_id,
                    f"https://shafaq.com/{article_id}",
                    title,
                    how,
                    text,
                    article_id,
                    f"s-{article_id}",
                ],
            )
            con.execute(
                "INSERT INTO core.stories VALUES (?, ?, now()::TIMESTAMP, now()::TIMESTAMP, "
                "NULL, false)",
                [f"s-{article_id}", article_id],
            )
    monkeypatch.undo()  # this version's migrations
    assert store.migrate() == ["0017_titles_without_date_debris"]
    got = dict(store.query("SELECT article_id, title FROM articles"))
    assert got["a1"] == "Iraq's parliament votes to expel US troops"
    assert got["a2"] == PARAS[0].split(", with")[0]  # the text's lead
    assert store.query("SELECT title_source FROM articles ORDER BY article_id") == [
        ("metadata",),
        ("lead",),
    ]
    stories = dict(store.query("SELECT story_id, title FROM stories"))
    assert stories["s-a1"] == got["a1"]
    assert stories["s-a2"] == got["a2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SULAIMANIYA/MOSUL — Militias launched rockets at U.S. troops. More.",
            "Militias launched rockets at U.S. troops",
        ),
        (
            "BAGHDAD, Jan 5 (Reuters) - Iraq's parliament voted on Sunday. More.",
            "Iraq's parliament voted on Sunday",
        ),
        (
            "date 2020-01-05 Iraq's parliament voted on Sunday. More.",
            "Iraq's parliament voted on Sunday",
        ),
        (
            "US-led coalition forces left the base on Monday. More.",
            "US-led coalition forces left the base on Monday",
        ),
        (
            "fb-pixel Skip to main content\n\nIraqi lawmakers demand US withdrawal after Trump "
            "visit\n\nBAGHDAD — Iraqi lawmakers Thursday demanded US forces leave the country.",
            "Iraqi lawmakers demand US withdrawal after Trump visit",
        ),
        (
            "- Coalition forces to fully withdraw from Ain al-Asad.\n- Withdrawal next week.",
            "Coalition forces to fully withdraw from Ain al-Asad",
        ),
    ],
)
def test_a_lead_title_starts_past_a_wire_dateline_and_date_debris(text: str, expected: str) -> None:
    assert lead_title(text) == expected
