"""Story grouping through the real pipeline, and the development-set clustering quality gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

import monitor.stories as stories_module
from monitor.errors import ConfigError
from monitor.evaluate.metrics import pairwise_scores
from monitor.models import Article, StoredArticle
from monitor.pipeline import process_pending, run_ingest, store_articles
from monitor.prepare import Preparation, prepare_articles
from monitor.settings import Settings
from monitor.store import Store
from monitor.stories import Batch, TermStats, clustering, own_date, score
from monitor.stories.features import CONCEPT, cues_conflict, event_cues, named_days, term_counts
from monitor.stories.model import load_pair_model

VOTE_A = """\
Iraq's parliament voted on Sunday in favour of a resolution calling on the government to expel \
all foreign troops, including some 5,000 U.S. soldiers, from the country. Lawmakers of the main \
Shi'ite blocs backed the non-binding motion during an emergency session in Baghdad, while most \
Kurdish and Sunni members stayed away. Caretaker Prime Minister Adel Abdul Mahdi told the chamber \
that the government should begin arrangements to end the presence of foreign forces. The speaker \
said the resolution obliges the government to cancel its request for assistance from the \
international coalition fighting Islamic State.
"""

VOTE_B = """\
Lawmakers in Baghdad on Sunday passed a motion urging an end to the deployment of American and \
other foreign forces on Iraqi soil. The resolution, approved by a show of hands in parliament, \
asks the cabinet to withdraw the request for military help it sent to the coalition against \
Islamic State in 2014. Abdul Mahdi, who leads a caretaker government, had urged parliament to act. \
Sunni and Kurdish lawmakers largely boycotted the session. The vote is not binding on the \
government, but it raises pressure on Washington over its 5,000 troops stationed in Iraq.
"""

VOTE_C_UNDATED = """\
The Iraqi parliament has approved a resolution demanding the expulsion of U.S. and coalition \
troops, a session boycotted by Kurdish and Sunni lawmakers. Prime Minister Abdul Mahdi backed \
the motion, which calls on the government to revoke its request for coalition assistance against \
Islamic State and to end the presence of foreign forces in the country.
"""

ATTACK_SAME_DAY = """\
Three rockets struck near the U.S. embassy in Baghdad's Green Zone late on Sunday, security \
sources said, hours after Iraq's parliament met in an emergency session. One rocket hit a house \
close to the embassy compound and caused no casualties, police said. Sirens sounded across the \
diplomatic quarter and American troops at the embassy were placed on alert. No group claimed \
responsibility, but Iran-backed militias have repeatedly threatened U.S. forces in Iraq, and the \
coalition said it would review security at bases hosting its troops.
"""

SUNDAY = datetime(2020, 1, 5, 18, 0)


def _settings(db: Path) -> Settings:
    return Settings.model_validate({"storage": {"db": str(db)}})


def _ingest(db: Path, articles: list[Article], run: str = "r1") -> dict[str, tuple]:
    store = Store(db)
    store.migrate()
    store_articles(store, run, prepare_articles(articles, Preparation()), [])
    process_pending(store, _settings(db))
    rows = store.query(
        "SELECT url, story_id, published_at, date_source, duplicate_of FROM core.articles"
    )
    return {r[0]: r[1:] for r in rows}


def _article(url: str, text: str, title: str, outlet: str, when: datetime | None) -> Article:
    return Article(
        url=url,
        source="test",
        text=text,
        title=title,
        outlet=outlet,
        published_at=when,
        date_source="metadata" if when else "unknown",
    )


def test_seeds_fall_into_two_stories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    seeds = Path(__file__).resolve().parents[1] / "seeds"
    settings = Settings.model_validate(
        {"storage": {"db": str(tmp_path / "m.duckdb")}, "seeds": {"dirs": [str(seeds)]}}
    )
    run_ingest(settings)
    rows = Store(settings.storage.db).query("SELECT url, story_id FROM core.articles")
    story = {url.split(":")[1][:3]: sid for url, sid in rows}
    assert story["000"] == story["002"] == story["003"] == story["004"]
    assert story["001"] != story["000"]
    assert len(set(story.values())) == 2
    # The undated seeds stay undated: another report of the story is no evidence of their day.
    dated = dict(
        Store(settings.storage.db).query("SELECT substr(url, 6, 3), date_source FROM core.articles")
    )
    assert dated["002"] == dated["003"] == "unknown"


def test_same_event_in_other_words_joins_and_other_event_same_day_does_not(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.duckdb"
    rows = _ingest(
        db,
        [
            _article(
                "https://a.example/vote",
                VOTE_A,
                "Iraqi parliament votes to expel US troops",
                "Outlet A",
                SUNDAY,
            ),
            _article(
                "https://b.example/motion",
                VOTE_B,
                "Iraq lawmakers pass motion urging end to foreign troop presence",
                "Outlet B",
                SUNDAY.replace(hour=20),
            ),
            _article(
                "https://c.example/rockets",
                ATTACK_SAME_DAY,
                "Rockets hit near US embassy in Baghdad",
                "Outlet C",
                SUNDAY.replace(hour=23),
            ),
        ],
    )
    vote_story = rows["https://a.example/vote"][0]
    assert rows["https://b.example/motion"][0] == vote_story
    assert rows["https://c.example/rockets"][0] != vote_story


def test_later_batch_joins_story_and_story_stays_current(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    _ingest(
        db,
        [
            _article(
                "https://a.example/vote",
                VOTE_A,
                "Iraqi parliament votes to expel US troops",
                "Outlet A",
                SUNDAY,
            ),
            _article(
                "https://c.example/rockets",
                ATTACK_SAME_DAY,
                "Rockets hit near US embassy in Baghdad",
                "Outlet C",
                SUNDAY.replace(hour=23),
            ),
        ],
        run="r1",
    )
    rows = _ingest(
        db,
        [
            _article(
                "https://b.example/motion",
                VOTE_B,
                "Iraq lawmakers pass motion urging end to foreign troop presence",
                "Outlet B",
                datetime(2020, 1, 6, 8, 0),
            ),
            _article(
                "https://d.example/undated",
                VOTE_C_UNDATED,
                "Parliament demands expulsion of coalition troops",
                "Outlet D",
                None,
            ),
        ],
        run="r2",
    )
    vote_story = rows["https://a.example/vote"][0]
    assert rows["https://b.example/motion"][0] == vote_story
    assert rows["https://d.example/undated"][0] == vote_story
    assert rows["https://d.example/undated"][1:3] == (None, "unknown")  # joins, lends no date
    story = Store(db).query(
        "SELECT title, first_published_at, last_published_at, article_count, outlets, "
        "origin_outlet, also_in FROM stories WHERE story_id = ?",
        [vote_story],
    )[0]
    assert story[0] == "Iraqi parliament votes to expel US troops"
    assert story[1] == SUNDAY and story[2] == datetime(2020, 1, 6, 8, 0)
    assert story[3] == 3
    assert story[4][0] == "Outlet A" and sorted(story[4]) == ["Outlet A", "Outlet B", "Outlet D"]
    assert story[5] == "Outlet A" and story[6] == ["Outlet B", "Outlet D"]


def test_story_window_keeps_same_words_years_apart_apart(tmp_path: Path) -> None:
    rows = _ingest(
        tmp_path / "m.duckdb",
        [
            _article("https://a.example/2020", VOTE_A, "Vote", "A", SUNDAY),
            _article("https://b.example/2024", VOTE_B, "Vote", "B", datetime(2024, 1, 7)),
        ],
    )
    assert rows["https://a.example/2020"][0] != rows["https://b.example/2024"][0]


def test_event_cues_tell_counts_apart() -> None:
    three = event_cues("Rockets hit base", "Three rockets struck the Ain al-Asad base on Monday.")
    ten = event_cues("Rockets hit base", "Ten rockets struck the Ain al-Asad base on Tuesday.")
    assert "n:rocket=3" in three and "wd:monday" in three
    assert cues_conflict(three, ten)
    assert not cues_conflict(three, event_cues(None, "Three rockets landed, officials said."))
    # Big, rounded figures are not treated as contradicting counts.
    assert not cues_conflict(
        event_cues(None, "about 5,000 troops are in Iraq"),
        event_cues(None, "some 5,200 troops are in Iraq"),
    )


def test_arabic_leads_give_the_cues_an_english_one_would() -> None:
    """Weekdays, counts (in words, and duals) and full dates read from Arabic are the same cues
    as from English, so the pair model compares them across languages."""
    three = event_cues(None, "سقطت ثلاثة صواريخ على قاعدة عين الأسد مساء اليوم الاثنين.")
    assert {"n:rocket=3", "wd:monday"} <= set(three)
    assert cues_conflict(three, event_cues(None, "Ten rockets struck the Ain al-Asad base."))
    two = event_cues(None, "استهدف هجوم بطائرتين مسيرتين قاعدة حرير يوم السبت الماضي.")
    assert {"n:drone=2", "wd:saturday"} <= set(two)
    # A listed plural ending like a dual is not two of a thing; "الاثنين" without a time
    # word is "the two", not Monday.
    hurt = event_cues(None, "أعلن الجيش عن عدد من المصابين وأكد الاثنين أن الوضع مستقر.")
    assert not [c for c in hurt if c.startswith(("n:", "wd:"))]
    dated = event_cues(None, "بغداد - صوّت البرلمان في 5 كانون الثاني 2020 على القرار.")
    assert "day:2020-01-05" in dated


def test_an_arabic_and_an_english_report_of_one_event_share_concepts_not_words() -> None:
    english = event_cues(None, VOTE_A)
    arabic = event_cues(None, VOTE_AR)
    concepts = {c for c in english if c.startswith(CONCEPT)} & set(arabic)
    assert {"k:vote", "k:parliament", "k:foreign_forces", "k:assistance_request"} <= concepts
    assert not set(term_counts(None, VOTE_A)) & set(term_counts(None, VOTE_AR))
    attack = {c for c in event_cues(None, ATTACK_AR) if c.startswith(CONCEPT)}
    assert {"k:rocket", "k:base"} <= attack and "k:vote" not in attack


def test_arabic_words_are_one_term_with_or_without_their_clitics() -> None:
    counts = term_counts(None, "القوات والقوات للقوات قواتها في على")
    assert list(counts) == [next(iter(counts))] and next(iter(counts.values())) == 4.0


def test_word_weights_are_counted_per_writing_system() -> None:
    """Arabic reports in the batch do not move the weights of English words."""
    english = [_stored(f"e{i}", text) for i, text in enumerate([VOTE_A, VOTE_B, ATTACK_SAME_DAY])]
    arabic = [_stored(f"a{i}", text) for i, text in enumerate([VOTE_AR, ATTACK_AR] * 3)]
    alone = score(Batch.of(english), TermStats({}, 0))
    mixed = score(Batch.of(english + arabic), TermStats({}, 0))
    assert alone.weights["e0"] == mixed.weights["e0"]


def _stored(article_id: str, text: str) -> StoredArticle:
    return StoredArticle(
        article_id, f"https://x.example/{article_id}", None, "test", None, None, text, None,
        "unknown", article_id, SUNDAY,
    )  # fmt: skip


def test_pairwise_scores_count_pairs() -> None:
    truth = {"a": "x", "b": "x", "c": "y", "d": "y"}
    assert pairwise_scores(truth, {"a": 1, "b": 1, "c": 2, "d": 3}) == (2, 1, 1)  # type: ignore[dict-item]


# Two halves of one event's vocabulary: each report has one half, the bridge both.
_HALF_A = (
    "Engineers inspected the damaged Qayyarah airfield runway, the cratered taxiway and the "
    "burned hangar, and a spokesman for the Nineveh operations command described the repairs."
)
_HALF_B = (
    "Investigators examined the launch rails found in a Shirqat orchard, a pickup truck and "
    "timer fragments, and the provincial police chief described the search for the cell."
)


def test_reports_that_bridge_two_stored_stories_merge_them(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    when = datetime(2024, 5, 2, 9, 0)
    first = _ingest(
        db, [_article("https://a.example/1", _HALF_A * 3, "Airfield damage", "A", when)]
    )
    second = _ingest(
        db, [_article("https://b.example/1", _HALF_B * 3, "Launch site found", "B", when)], "r2"
    )
    story_a = first["https://a.example/1"][0]
    story_b = second["https://b.example/1"][0]
    assert story_a != story_b  # on their own, the two reports share too little
    bridge = _article(
        "https://c.example/1",
        (_HALF_A + " " + _HALF_B) * 2,
        "Airfield damage and the launch site",
        "C",
        when.replace(hour=15),
    )
    third = _ingest(db, [bridge], "r3")
    merged = {third[u][0] for u in ("https://a.example/1", "https://b.example/1", bridge.url)}
    assert len(merged) == 1, third
    store = Store(db)
    assert store.query("SELECT count(*), sum(article_count) FROM stories") == [(1, 3)]
    (story,) = merged
    assert store.query("SELECT DISTINCT story_id FROM core.story_features") == [(story,)]
    assert story in (story_a, story_b)  # the merged story keeps one of the stored ids


def test_stories_do_not_depend_on_the_order_reports_arrive_in(tmp_path: Path) -> None:
    reports = [
        _article("https://a.example/vote", VOTE_A, "Iraqi parliament votes", "A", SUNDAY),
        _article("https://b.example/motion", VOTE_B, "Lawmakers pass motion", "B", SUNDAY),
        _article("https://c.example/rockets", ATTACK_SAME_DAY, "Rockets hit", "C", SUNDAY),
        _article("https://d.example/undated", VOTE_C_UNDATED, "Expulsion demanded", "D", None),
        _article("https://e.example/half", _HALF_A * 2, "Airfield damage", "E", None),
    ]
    first = _ingest(tmp_path / "a.duckdb", reports)
    second = _ingest(tmp_path / "b.duckdb", list(reversed(reports)))
    # Same stories under the same ids, and the same dates borrowed from them.
    assert {url: row[:3] for url, row in first.items()} == {
        url: row[:3] for url, row in second.items()
    }
    story = {url: row[0] for url, row in first.items()}
    assert story["https://a.example/vote"] == story["https://b.example/motion"]
    assert story["https://d.example/undated"] == story["https://a.example/vote"]
    assert story["https://e.example/half"] != story["https://a.example/vote"]


def test_a_crawl_day_stamp_is_no_evidence_of_the_event() -> None:
    seen = datetime(2026, 3, 2, 9, 0)
    assert own_date(seen.replace(hour=0), "feed", seen) is None  # the feed's day of the run
    assert own_date(datetime(2026, 2, 20), "feed", seen) == datetime(2026, 2, 20)
    assert own_date(seen, "metadata", seen) == seen  # the page's own statement
    assert own_date(SUNDAY, "story", seen) is None  # borrowed from its story
    assert own_date(None, "unknown", seen) is None


def test_named_days_are_read_from_the_text() -> None:
    text = (
        "CAIRO (Sputnik - 30th March, 2020) The coalition left. On Tuesday, 31 March 2020 the "
        "command said more bases follow; Date: 2021-09-11T22:19; January 5, 2020 (not 31 "
        "February 2020)."
    )
    assert named_days(text) == [
        date(2020, 3, 30),
        date(2020, 3, 31),
        date(2021, 9, 11),
        date(2020, 1, 5),
    ]
    assert "day:2021-09-11" in event_cues(None, text)
    assert not [c for c in event_cues(None, "No date here, only 2020.") if c.startswith("day:")]


def test_a_pair_model_file_is_checked_when_read(tmp_path: Path) -> None:
    shipped = load_pair_model("stories")
    copy = tmp_path / "model.json"
    copy.write_text(shipped.to_json(), encoding="utf-8")
    assert load_pair_model("stories", copy).digest == shipped.digest
    with pytest.raises(ConfigError, match="not of storylines"):
        load_pair_model("storylines", copy)
    copy.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ConfigError, match=str(copy)):
        load_pair_model("stories", copy)
    with pytest.raises(ConfigError, match="cannot read"):
        load_pair_model("stories", tmp_path / "missing.json")


def test_scoring_only_the_pairs_asked_for_gives_the_same_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big batches score the candidate pairs only (sharing terms, names or named days), small
    ones every pair at once: both give the same stories."""
    reports = [
        _article("https://a.example/vote", VOTE_A, "Iraqi parliament votes", "A", SUNDAY),
        _article("https://b.example/motion", VOTE_B, "Lawmakers pass motion", "B", SUNDAY),
        _article("https://c.example/rockets", ATTACK_SAME_DAY, "Rockets hit", "C", SUNDAY),
        _article("https://d.example/undated", VOTE_C_UNDATED, "Expulsion demanded", "D", None),
        _article("https://e.example/half", _HALF_A * 2, "Airfield damage", "E", None),
        _article("https://f.example/half", _HALF_B * 2, "Launch site found", "F", None),
    ]
    dense = _ingest(tmp_path / "dense.duckdb", reports)
    monkeypatch.setattr(clustering, "DENSE_MAX", 0)
    asked = _ingest(tmp_path / "asked.duckdb", reports)
    assert {u: r[0] for u, r in asked.items()} == {u: r[0] for u, r in dense.items()}


