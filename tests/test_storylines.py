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
from monitor.digest.storyline import build_storyline, render_storyline
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
    words = dict.fromkeys(text.lower().split(), 1.0)
    norm = len(words) ** 0.5
    return {w: v / norm for w, v in words.items()}


# The distinctive words of each kind of report (as TF-IDF keeps them: the common ones weigh
# next to nothing).
WORDS = {
    "attack": "rockets ain asad base kataib hezbollah militia struck casualties",
    "talks": "talks commission timetable mission sudani negotiations round",
    "pullout": "syria pullout watch iran lawmakers angering",
    "vote": "parliament voted expel resolution soleimani sanctions",
    "dialogue": "strategic dialogue future handed bases washington",
}


def _thread(
    story: str,
    text: str,
    when: datetime | None,
    topic: str,
    actors: tuple[str, ...],
    words: str,
) -> Thread:
    """A story as the store would hand it over: what its one report says, named and dated."""
    return Thread(
        story,
        {topic: 1.0},
        dict.fromkeys(actors, 1.0),
        when,
        when,
        {"Iraq": 1.0},
        _words(WORDS[words]),
        None,
        storylines.question_weights(text.split("\n")[0], text),
    )


IDF = {
    "Kataib Hezbollah": 2.0,
    "Higher Military Commission": 2.0,
    "Mohammed Shia al-Sudani": 1.5,
    "Donald Trump": 0.6,
    "Iraq": 0.1,
}
KH = ("Kataib Hezbollah",)


def test_a_story_continues_the_storyline_it_shares_a_question_with_or_opens_one() -> None:
    attack = ATTACK.format(day="Tuesday", extra="")
    attacks = storylines.lines_of(
        {
            "attacks": [
                _thread("s0", attack, datetime(2024, 1, 2), "attack_on_us_forces", KH, "attack")
            ]
        },
        IDF,
    )
    later = _thread("s1", attack, datetime(2024, 2, 1), "attack_on_us_forces", KH, "attack")
    talks = _thread(
        "s2",
        TALKS.format(day="Thursday", extra=""),
        datetime(2024, 2, 2),
        "negotiations",
        ("Higher Military Commission", "Mohammed Shia al-Sudani"),
        "talks",
    )
    years_on = _thread("s3", attack, datetime(2026, 3, 1), "attack_on_us_forces", KH, "attack")
    placed = storylines.place([later, talks, years_on], attacks, IDF)
    assert placed.storyline_of["s1"] == "attacks"
    assert placed.storyline_of["s2"] not in ("attacks", placed.storyline_of["s3"])
    # Years later, the same words and actors are another thread.
    assert placed.storyline_of["s3"] != "attacks"
    assert len(placed.opened) == 2
    # A title says what the thread is about, when, and who stands out in it.
    assert placed.titles[placed.storyline_of["s2"]] == (
        "Ending the coalition mission, 2024: Higher Military Commission, Mohammed Shia al-Sudani"
    )
    assert placed.titles["attacks"] == "Militia attacks on US forces, 2024: Kataib Hezbollah"
    assert "Iraq" not in "".join(placed.titles.values())  # named everywhere: tells nothing
    # The same stories in another order are placed the same way, under the same ids.
    again = storylines.place(
        [years_on, talks, later],
        storylines.lines_of(
            {
                "attacks": [
                    _thread("s0", attack, datetime(2024, 1, 2), "attack_on_us_forces", KH, "attack")
                ]
            },
            IDF,
        ),
        IDF,
    )
    assert again == placed


def test_two_stored_storylines_are_never_merged_by_threading() -> None:
    attack = ATTACK.format(day="Tuesday", extra="")
    lines = storylines.lines_of(
        {
            "first": [
                _thread("a", attack, datetime(2024, 1, 2), "attack_on_us_forces", KH, "attack")
            ],
            "second": [
                _thread("b", attack, datetime(2024, 1, 3), "attack_on_us_forces", KH, "attack")
            ],
        },
        IDF,
    )
    bridge = _thread("c", attack, datetime(2024, 1, 4), "attack_on_us_forces", KH, "attack")
    placed = storylines.place([bridge], lines, IDF)
    assert placed.storyline_of == {"c": "second"}  # alike both: the one a day away, not two
    assert placed.opened == []
    assert set(placed.titles) == {"second"}


