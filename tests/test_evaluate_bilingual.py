"""`monitor eval` on the English and the Arabic folder together (slow lane: about two minutes):
stories across languages, and each folder's figures, against tests/baselines.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.evaluate import evaluate
from monitor.settings import Settings

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BASELINES = Path(__file__).resolve().parent / "baselines.json"


def test_arabic_and_english_reports_of_one_event_join_and_nothing_else_does(
    tmp_path: Path,
) -> None:
    folders = [DATA / "eval", DATA / "eval-ar"]
    for folder in folders:
        if not (folder / "index.tsv").is_file():
            pytest.skip(f"no labelled evaluation folder at {folder}")
    settings = Settings.model_validate({"storage": {"db": str(tmp_path / "unused.duckdb")}})
    report = evaluate(folders, settings, workdir=tmp_path / "work")
    figures = report.figures()
    gates: dict[str, float] = json.loads(BASELINES.read_text(encoding="utf-8"))["bilingual"]
    shown = json.dumps(figures, indent=1)

    # Precision first: no Arabic report is put with an English report of another event, in-sample
    # or under cross-validation, with dates or without.
    for key in (
        "cross_language_stories_false_links",
        "cross_language_stories_cv_false_links",
        "cross_language_stories_cv_false_links_undated",
        "cross_language_stories_cv_false_links_coarse",
    ):
        assert figures[key] == 0, (key, shown)
    # Both shared events (the January 2020 vote, the combat mission's end) join across languages.
    assert figures["cross_language_stories_pairs"] == 38, shown
    assert figures["cross_language_stories_recall"] == 1.0, shown
    assert figures["cross_language_stories_cv_recall"] == 1.0, shown
    assert figures["cross_language_stories_cv_recall_undated"] >= gates["cv_recall_undated"], shown

    # Each folder's figures, judged by models fitted on both folders' other events.
    for key, floor in gates.items():
        if "." in key:
            assert figures[key] >= floor, (key, shown)
    assert figures["eval.stance_swaps"] == 0 and figures["eval-ar.stance_swaps"] == 0, shown