# Arabic reports written for these tests: the vote of 5 January 2020, and a rocket attack on
# another base that evening.
VOTE_AR = """\
صوّت مجلس النواب العراقي، اليوم الأحد، على قرار يلزم الحكومة بإنهاء وجود القوات الأجنبية في \
البلاد وإلغاء طلب المساعدة المقدم إلى التحالف الدولي لمحاربة تنظيم داعش. وقاطعت الكتل السنية \
والكردية الجلسة الاستثنائية التي حضرها رئيس حكومة تصريف الأعمال عادل عبد المهدي، الذي دعا \
البرلمان إلى اتخاذ خطوات لإخراج القوات الأجنبية. ويعد القرار غير ملزم للحكومة، لكنه يزيد الضغط \
على واشنطن التي تنشر نحو خمسة آلاف جندي في العراق.
"""

ATTACK_AR = """\
سقطت ثلاثة صواريخ كاتيوشا، مساء اليوم الأحد، على قاعدة عين الأسد الجوية في محافظة الأنبار غربي \
العراق، التي تضم جنوداً أمريكيين، بحسب مصدر أمني. وأضاف المصدر أن الهجوم لم يسفر عن إصابات، \
فيما لم تتبن أي جهة المسؤولية عن الهجوم. وتتعرض القواعد التي تستضيف قوات التحالف الدولي لهجمات \
متكررة تتهم واشنطن فصائل مسلحة موالية لإيران بالوقوف خلفها.
"""


