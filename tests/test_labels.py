"""Analysts' labels: they win over the classifier, survive reclassifying, and come in bulk."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from monitor.digest import SCHEMA_VERSION, build_digest, render_digest
from monitor.errors import LabelError
from monitor.labelling import apply_labels, make_label, read_label_csv
from monitor.models import Label
from monitor.pipeline import reclassify, run_ingest
from monitor.settings import SeedSettings, Settings, StorageSettings
from monitor.store import Store

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

GERMANY = (
    "US to withdraw 12,000 troops from Germany\n\n"
    "The Pentagon said it would withdraw about 12,000 troops from Germany, moving some to other "
    "European countries and bringing others home, in a shake-up of its forces in Europe that "
    "officials in Berlin said they had not been consulted on. Some of the units had served in "
    "Iraq and Afghanistan before.\n"
)


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[Settings, Store]:
    """The five seeds (all relevant) and an off-topic article, ingested into a fresh file."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "900_germany.txt").write_text(GERMANY, encoding="utf-8")
    settings = Settings(
        storage=StorageSettings(db=tmp_path / "monitor.duckdb"), seeds=SeedSettings(dirs=[seeds])
    )
    run_ingest(settings, fetch=False)
    return settings, Store(settings.storage.db)


def _row(store: Store, article_id: str) -> tuple[object, ...]:
    (row,) = store.query(
        "SELECT relevant, stance, topics, decided_by, classifier_relevant, classifier_stance "
        "FROM articles WHERE article_id = ?",
        [article_id],
    )
    return row


def _id(store: Store, url_like: str) -> str:
    ((article_id,),) = store.query("SELECT article_id FROM articles WHERE url LIKE ?", [url_like])
    return str(article_id)


def test_a_label_wins_over_the_classifier_and_survives_reclassify(
    ingested: tuple[Settings, Store],
) -> None:
    settings, store = ingested
    vote = _id(store, "seed:004%")
    germany = _id(store, "seed:900%")
    assert _row(store, vote)[0] is True and _row(store, vote)[3] == "classifier"
    assert _row(store, germany)[0] is False and _row(store, germany)[2] == []

    apply_labels(
        store,
        settings,
        [
            Label(vote, relevant=False, note="a test says so"),
            Label(germany, relevant=True, stance="against_withdrawal"),
        ],
    )
    for _ in range(2):  # as labelled, and after reclassifying the whole archive
        relevant, stance, topics, decided_by, model_relevant, _ = _row(store, vote)
        assert (relevant, stance, topics, decided_by) == (False, "neutral", [], "analyst")
        assert model_relevant is True  # the classifier's own call is kept, next to the label
        relevant, stance, topics, decided_by, model_relevant, _ = _row(store, germany)
        assert (relevant, stance, decided_by, model_relevant) == (
            True,
            "against_withdrawal",
            "analyst",
            False,
        )
        assert topics, "an article labelled relevant gets topics even where the model says no"
        assert reclassify(store, settings) == 6
    stored = store.query("SELECT article_id, relevant, stance, note FROM labels ORDER BY 1")
    assert stored == sorted(
        [(vote, False, None, "a test says so"), (germany, True, "against_withdrawal", None)]
    )
    # A migration run (as every ingest starts with) leaves the labels alone.
    store.migrate()
    run_ingest(settings, fetch=False)
    assert _row(store, vote)[:4] == (False, "neutral", [], "analyst")


def test_a_new_label_replaces_the_old_one(ingested: tuple[Settings, Store]) -> None:
    settings, store = ingested
    vote = _id(store, "seed:004%")
    apply_labels(store, settings, [Label(vote, relevant=False)])
    apply_labels(store, settings, [Label(vote, relevant=True, stance="for_withdrawal")])
    assert store.query("SELECT relevant, stance FROM labels") == [(True, "for_withdrawal")]
    assert _row(store, vote)[:2] == (True, "for_withdrawal")


def test_labelling_again_keeps_the_note_and_stance_it_does_not_give(
    ingested: tuple[Settings, Store],
) -> None:
    settings, store = ingested
    vote = _id(store, "seed:004%")

    def stored() -> list[tuple[object, ...]]:
        return store.query("SELECT relevant, stance, note FROM labels")

    apply_labels(store, settings, [make_label(vote, "relevant", "for_withdrawal", "the vote")])
    apply_labels(store, settings, [make_label(vote, "relevant")])
    assert stored() == [(True, "for_withdrawal", "the vote")]
    apply_labels(store, settings, [make_label(vote, "relevant", None, "a second look")])
    assert stored() == [(True, "for_withdrawal", "a second look")]
    apply_labels(store, settings, [make_label(vote, "relevant", "neutral")])
    assert stored() == [(True, "neutral", "a second look")]
    # Another verdict: the stance does not carry over; the note does.
    apply_labels(store, settings, [make_label(vote, "irrelevant")])
    assert stored() == [(False, None, "a second look")]
    apply_labels(store, settings, [make_label(vote, "irrelevant", None, "  ")])  # cleared
    assert stored() == [(False, None, None)]


def test_labels_of_unknown_articles_are_refused_and_nothing_is_written(
    ingested: tuple[Settings, Store],
) -> None:
    settings, store = ingested
    vote = _id(store, "seed:004%")
    with pytest.raises(LabelError, match="no stored article with id nope"):
        apply_labels(store, settings, [Label(vote, relevant=False), Label("nope", relevant=True)])
    assert store.query("SELECT count(*) FROM labels") == [(0,)]


