"""Storylines: stories threaded as they arrive, and analysts' decisions that hold."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from monitor import curation, storylines
from monitor.digest import build_digest, record_digest, render_digest
from monitor.errors import ConfigError
from monitor.models import Article
from monitor.pipeline import process_pending, reclassify, store_articles
from monitor.prepare import Preparation, prepare_articles
from monitor.settings import Settings
from monitor.store import Store
from monitor.store import storylines as storyline_store
from monitor.storylines import Thread

ATTACK = (
    "Rockets hit Ain al-Asad air base hosting US troops in Iraq\n\n"
    "Several rockets struck Ain al-Asad air base in western Iraq, which hosts US forces and "
    "coalition advisers, on {day}, the US military said. Kataib Hezbollah, an Iran-backed "
    "militia, has threatened more attacks on American troops until they leave Iraq. The "
    "coalition said the attack on US forces caused no casualties. {extra}"
)
TALKS = (
    "Iraq and the US hold talks on ending the coalition mission\n\n"
    "Iraqi and US officials met in Baghdad on {day} for talks on the future of the US-led "
    "coalition and a timetable for the withdrawal of US troops from Iraq, the Higher Military "
    "Commission said. Prime Minister Mohammed Shia al-Sudani said the negotiations would set "
    "the end of the coalition's mission. {extra}"
)


def _article(url: str, text: str, when: datetime) -> Article:
    return Article(
        url=url,
        source="t",
        text=text,
        title=text.split("\n")[0],
        outlet="Outlet",
        published_at=when,
        date_source="metadata",
    )


def _ingest(db: Path, articles: list[Article]) -> Store:
    store = Store(db)
    store.migrate()
    store_articles(store, "r", prepare_articles(articles, Preparation()), [])
    process_pending(store, Settings.model_validate({"storage": {"db": str(db)}}))
    return store


def _storyline_of(store: Store, url: str) -> str | None:
    rows = store.query(
        "SELECT s.storyline_id FROM articles a JOIN stories s USING (story_id) WHERE a.url = ?",
        [url],
    )
    return rows[0][0]


def _words(text: str) -> dict[str, float]:
    return dict.fromkeys(text.split(), 1.0)


ATTACK_WORDS = _words("rockets ain asad base kataib hezbollah militia attack troops")
TALKS_WORDS = _words("talks commission timetable coalition mission sudani negotiations end")


def _thread(story: str, topic: str, actor: str, when: datetime, words: dict[str, float]) -> Thread:
    return Thread(story, {topic: 1}, {actor: 1}, when, when, {"Iraq": 1}, words)


def test_a_story_joins_the_alike_active_storyline_or_opens_one() -> None:
    idf = {"Kataib Hezbollah": 2.0, "Iraq": 0.1, "Higher Military Commission": 2.0}
    kh = "Kataib Hezbollah"
    attacks = storylines.lines_of(
        {"attacks": [_thread("s0", "attack_on_us_forces", kh, datetime(2024, 1, 2), ATTACK_WORDS)]},
        idf,
    )
    later = _thread("s1", "attack_on_us_forces", kh, datetime(2024, 2, 1), ATTACK_WORDS)
    talks = _thread(
        "s2", "negotiations", "Higher Military Commission", datetime(2024, 2, 2), TALKS_WORDS
    )
    years_on = _thread("s3", "attack_on_us_forces", kh, datetime(2026, 3, 1), ATTACK_WORDS)
    placed = storylines.place([later, talks, years_on], attacks, idf)
    assert placed.storyline_of["s1"] == "attacks"
    assert placed.storyline_of["s2"] not in ("attacks", placed.storyline_of["s3"])
    # Years later, the same words and actors are another thread.
    assert placed.storyline_of["s3"] != "attacks"
    assert len(placed.opened) == 2
    assert placed.titles[placed.storyline_of["s2"]] == (
        "Talks on the coalition's future: Higher Military Commission"
    )
    assert "Iraq" not in "".join(placed.titles.values())  # named everywhere: tells nothing
    # The same stories in another order are placed the same way, under the same ids.
    again = storylines.place(
        [years_on, talks, later],
        storylines.lines_of(
            {
                "attacks": [
                    _thread("s0", "attack_on_us_forces", kh, datetime(2024, 1, 2), ATTACK_WORDS)
                ]
            },
            idf,
        ),
        idf,
    )
    assert again == placed


def test_two_stored_storylines_are_never_merged_by_threading() -> None:
    idf = {"Kataib Hezbollah": 2.0}
    kh = "Kataib Hezbollah"
    lines = storylines.lines_of(
        {
            "first": [_thread("a", "attack_on_us_forces", kh, datetime(2024, 1, 2), ATTACK_WORDS)],
            "second": [_thread("b", "attack_on_us_forces", kh, datetime(2024, 1, 3), ATTACK_WORDS)],
        },
        idf,
    )
    bridge = _thread("c", "attack_on_us_forces", kh, datetime(2024, 1, 4), ATTACK_WORDS)
    placed = storylines.place([bridge], lines, idf)
    assert placed.storyline_of == {"c": "second"}  # alike both: the one a day away, not two
    assert placed.opened == []
    assert set(placed.titles) == {"second"}


def test_a_merge_holds_when_new_reports_come_and_the_pipeline_runs_again(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    attack = _article(
        "https://a.example/1", ATTACK.format(day="Tuesday", extra=""), datetime(2024, 1, 2)
    )
    talks = _article(
        "https://b.example/1", TALKS.format(day="Thursday", extra=""), datetime(2024, 1, 25)
    )
    store = _ingest(db, [attack, talks])
    keep, other = _storyline_of(store, attack.url), _storyline_of(store, talks.url)
    assert keep and other and keep != other

    assert curation.merge(store, keep, other) == 1
    curation.rename(store, keep, "Ending the coalition mission, and the attacks")

    # New reports of the talks arrive; the pipeline runs again.
    more = [
        _article(
            "https://c.example/2",
            TALKS.format(day="Sunday", extra="The commission's second round ended in Baghdad."),
            datetime(2024, 2, 11),
        ),
        _article(
            "https://d.example/2",
            ATTACK.format(day="Monday", extra="Drones also targeted the base's perimeter."),
            datetime(2024, 2, 12),
        ),
    ]
    store = _ingest(db, more)
    for article in (attack, talks, *more):
        assert _storyline_of(store, article.url) == keep, article.url
    rows = store.query("SELECT storyline_id, title, story_count FROM storylines")
    assert rows == [(keep, "Ending the coalition mission, and the attacks", 4)]
    with store.read() as con:
        assert storyline_store.resolve(con, other) == keep  # the folded id still finds it
    actions = store.query("SELECT action FROM core.storyline_actions ORDER BY acted_at")
    assert [a for (a,) in actions] == ["merge", "rename"]

    # Reclassifying everything (`monitor reclassify`) threads the stories again: still kept.
    assert reclassify(store, Settings.model_validate({"storage": {"db": str(db)}})) == 4
    for article in (attack, talks, *more):
        assert _storyline_of(store, article.url) == keep, article.url
    assert store.query("SELECT title, story_count FROM storylines") == [
        ("Ending the coalition mission, and the attacks", 4)
    ]


def test_split_and_detach_pin_stories_where_the_analyst_put_them(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    reports = [
        _article(f"https://t.example/{i}", TALKS.format(day=day, extra=extra), when)
        for i, (day, extra, when) in enumerate(
            [
                ("Thursday", "", datetime(2024, 1, 25)),
                ("Sunday", "The second round ended.", datetime(2024, 2, 11)),
                ("Monday", "A third round was set for March.", datetime(2024, 3, 4)),
            ]
        )
    ]
    store = _ingest(db, reports)
    line = _storyline_of(store, reports[0].url)
    assert line and {_storyline_of(store, r.url) for r in reports} == {line}
    stories = [
        store.query("SELECT story_id FROM articles WHERE url = ?", [r.url])[0][0] for r in reports
    ]
    new_line = curation.split(store, line, [stories[2]])
    assert curation.detach(store, [stories[1]]) == 1
    assert _storyline_of(store, reports[2].url) == new_line
    assert _storyline_of(store, reports[1].url) is None
    # Threading again (a reclassification, new reports) leaves the analyst's placements alone.
    with store.write() as con:
        from monitor.pipeline import place_storylines

        place_storylines(con, stories, datetime(2024, 3, 5))
    assert _storyline_of(store, reports[1].url) is None
    assert _storyline_of(store, reports[2].url) == new_line
    with pytest.raises(ConfigError, match="not stories of storyline"):
        curation.split(store, line, ["nope"])
    with pytest.raises(ConfigError, match="no such stories"):
        curation.detach(store, ["nope"])


def test_the_digest_says_which_storyline_a_story_continues(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    first = [
        _article(
            "https://a.example/1", ATTACK.format(day="Tuesday", extra=""), datetime(2024, 1, 2)
        ),
        _article(
            "https://b.example/1", TALKS.format(day="Thursday", extra=""), datetime(2024, 1, 25)
        ),
    ]
    store = _ingest(db, first)
    keep, other = _storyline_of(store, first[0].url), _storyline_of(store, first[1].url)
    assert keep and other
    curation.merge(store, keep, other)
    curation.rename(store, keep, "Talks & *attacks*")
    # The first digest, recorded: the next `--since last` starts after it.
    record_digest(store, build_digest(store, since="last"), fmt="json", path=None)

    store = _ingest(
        db,
        [
            _article(
                "https://c.example/2",
                TALKS.format(day="Sunday", extra="The commission's second round ended."),
                datetime(2024, 2, 11),
            )
        ],
    )
    digest = build_digest(store, since="last")
    assert [s.status for s in digest.stories] == ["new"]
    data = json.loads(render_digest(digest, "json"))
    schema = json.loads(
        resources.files("monitor.digest").joinpath("digest.schema.json").read_text("utf-8")
    )
    jsonschema.validate(data, schema)
    (story,) = data["stories"]
    assert story["storyline"]["storyline_id"] == keep
    assert story["storyline"]["title"] == "Talks & *attacks*"
    assert story["storyline"]["story_count"] == 3
    assert story["storyline"]["first_published_at"] == "2024-01-02T00:00:00Z"
    assert data["storylines"] == [
        {
            "storyline_id": keep,
            "title": "Talks & *attacks*",
            "story_count": 3,
            "new_stories": 1,
            "grown_stories": 0,
            "first_published_at": "2024-01-02T00:00:00Z",
            "last_published_at": "2024-02-11T00:00:00Z",
        }
    ]
    md = render_digest(digest, "md")
    assert r"Continues *Talks & \*attacks\**: 3 stories since January 2024" in md
    assert "Storylines that moved (1):" in md
    html = render_digest(digest, "html")
    assert "Continues <i>Talks &amp; *attacks*</i>: 3 stories since January 2024" in html
    assert "<h3>Storylines that moved</h3>" in html
    rows = list(csv.DictReader(io.StringIO(render_digest(digest, "csv"))))
    assert {(r["storyline_id"], r["storyline_title"]) for r in rows} == {
        (keep, "Talks & *attacks*")
    }


def test_a_story_alone_in_its_storyline_continues_nothing(tmp_path: Path) -> None:
    store = _ingest(
        tmp_path / "m.duckdb",
        [
            _article(
                "https://a.example/1", ATTACK.format(day="Tuesday", extra=""), datetime(2024, 1, 2)
            )
        ],
    )
    assert _storyline_of(store, "https://a.example/1")  # it has a storyline of its own
    digest = build_digest(store, since=None)
    assert [s.storyline for s in digest.stories] == [None]
    assert digest.storylines == ()
    assert "Continues" not in render_digest(digest, "md")
    assert json.loads(render_digest(digest, "json"))["storylines"] == []
