"""Relevance evaluation on a labelled folder, and the development-set quality gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.evaluate import evaluate_relevance, read_eval_dir

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
    baseline = json.loads(BASELINES.read_text(encoding="utf-8"))["relevance_f1"]
    report = evaluate_relevance(eval_dir)
    assert report.f1 >= baseline, report.render()
    assert report.f1 >= 0.97, report.render()
    # Hard negatives (US troops leaving Germany/Afghanistan, Iraqi elections, Iran talks ...)
    # must never be marked relevant.
    assert report.false_positives == 0, report.render()
