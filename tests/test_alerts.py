"""Alerts: after each ingest, each new relevant story matching an `[[alerts]]` rule is sent once
through Apprise (a real `json://` target: a webhook on 127.0.0.1), failures are recorded and
retried on the next run, and `monitor alerts` shows the rules and what they sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.alerts import Rule, fold
from monitor.pipeline import run_ingest
from monitor.settings import AlertSettings, Settings, load_settings
from monitor.store import Store
from monitor.store.alerts import StoryFacts
from tests.conftest import SEEDS
from tests.synthetic import make_seed_dir
from tests.test_cli import monitor
from tests.test_notify import Receiver, _start, _stop


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    """A webhook on 127.0.0.1 that Apprise's json:// posts to."""
    r = _start()
    yield r
    _stop(r)


def _config(folder: Path, port: int, seeds: Path, rules: str) -> Path:
    path = folder / "monitor.toml"
    path.write_text(
        f'[storage]\ndb = "{folder / "m.duckdb"}"\n[seeds]\ndirs = ["{seeds}"]\n'
        + rules.replace("URL", f"json://127.0.0.1:{port}/alerts"),
        encoding="utf-8",
    )
    return path


RULES = """
[[alerts]]
name = "The vote"
match = { words = ["resolution", "قرار"], event_types = ["parliament_vote"] }
urls = ["URL"]

[[alerts]]
name = "Ain al-Asad"
match = { words = ["Ain al-Asad", "عين الأسد"] }
urls = ["URL"]
"""


def _sends(store: Store) -> list[tuple[str, str, str, int]]:
    return store.query(
        "SELECT rule, story_id, status, attempts FROM alerts ORDER BY rule, story_id"
    )


def test_new_matching_stories_are_sent_once_each(tmp_path: Path, webhook: Receiver) -> None:
    settings = load_settings(_config(tmp_path, webhook.port, SEEDS, RULES))
    run_ingest(settings, fetch=False)
    store = Store(settings.storage.db)
    sends = _sends(store)
    assert sends and {rule for rule, *_ in sends} == {"The vote"}  # no seed names the base
    assert all(status == "sent" and attempts == 1 for *_, status, attempts in sends)
    assert len(webhook.posts) == len(sends)
    post = webhook.posts[0]
    assert post["path"] == "/alerts" and post["title"].startswith("[The vote] ")
    assert "Matched The vote: words: resolution; event types: parliament\\_vote" in post["message"]
    relevant = store.query(
        "SELECT DISTINCT story_id FROM articles WHERE relevant AND story_id IN "
        "(SELECT story_id FROM alerts)"
    )
    assert len(relevant) == len(sends)  # only relevant stories

    run_ingest(settings, fetch=False)  # nothing new: nothing sent again
    assert len(webhook.posts) == len(sends) and _sends(store) == sends

    # New reports, some about the base: each new matching story once, to its rule.
    more = make_seed_dir(tmp_path / "more", 30)
    grown = load_settings(settings.config_path, seeds=[more])
    run_ingest(grown, fetch=False)
    after = _sends(store)
    base = [s for s in after if s[0] == "Ain al-Asad"]
    assert base and len(after) == len(webhook.posts)
    assert len({(rule, story) for rule, story, *_ in after}) == len(after)
    texts = dict(
        store.query(
            "SELECT story_id, string_agg(text, ' ') FROM articles WHERE story_id IN "
            "(SELECT story_id FROM alerts WHERE rule = 'Ain al-Asad') GROUP BY story_id"
        )
    )
    assert all("ain al-asad" in texts[story].lower() for _, story, *_ in base)


