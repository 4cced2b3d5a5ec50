"""`python -m monitor.stories.train`: the pair models fitted from a labelled folder, for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.evaluate.grouping import THRESHOLDS
from monitor.settings import Settings
from monitor.stories.model import load_pair_model
from monitor.stories.train import main, train

# (event, storyline, day, text): two reports of each of five events, three threads.
REPORTS = [
    (
        "E_talks",
        "S_dialogue",
        "2020-06-11",
        "Iraq and the United States opened a strategic dialogue on Thursday on the future of US "
        "forces in Iraq, by video link from Baghdad.",
    ),
    (
        "E_talks",
        "S_dialogue",
        "2020-06-11",
        "US and Iraqi officials began strategic talks on Thursday about troop levels in Iraq and "
        "economic ties, the State Department said.",
    ),
    (
        "E_vote",
        "S_expel",
        "2020-01-05",
        "Iraq's parliament voted on Sunday to expel US troops "
        "after the Baghdad strike; lawmakers backed the resolution in an emergency session.",
    ),
    (
        "E_vote",
        "S_expel",
        "2020-01-05",
        "Lawmakers in Baghdad passed a resolution on Sunday "
        "urging the government to end the presence of US and coalition troops in Iraq.",
    ),
    (
        "E_letter",
        "S_expel",
        "2020-01-07",
        "A US military letter about repositioning troops out "
        "of Iraq was a draft sent in error, the Pentagon said on Monday.",
    ),
    (
        "E_letter",
        "S_expel",
        "2020-01-07",
        "The Pentagon said a draft letter on moving US forces "
        "out of Iraq had been released by mistake and did not mean a withdrawal.",
    ),
    (
        "E_rockets",
        "S_attacks",
        "2021-03-03",
        "Ten rockets struck Ain al-Asad air base, which "
        "hosts US troops, on Wednesday; a contractor died of a heart attack during the attack.",
    ),
    (
        "E_rockets",
        "S_attacks",
        "2021-03-03",
        "At least ten rockets hit the Ain al-Asad base in "
        "western Iraq on Wednesday, the coalition said, days after US strikes in Syria.",
    ),
    (
        "E_drones",
        "S_attacks",
        "2021-04-14",
        "A drone packed with explosives hit Erbil airport "
        "late on Wednesday, targeting the coalition's base there; no casualties were reported.",
    ),
    (
        "E_drones",
        "S_attacks",
        "2021-04-14",
        "An explosive-laden drone struck a coalition base at "
        "Erbil airport on Wednesday night, Kurdish officials said, the first such attack there.",
    ),
]


def _folder(root: Path) -> Path:
    (root / "articles").mkdir(parents=True)
    rows = ["id\tlabel\tevent_cluster\turl\ttext_chars\tpublished\tstoryline\tstance"]
    for n, (event, line, day, text) in enumerate(REPORTS, start=1):
        item = f"{n:03d}"
        url = f"https://outlet{n}.example.org/{event.lower()}/{item}"
        rows.append(f"{item}\ton-topic\t{event}\t{url}\t{len(text)}\t{day}\t{line}\tneutral")
        header = f"url: {url}\nlabel: on-topic\nwhy: test\npublished: {day}\n\n"
        (root / "articles" / f"{item}.txt").write_text(header + text, encoding="utf-8")
    (root / "index.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_training_writes_models_the_pipeline_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    folder = _folder(tmp_path / "labelled")
    settings = Settings.model_validate({"storage": {"db": str(tmp_path / "unused.duckdb")}})
    trained = train([folder], settings, tmp_path / "models")
    assert [p.name for p in trained.written] == ["story_model.json", "storyline_model.json"]
    stories = load_pair_model("stories", tmp_path / "models" / "story_model.json")
    lines = load_pair_model("storylines", tmp_path / "models" / "storyline_model.json")
    assert stories.meta["trained_on"] == {"labelled": len(REPORTS)}
    assert stories.weights()["text"] > 0  # shared words are evidence of one event
    assert min(THRESHOLDS) <= stories.threshold <= max(THRESHOLDS)
    assert 0.2 <= lines.threshold <= 0.7
    assert "stories: threshold" in trained.render()


def test_training_on_a_folder_that_is_not_there_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "nope"), "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "index.tsv" in err[0]
    assert not list(tmp_path.glob("*.json"))