# Three questions of the presence debate within fourteen months, as a set of real reports that
# failed did: one kind of event (talk of the troops leaving), one president, one country.
PULLOUT = (
    "Trump defends Syria pullout, says troops in Iraq will watch Iran\n\n"
    "President Donald Trump said US troops would stay in Iraq to watch Iran after the "
    "withdrawal from Syria, angering Iraqi lawmakers who called for the US forces to leave."
)
VOTE = (
    "Iraqi parliament votes to expel foreign troops after Soleimani killing\n\n"
    "Iraq's parliament voted on Sunday to expel foreign troops, passing a non-binding "
    "resolution that asks the government to end the presence of foreign forces after the "
    "killing of Soleimani. President Donald Trump threatened sanctions on Iraq."
)
DIALOGUE = (
    "US and Iraq open strategic dialogue on the future of US troops\n\n"
    "Washington and Baghdad began a strategic dialogue on the future of US forces in Iraq, "
    "as the coalition handed over bases to Iraqi forces. President Donald Trump has said "
    "troops would leave Iraq in time."
)


def test_the_syria_pullout_the_vote_and_the_dialogue_are_three_threads() -> None:
    trump = ("Donald Trump",)
    stories = [
        _thread("p1", PULLOUT, datetime(2018, 12, 27), "withdrawal_drawdown", trump, "pullout"),
        _thread("p2", PULLOUT, datetime(2019, 2, 4), "withdrawal_drawdown", trump, "pullout"),
        _thread("v1", VOTE, datetime(2020, 1, 5), "parliament_vote", trump, "vote"),
        _thread("v2", VOTE, datetime(2020, 1, 10), "parliament_vote", trump, "vote"),
        _thread("d1", DIALOGUE, datetime(2020, 4, 7), "negotiations", trump, "dialogue"),
        _thread("d2", DIALOGUE, datetime(2020, 6, 11), "negotiations", trump, "dialogue"),
    ]
    placed = storylines.place(stories, [], IDF)
    line = placed.storyline_of
    assert line["p1"] == line["p2"] and line["v1"] == line["v2"] and line["d1"] == line["d2"]
    assert len({line["p1"], line["v1"], line["d1"]}) == 3
    assert placed.titles[line["p1"]].startswith(
        "The pullout from Syria and the troops' status in Iraq, 2018–2019"
    )
    assert placed.titles[line["v1"]].startswith(
        "The parliament's vote to expel foreign troops and its aftermath, 2020"
    )
    assert placed.titles[line["d1"]].startswith("The strategic dialogue and the drawdown, 2020")


def test_a_story_without_a_date_joins_the_thread_of_its_question() -> None:
    """An opinion piece with no date of its own goes by what it argues."""
    vote = [
        _thread(
            f"v{k}", VOTE, datetime(2020, 1, 5 + k), "parliament_vote", ("Donald Trump",), "vote"
        )
        for k in range(3)
    ]
    dialogue = [
        _thread(
            f"d{k}",
            DIALOGUE,
            datetime(2020, 6, 11 + k),
            "negotiations",
            ("Donald Trump",),
            "dialogue",
        )
        for k in range(3)
    ]
    opinion = _thread(
        "o",
        "Iraq's parliament was right to vote to expel US troops\n\nThe resolution the "
        "parliament passed after the killing of Soleimani should be honoured.",
        None,
        "parliament_vote",
        (),
        "vote",
    )
    placed = storylines.place([*vote, *dialogue, opinion], [], IDF)
    assert placed.storyline_of["o"] == placed.storyline_of["v0"] != placed.storyline_of["d0"]


def test_questions_are_read_from_english_and_arabic_headlines_and_texts() -> None:
    english = storylines.question_weights(
        "Iraqi parliament votes to expel US troops",
        "Lawmakers voted on Sunday to expel foreign troops. Rockets later hit a base.",
    )
    arabic = storylines.question_weights(
        "البرلمان العراقي يصوت على إخراج القوات الأجنبية",
        "صوت مجلس النواب العراقي على قرار يلزم الحكومة بإنهاء وجود القوات الأجنبية.",
    )
    for weights in (english, arabic):
        assert max(weights, key=weights.__getitem__) == "expulsion_vote", weights
    # A cue in the headline says more than the same cue deep in the text.
    head = storylines.question_weights("Rocket attack hits Ain al-Asad", "No one was hurt.")
    body = storylines.question_weights(
        "Ain al-Asad", "x " * storylines.LEAD_CHARS + "A rocket attack hit the base."
    )
    assert head["militia_attacks"] > body["militia_attacks"] > 0
    assert storylines.question_weights(None, "The weather in Baghdad was mild.") == {}