def test_a_failed_send_is_recorded_and_retried_on_the_next_run(
    tmp_path: Path, webhook: Receiver
) -> None:
    settings = load_settings(_config(tmp_path, webhook.port, SEEDS, RULES))
    webhook.status = 500
    run_ingest(settings, fetch=False)
    store = Store(settings.storage.db)
    failed = store.query("SELECT status, attempts, last_error FROM alerts")
    assert failed and all(s == "failed" and n == 1 and e for s, n, e in failed)
    shown = monitor("alerts", "--config", str(settings.config_path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "failed (1 attempts)" in shown.stdout and "The vote" in shown.stdout

    webhook.status = 200
    run_ingest(settings, fetch=False)  # no new story: the failed ones are sent now
    assert store.query("SELECT DISTINCT status, attempts FROM alerts") == [("sent", 2)]
    assert len(webhook.posts) == 2 * len(failed)  # each tried twice, delivered once
    as_json = monitor(
        "alerts", "--config", str(settings.config_path), "--format", "json", cwd=tmp_path
    )
    rules = {r["name"]: r for r in json.loads(as_json.stdout)}
    assert rules["The vote"]["counts"] == {"sent": len(failed)}
    assert rules["Ain al-Asad"]["counts"] == {} and rules["Ain al-Asad"]["problems"] == []
    assert rules["The vote"]["sends"][0]["url"].startswith("json://127.0.0.1")


def test_a_rule_added_later_does_not_send_the_archive(
    tmp_path: Path, settings: Settings, webhook: Receiver
) -> None:
    run_ingest(settings, fetch=False)  # the seeds, before any rule
    config = _config(tmp_path, webhook.port, SEEDS, RULES)
    with_rules = load_settings(config, db=settings.storage.db)
    run_ingest(with_rules, fetch=False)
    assert webhook.posts == [] and _sends(Store(settings.storage.db)) == []


def test_a_url_that_left_the_rule_is_abandoned(tmp_path: Path, webhook: Receiver) -> None:
    settings = load_settings(_config(tmp_path, webhook.port, SEEDS, RULES))
    webhook.status = 500
    run_ingest(settings, fetch=False)
    moved = RULES.replace("/alerts", "/elsewhere")
    elsewhere = load_settings(
        _config(tmp_path, webhook.port, SEEDS, moved.replace("URL", "json://127.0.0.1:1/x"))
    )
    run_ingest(elsewhere, fetch=False)
    rows = Store(settings.storage.db).query("SELECT DISTINCT status, last_error FROM alerts")
    assert rows == [("abandoned", "URL no longer configured for this rule")]


def _facts(text: str, **kw: object) -> StoryFacts:
    return StoryFacts("s1", "t", None, [], texts=[text], **kw)  # type: ignore[arg-type]


def _rule(**match: object) -> Rule:
    return Rule.of(AlertSettings.model_validate({"name": "r", "match": match, "urls": ["x://y"]}))


@pytest.mark.parametrize(
    ("words", "text", "hit"),
    [
        (["Ain al-Asad"], "Rockets hit the Ain al Asad air base.", True),
        (["Ain al-Asad"], "AIN AL-ASAD was hit.", True),
        (["US"], "The focus is on Baghdad.", False),  # whole words only
        (["US"], "US forces left.", True),
        (["عين الأسد"], "سقطت صواريخ على قاعدة عين الاسد الجوية", True),  # alef folded
        (["عين الأسد"], "هجوم بعين الأسد", True),  # an attached preposition
        (["عين الأسد"], "هجوم على عينات الأسد", False),
        (["قرار"], "وافق البرلمان على القرار", False),  # the article is not a preposition
        (["قرار"], "وافق البرلمان على قرار الانسحاب", True),
    ],
)
def test_words_match_whole_words_in_english_and_arabic(
    words: list[str], text: str, hit: bool
) -> None:
    assert (_rule(words=words).matched(_facts(text), [fold(text)]) is not None) is hit


def test_every_part_given_must_match() -> None:
    story = _facts(
        "Kataib Hezbollah claimed the attack.",
        actors={"Kataib Hezbollah"},
        event_types={"attack_on_us_forces"},
        storyline_id="L1",
        storyline_title="Attacks on bases",
    )
    texts = [fold(t) for t in story.texts]
    assert _rule(actors=["kata'ib hezbollah"]).matched(story, texts) == (
        "actors: kata'ib hezbollah",
    )
    both = _rule(actors=["Kataib Hezbollah"], event_types=["attack_on_us_forces"])
    assert both.matched(story, texts) is not None
    assert _rule(actors=["Kataib Hezbollah"], event_types=["protest"]).matched(story, texts) is None
    assert _rule(storyline="attacks on bases").matched(story, texts) is not None
    assert _rule(storyline="L2").matched(story, texts) is None
    assert _rule().matched(story, texts) == ()  # no condition: every new relevant story
