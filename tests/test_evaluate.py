"""Relevance and topic evaluation on a labelled folder, and the development-set quality gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.evaluate import evaluate_relevance, evaluate_topics, expected_topic, read_eval_dir

BASELINES = Path(__file__).resolve().parent / "baselines.json"

ON_TOPIC = (
    "Iraqi parliament votes to expel US troops\n\n"
    "Iraq's parliament voted on Sunday to expel US troops from the country after a US strike in "
    "Baghdad. About 5,000 US troops are stationed in Iraq."
)
OFF_TOPIC = (
    "US to withdraw 12,000 troops from Germany\n\n"
    "The Pentagon said it would withdraw about 12,000 troops from Germany, moving some to other "
    "European countries."
)


def _write_eval(folder: Path, items: list[tuple[str, str, str, str]]) -> Path:
    """items: (id, label, why, text) -> an evaluation folder like ../shared/data/eval."""
    (folder / "articles").mkdir(parents=True)
    rows = ["id\tlabel\tevent_cluster\turl\ttext_chars"]
    for article_id, label, why, text in items:
        url = f"https://example.org/{article_id}"
        rows.append(f"{article_id}\t{label}\tC{article_id}\t{url}\t{len(text)}")
        header = f"url: {url}\nlabel: {label}\nwhy: {why}\n\n"
        (folder / "articles" / f"{article_id}.txt").write_text(header + text, encoding="utf-8")
    (folder / "index.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_header_lines_never_reach_the_classifier(tmp_path: Path) -> None:
    folder = _write_eval(tmp_path / "eval", [("001", "on-topic", "the vote", ON_TOPIC)])
    (item,) = read_eval_dir(folder)
    assert (item.label, item.why, item.url) == ("on-topic", "the vote", "https://example.org/001")
    assert item.title == "Iraqi parliament votes to expel US troops"
    assert "label:" not in item.text and "on-topic" not in item.text
    assert "url:" not in item.text and "why:" not in item.text


def test_report_counts_and_lists_every_miss(tmp_path: Path) -> None:
    folder = _write_eval(
        tmp_path / "eval",
        [
            ("001", "on-topic", "the vote", ON_TOPIC),
            ("002", "off-topic", "Germany", OFF_TOPIC),
            # Mislabelled on purpose: the classifier is right, so the label shows up as a miss.
            ("003", "off-topic", "deliberately mislabelled", ON_TOPIC),
            ("004", "on-topic", "deliberately mislabelled", OFF_TOPIC),
        ],
    )
    report = evaluate_relevance(folder)
    assert report.total == 4
    counts = (
        report.true_positives,
        report.false_positives,
        report.false_negatives,
        report.true_negatives,
    )
    assert counts == (1, 1, 1, 1)
    assert (report.precision, report.recall, report.f1) == (0.5, 0.5, 0.5)
    assert [(m.id, m.label) for m in report.misses] == [("003", "off-topic"), ("004", "on-topic")]
    assert all(m.why == "deliberately mislabelled" for m in report.misses)
    text = report.render()
    assert "F1 0.500" in text
    assert "miss 003: false positive" in text and "miss 004: false negative" in text


def test_a_folder_without_an_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"index\.tsv"):
        evaluate_relevance(tmp_path)


def test_development_set_relevance_does_not_drop_below_baseline(shared_data: Path) -> None:
    """Quality gate: the recorded baseline F1 on ../shared/data/eval, and no false alarms."""
    eval_dir = shared_data / "eval"
    if not (eval_dir / "index.tsv").is_file():
        pytest.skip(f"no labelled evaluation folder at {eval_dir}")
    baselines = json.loads(BASELINES.read_text(encoding="utf-8"))
    report = evaluate_relevance(eval_dir)
    assert report.f1 >= baselines["relevance_f1"], report.render()
    # Hard negatives (NATO Mission Iraq, the 2003 invasion, Turkish strikes ...) marked
    # relevant: never more than recorded.
    assert report.false_positives <= baselines["relevance_false_positives_max"], report.render()


@pytest.mark.parametrize(
    ("cluster", "topic"),
    [
        ("E01_2020-01-05_parliament_resolution", "parliament_vote"),
        ("E03_2024-01_HMC_talks_launch", "negotiations"),
        ("E03b_2024-02_HMC_resumes", "negotiations"),
        ("E06_2021-07_kadhimi_strategic_dialogue", "negotiations"),
        ("E10_2021-07_ain_al_asad_rockets", "attack_on_us_forces"),
        ("E04_2024-09_plan_reported", "withdrawal_drawdown"),
        ("E06b_2021-12_combat_mission_ends", "withdrawal_drawdown"),
        ("X04_2020-07_germany_withdrawal", "withdrawal_drawdown"),
        ("X08_2021_iraq_water", None),
    ],
)
def test_event_cluster_names_imply_a_main_topic(cluster: str, topic: str | None) -> None:
    assert expected_topic(cluster) == topic


def _write_clusters(folder: Path, items: list[tuple[str, str, str, str]]) -> Path:
    """items: (id, label, event_cluster, text) -> an evaluation folder."""
    (folder / "articles").mkdir(parents=True)
    rows = ["id\tlabel\tevent_cluster\turl\ttext_chars"]
    for article_id, label, cluster, text in items:
        url = f"https://example.org/{article_id}"
        rows.append(f"{article_id}\t{label}\t{cluster}\t{url}\t{len(text)}")
        header = f"url: {url}\nlabel: {label}\nwhy: test\n\n"
        (folder / "articles" / f"{article_id}.txt").write_text(header + text, encoding="utf-8")
    (folder / "index.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


ROCKETS = (
    "Rockets hit Ain al-Asad air base housing US troops\n\n"
    "Three rockets struck Ain al-Asad air base in western Iraq, which hosts US forces, on Monday. "
    "A coalition spokesman said the attack caused no casualties."
)


def test_topic_report_scores_on_topic_articles_against_their_cluster(tmp_path: Path) -> None:
    folder = _write_clusters(
        tmp_path / "eval",
        [
            ("001", "on-topic", "E01_2020-01-05_parliament_resolution", ON_TOPIC),
            ("002", "on-topic", "E10_2021-07_ain_al_asad_rockets", ROCKETS),
            # The vote article filed under a talks cluster: its expected topic is missed.
            ("003", "on-topic", "E03_2024-01_HMC_talks_launch", ON_TOPIC),
            ("004", "off-topic", "X04_2020-07_germany_withdrawal", OFF_TOPIC),
        ],
    )
    report = evaluate_topics(folder)
    assert [(r.id, r.expected) for r in report.results] == [
        ("001", "parliament_vote"),
        ("002", "attack_on_us_forces"),
        ("003", "negotiations"),
    ]
    assert [r.hit for r in report.results] == [True, True, False]
    assert report.hit_rate == pytest.approx(2 / 3)
    assert report.relevant == 3
    assert 1.0 <= report.mean_topics <= 3.0
    text = report.render()
    assert "hit rate 0.667" in text
    assert "miss 003 (E03_2024-01_HMC_talks_launch): expected negotiations" in text
    assert "miss 001" not in text


def test_development_set_topics_stay_discriminative(shared_data: Path) -> None:
    """Quality gate: the cluster's main topic is found, with few topics per article."""
    eval_dir = shared_data / "eval"
    if not (eval_dir / "index.tsv").is_file():
        pytest.skip(f"no labelled evaluation folder at {eval_dir}")
    baselines = json.loads(BASELINES.read_text(encoding="utf-8"))
    report = evaluate_topics(eval_dir)
    assert report.results, "the development set has clusters with an expected topic"
    assert report.hit_rate >= baselines["topic_hit_rate"], report.render()
    assert report.mean_topics <= baselines["topics_per_article_max"], report.render()