def test_a_questions_file_with_a_bad_entry_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match=r"\[questions.vote\]: family must be"):
        storylines.parse_questions(
            '[questions.vote]\nlabel = "The vote"\nfamily = "votes"\ncues = ["vote"]\n', "t"
        )
    with pytest.raises(ConfigError, match="unknown key 'cue'"):
        storylines.parse_questions('[questions.vote]\nlabel = "x"\ncue = ["vote"]\n', "t")
    with pytest.raises(ConfigError, match=r"no \[questions.NAME\] of kind question"):
        storylines.parse_questions("", "t")
    with pytest.raises(ConfigError, match=r"only \[questions.NAME\] tables"):
        storylines.parse_questions("questions = 5\n", "t")
    with pytest.raises(ConfigError, match="questions t: "):
        storylines.parse_questions("[questions.vote\n", "t")
    packaged = storylines.questions()
    assert {q.family for q in packaged.items.values() if q.kind == "question"} == {
        "presence",
        "attacks",
        "strikes",
    }


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
            TALKS.format(day="Monday", extra="The commission's second round ended in Baghdad."),
            datetime(2024, 3, 4),  # weeks after the first round: another story
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
                TALKS.format(day="Monday", extra="The commission's second round ended."),
                datetime(2024, 3, 4),  # weeks after the first round: another story
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
            "last_published_at": "2024-03-04T00:00:00Z",
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


def test_stories_that_tie_are_threaded_in_the_order_of_what_they_say() -> None:
    """Two stories of one day and size are taken by their text's hash, not their ids (which
    change with the address their reports came from), so one archive threads one way."""
    day = datetime(2024, 1, 2)
    first = Thread("z-story", {}, {}, day, day, key="0a1b")
    second = Thread("a-story", {}, {}, day, day, key="f9e8")
    undated = Thread("0-story", {}, {}, None, None, key="0000")
    ordered = sorted([second, undated, first], key=storylines.order)
    assert [t.story_id for t in ordered] == ["z-story", "a-story", "0-story"]


def test_a_storyline_is_offered_only_to_stories_of_its_kinds() -> None:
    """An attack does not continue the talks' thread, however near in time and alike in words;
    a thread an analyst made of both kinds takes stories of either."""
    talks = TALKS.format(day="Thursday", extra="Rockets hit Ain al-Asad air base the same day.")
    attack = ATTACK.format(day="Thursday", extra="The talks on the coalition went on in Baghdad.")
    sudani = ("Mohammed Shia al-Sudani",)
    talk_thread = _thread("t", talks, datetime(2024, 1, 25), "negotiations", sudani, "talks")
    attack_thread = _thread("a", attack, datetime(2024, 1, 25), "attack_on_us_forces", KH, "attack")
    assert talk_thread.family == "presence" and attack_thread.family == "attacks"
    alone = storylines.lines_of({"talks": [talk_thread]}, IDF)
    columns = storylines.join_columns(attack_thread, alone, IDF)
    assert not storylines.offered(columns).any()
    assert storylines.place([attack_thread], alone, IDF).opened  # a thread of its own
    both = storylines.lines_of({"merged": [talk_thread, attack_thread]}, IDF)
    later = _thread("b", attack, datetime(2024, 1, 26), "attack_on_us_forces", KH, "attack")
    assert storylines.offered(storylines.join_columns(later, both, IDF)).all()
    assert storylines.place([later], both, IDF).storyline_of == {"b": "merged"}


def test_the_storyline_chart_dates_a_report_by_its_story_and_leaves_out_the_undated(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.duckdb"
    talks = [
        _article(
            f"https://{host}.example/1",
            TALKS.format(day="Thursday", extra=extra),
            datetime(2024, 1, 25),
        )
        for host, extra in (("a", ""), ("b", "The talks resume next week."))
    ]
    attack = _article(
        "https://c.example/1", ATTACK.format(day="Tuesday", extra=""), datetime(2024, 1, 2)
    )
    store = _ingest(db, [*talks, attack])
    line, other = _storyline_of(store, talks[0].url), _storyline_of(store, attack.url)
    assert line and other and _storyline_of(store, talks[1].url) == line
    if other != line:
        curation.merge(store, line, other)
    # One report of the talks lost its date (its story keeps the other's), and the attack
    # has none at all: as crawled pages often come.
    with store.write() as con:
        con.execute(
            "UPDATE core.articles SET published_at = NULL, date_source = 'unknown' "
            "WHERE url IN (?, ?)",
            [talks[1].url, attack.url],
        )
    view = build_storyline(store, line)
    assert [(d.day.isoformat(), d.total) for d in view.days] == [("2024-01-25", 2)]
    assert view.undated == 1
    html = render_storyline(view, "html")
    assert "1 undated article not drawn" in html