def _english_vote_and_attack() -> list[Article]:
    return [
        _article(
            "https://a.example/vote",
            VOTE_A,
            "Iraqi parliament votes to expel US troops",
            "Outlet A",
            SUNDAY,
        ),
        _article(
            "https://b.example/motion",
            VOTE_B,
            "Lawmakers pass motion on foreign troops",
            "Outlet B",
            SUNDAY.replace(hour=20),
        ),
        _article(
            "https://c.example/rockets",
            ATTACK_SAME_DAY,
            "Rockets hit near US embassy",
            "Outlet C",
            SUNDAY.replace(hour=23),
        ),
    ]


def _arabic_vote_and_attack(vote_at: datetime | None) -> list[Article]:
    return [
        _article(
            "https://ar.example/vote",
            VOTE_AR,
            "البرلمان العراقي يصوت على إنهاء وجود القوات الأجنبية",
            "Outlet AR",
            vote_at,
        ),
        _article(
            "https://ar.example/rockets",
            ATTACK_AR,
            "صواريخ كاتيوشا تستهدف قاعدة عين الأسد",
            "Outlet AR2",
            SUNDAY.replace(hour=21),
        ),
    ]


@pytest.mark.parametrize("vote_at", [SUNDAY.replace(hour=22), None])
def test_an_arabic_report_joins_the_english_story_of_its_event_and_no_other(
    tmp_path: Path, vote_at: datetime | None
) -> None:
    """Later, in another run: the Arabic report of the vote (dated, or undated and naming the
    Sunday) joins the English story; the Arabic report of a rocket attack that evening joins
    neither the vote nor the English report of another attack."""
    db = tmp_path / "m.duckdb"
    _ingest(db, _english_vote_and_attack(), run="r1")
    rows = _ingest(db, _arabic_vote_and_attack(vote_at), run="r2")
    vote = rows["https://a.example/vote"][0]
    assert rows["https://b.example/motion"][0] == vote
    assert rows["https://ar.example/vote"][0] == vote
    attack = rows["https://ar.example/rockets"][0]
    assert attack not in (vote, rows["https://c.example/rockets"][0])
    languages = dict(Store(db).query("SELECT url, language FROM articles"))
    assert languages["https://ar.example/vote"] == "ar"


def test_languages_join_only_with_an_across_model_and_days_that_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one batch: without the across model an Arabic and an English report never share a
    story; with it, not when their own dates lie weeks apart."""
    shipped = load_pair_model("stories")
    assert shipped.across is not None
    together = _ingest(
        tmp_path / "one.duckdb", _english_vote_and_attack() + _arabic_vote_and_attack(SUNDAY)
    )
    assert together["https://ar.example/vote"][0] == together["https://a.example/vote"][0]
    weeks_later = _ingest(
        tmp_path / "later.duckdb",
        _english_vote_and_attack() + _arabic_vote_and_attack(datetime(2020, 2, 9, 12)),
    )
    assert weeks_later["https://ar.example/vote"][0] != weeks_later["https://a.example/vote"][0]
    monkeypatch.setattr(
        stories_module, "load_pair_model", lambda kind: replace(shipped, across=None)
    )
    apart = _ingest(
        tmp_path / "apart.duckdb", _english_vote_and_attack() + _arabic_vote_and_attack(SUNDAY)
    )
    assert apart["https://ar.example/vote"][0] != apart["https://a.example/vote"][0]