def test_a_label_csv_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "article_id,relevant,stance,note\n"
        "a1,relevant,for_withdrawal,op-ed\n"
        "a2,irrelevant,,NATO's mission\n"
        "a3,true,,\n",
        encoding="utf-8",
    )
    assert read_label_csv(path) == [
        Label("a1", True, "for_withdrawal", "op-ed"),
        Label("a2", False, None, "NATO's mission"),
        Label("a3", True, None, None),
    ]
    path.write_text("article_id,relevant\na1,relevant\na1,irrelevant\n", encoding="utf-8")
    with pytest.raises(LabelError, match="a1 is labelled twice"):
        read_label_csv(path)
    path.write_text("article_id,relevant\na1,maybe\n", encoding="utf-8")
    with pytest.raises(LabelError, match="line 2"):
        read_label_csv(path)
    path.write_text("id,label\na1,relevant\n", encoding="utf-8")
    with pytest.raises(LabelError, match="needs the columns"):
        read_label_csv(path)


@pytest.mark.parametrize(
    ("verdict", "stance", "message"),
    [
        ("maybe", None, "relevant must be"),
        ("relevant", "pro", "stance must be one of"),
        ("irrelevant", "for_withdrawal", "an irrelevant article has no stance"),
    ],
)
def test_bad_labels_are_named(verdict: str, stance: str | None, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        make_label("a1", verdict, stance)


def test_labels_show_in_the_digest(ingested: tuple[Settings, Store]) -> None:
    settings, store = ingested
    vote = _id(store, "seed:004%")
    germany = _id(store, "seed:900%")
    apply_labels(
        store,
        settings,
        [Label(vote, relevant=False), Label(germany, relevant=True, stance="neutral")],
    )
    digest = build_digest(store, since=None)
    assert digest.overview.labelled_articles == 2
    reports = {r.article_id: r for s in digest.stories for r in s.all_reports()}
    assert reports[germany].labelled and reports[germany].relevant is True
    assert not any(r.labelled for i, r in reports.items() if i not in (vote, germany))
    markdown = render_digest(digest, "md")
    assert "**2** labelled by an analyst" in markdown
    assert "*(labelled by an analyst: relevant, neutral)*" in markdown
    data = json.loads(render_digest(digest, "json"))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["overview"]["labelled_articles"] == 2
    labelled = {a["article_id"]: a["labelled"] for st in data["stories"] for a in st["articles"]}
    assert labelled[germany] is True
    assert "labelled by an analyst: relevant, neutral" in render_digest(digest, "html")
    rows = list(csv.DictReader(io.StringIO(render_digest(digest, "csv"))))
    assert {r["article_id"] for r in rows if r["labelled"] == "true"} == {vote, germany}


# -- the command line --------------------------------------------------------------------------


def test_label_and_train_from_the_command_line(tmp_path: Path) -> None:
    from tests.test_cli import monitor

    (tmp_path / "seeds").symlink_to(SEEDS)
    assert monitor("run", "--no-fetch", cwd=tmp_path).returncode == 0
    listed = monitor(
        "sql", "SELECT article_id, url FROM articles ORDER BY url", "--format", "json", cwd=tmp_path
    )
    ids = [row["article_id"] for row in json.loads(listed.stdout)]

    one = monitor("label", ids[4], "irrelevant", "--note", "not about the troops", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert "Labelled 1 article(s) (0 relevant)" in one.stdout
    bulk = tmp_path / "labels.csv"
    bulk.write_text(
        f"article_id,relevant,stance,note\n{ids[0]},relevant,against_withdrawal,\n"
        f"{ids[1]},relevant,,\n",
        encoding="utf-8",
    )
    many = monitor("label", "--from", str(bulk), cwd=tmp_path)
    assert many.returncode == 0, many.stderr
    assert "Labelled 2 article(s) (2 relevant)" in many.stdout
    shown = monitor(
        "sql",
        "SELECT a.article_id, a.relevant, a.stance, a.decided_by, l.note FROM articles a "
        "JOIN labels l USING (article_id) ORDER BY a.url",
        "--format",
        "json",
        cwd=tmp_path,
    )
    rows = {r["article_id"]: r for r in json.loads(shown.stdout)}
    assert rows[ids[4]]["relevant"] is False and rows[ids[4]]["note"] == "not about the troops"
    assert rows[ids[0]]["stance"] == "against_withdrawal"
    assert {r["decided_by"] for r in rows.values()} == {"analyst"}

    # Labelling again without --note keeps the note; --note "" clears it.
    again = monitor("label", ids[4], "irrelevant", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    note = ["sql", f"SELECT note FROM labels WHERE article_id = '{ids[4]}'", "--format", "csv"]
    assert monitor(*note, cwd=tmp_path).stdout.splitlines()[1] == "not about the troops"
    cleared = monitor("label", ids[4], "irrelevant", "--note", "", cwd=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    assert list(csv.reader(io.StringIO(monitor(*note, cwd=tmp_path).stdout)))[1:] == [[""]]

    bad = monitor("label", "0000000000000000", "relevant", cwd=tmp_path)
    assert bad.returncode == 2 and "no stored article with id 0000000000000000" in bad.stderr
    nowhere = monitor("train", cwd=tmp_path)
    assert nowhere.returncode == 2 and "classify.model" in nowhere.stderr

    (tmp_path / "monitor.toml").write_text('[classify]\nmodel = "models/relevance.json"\n', "utf-8")
    trained = monitor("train", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "3 from analyst labels" in trained.stdout
    assert "The classifier uses it now" in trained.stdout
    assert (tmp_path / "models" / "relevance.json").is_file()
    again = monitor("reclassify", "--only-outdated", cwd=tmp_path)
    assert again.returncode == 0 and "Reclassified 5 article(s)" in again.stdout
    for done in (one, many, trained, again):
        assert "Traceback" not in done.stderr and "nanobind" not in done.stderr
