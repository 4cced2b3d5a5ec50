"""`monitor eval`: labelled articles served as pages and ingested for real; the quality gates."""

from __future__ import annotations

import json
import pickle
from datetime import date
from pathlib import Path

import pytest
from filelock import FileLock

from monitor.errors import ConfigError
from monitor.evaluate import EvalReport, evaluate, read_eval_dir
from monitor.evaluate.grouping import grouping_report
from monitor.evaluate.labelled import LabelledArticle
from monitor.evaluate.metrics import Outcome, expected_topic, stance_report
from monitor.evaluate.site import feed_xml, page_html
from monitor.settings import Settings, load_settings

BASELINES = Path(__file__).resolve().parent / "baselines.json"
SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval"

ON_TOPIC = (
    "Iraqi parliament votes to expel US troops\n\n"
    "Iraq's parliament voted on Sunday to expel US troops from the country after a US strike in "
    "Baghdad killed an Iranian general. About 5,000 US troops are stationed in Iraq, and the "
    "resolution asks the government to end the presence of all foreign forces on Iraqi soil."
)
OFF_TOPIC = (
    "US to withdraw 12,000 troops from Germany\n\n"
    "The Pentagon said it would withdraw about 12,000 troops from Germany, moving some to other "
    "European countries and bringing others home, in a shake-up of its forces in Europe that "
    "officials in Berlin said they had not been consulted on."
)
ROCKETS = (
    "Rockets hit Ain al-Asad air base housing US troops\n\n"
    "Three rockets struck Ain al-Asad air base in western Iraq, which hosts US forces, on Monday. "
    "A coalition spokesman said the attack caused no casualties, and Iraqi security forces "
    "found the launch site in a field near the base."
)


def _write_eval(folder: Path, items: list[tuple[str, str, str, str, str]]) -> Path:
    """items: (id, label, event_cluster, stance, text) -> a folder like ../shared/data/eval."""
    (folder / "articles").mkdir(parents=True)
    rows = ["id\tlabel\tevent_cluster\turl\ttext_chars\tpublished\tstoryline\tstance"]
    for item_id, label, cluster, stance, text in items:
        url = f"https://news{item_id}.example.org/story/{item_id}"
        rows.append(f"{item_id}\t{label}\t{cluster}\t{url}\t{len(text)}\t2020-01-05\t\t{stance}")
        header = f"url: {url}\nlabel: {label}\nwhy: why-{item_id}\npublished: 2020-01-05\n\n"
        (folder / "articles" / f"{item_id}.txt").write_text(header + text, encoding="utf-8")
    (folder / "index.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return load_settings(db=tmp_path / "unused.duckdb")


def test_header_lines_never_reach_the_pipeline(tmp_path: Path) -> None:
    folder = _write_eval(tmp_path / "eval", [("001", "on-topic", "E01_vote", "", ON_TOPIC)])
    (item,) = read_eval_dir(folder)
    assert (item.label, item.why, item.published) == ("on-topic", "why-001", date(2020, 1, 5))
    assert item.body.startswith("Iraqi parliament votes")
    for dating in ("dated", "undated", "coarse"):
        page = page_html(item, dating=dating).decode()
        assert "label:" not in page and "why-001" not in page and "published:" not in page
        assert "<h1>Iraqi parliament votes to expel US troops</h1>" in page
        assert 'content="news001.example.org"' in page  # the outlet, from the original URL
    # Dated, the day is in the page metadata and the feed; undated, nowhere; coarse, the feed
    # gives the day of the run and the page nothing.
    dated = page_html(item, dating="dated").decode()
    assert 'article:published_time" content="2020-01-05"' in dated
    for dating in ("undated", "coarse"):
        assert "2020" not in page_html(item, dating=dating).decode().split("<article>")[0]
    assert b"<pubDate>Sun, 05 Jan 2020" in feed_xml([item], "http://h", dating="dated")
    assert b"pubDate" not in feed_xml([item], "http://h", dating="undated")
    coarse = feed_xml([item, item], "http://h", dating="coarse").decode()
    assert coarse.count("<pubDate>") == 2 and "2020" not in coarse


def test_a_folder_without_an_index_is_refused(tmp_path: Path, offline: Settings) -> None:
    with pytest.raises(ConfigError, match=r"index\.tsv"):
        evaluate(tmp_path, offline)


def test_the_web_path_reports_every_miss_and_each_run(tmp_path: Path, offline: Settings) -> None:
    folder = _write_eval(
        tmp_path / "eval",
        [
            ("001", "on-topic", "E01_2020-01-05_parliament_resolution", "for_withdrawal", ON_TOPIC),
            ("002", "off-topic", "X04_2020-07_germany_withdrawal", "", OFF_TOPIC),
            # Mislabelled on purpose: the classifier is right, so the label shows up as a miss.
            ("003", "off-topic", "E10_2021-07_ain_al_asad_rockets", "", ROCKETS),
            ("004", "on-topic", "E03_2024-01_HMC_talks_launch", "neutral", OFF_TOPIC),
        ],
    )
    report = evaluate(folder, offline, workdir=tmp_path / "work")
    rel = report.relevance
    counts = (rel.true_positives, rel.false_positives, rel.false_negatives, rel.true_negatives)
    assert counts == (1, 1, 1, 1)
    assert [(m.id, m.label) for m in rel.misses] == [("003", "off-topic"), ("004", "on-topic")]
    assert all(m.why.startswith("why-00") for m in rel.misses)
    text = report.render()
    assert "F1 0.500" in text
    assert "miss 003: false positive" in text and "miss 004: false negative" in text
    # Every page went through the real ingest, three times, each time into its own database.
    for run in (report.dated, report.undated, report.coarse):
        assert all(o.article_id is not None for o in run.outcomes)
    assert report.dated.dates.sources == {"metadata/meta": 4}
    assert not any(s.startswith("metadata") for s in report.undated.dates.sources)
    # A feed that stamps all its items with one time dates none of them: as if undated.
    assert report.coarse.dates.sources == report.undated.dates.sources
    for dating in ("dated", "undated", "coarse"):
        assert (tmp_path / "work" / f"{dating}.duckdb").is_file()
    # Topics are scored against the cluster names of on-topic articles.
    assert [(r.id, r.expected) for r in report.topics.results] == [
        ("001", "parliament_vote"),
        ("004", "negotiations"),
    ]
    assert "with the folder's dates" in text and "with no dates anywhere" in text
    assert "with every item dated the day of the run" in text
    assert set(report.figures()) >= {
        "stance_sided_right",
        "stance_sided_total",
        "relevance_f1",
        "relevance_cv_f1",
        "clustering_f1",
        "clustering_f1_undated",
    }
    # Cross-validated by event: each event predicted by a model fitted on the others' articles.
    cv = report.relevance_cv
    assert cv.total == 4 and "grouped cross-validation" in text
    assert "refitted per held-out event" in cv.render()


def _outcome(item_id: str, gold: str | None, got: str | None) -> Outcome:
    item = LabelledArticle(item_id, "on-topic", "E", "https://x.org", None, None, gold, "", "text")
    return Outcome(item, article_id=item_id, stance=got)


def test_stance_report_counts_confusion_swaps_and_macro_f1() -> None:
    report = stance_report(
        [
            _outcome("1", "for_withdrawal", "for_withdrawal"),
            _outcome("2", "for_withdrawal", "neutral"),
            _outcome("3", "against_withdrawal", "for_withdrawal"),  # a swap
            _outcome("4", "neutral", "neutral"),
            _outcome("5", "neutral", None),  # unclassified counts as neutral
            _outcome("6", None, "for_withdrawal"),  # no stance label: not scored
        ]
    )
    assert report.total == 5
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.swaps == 1
    assert report.confusion[("against_withdrawal", "for_withdrawal")] == 1
    # F1 per stance: for 0.5 (p 1/2, r 1/2), against 0 (p -, r 0), neutral 0.8 (p 2/3, r 1).
    assert report.macro_f1 == pytest.approx((0.5 + 0.0 + 0.8) / 3)
    # Three sided pieces (1, 2, 3): only 1 was given its side (2 fell to neutral, 3 was swapped).
    assert (report.sided_right, report.sided_total) == (1, 3)
    text = report.render()
    assert "miss 3: labelled against_withdrawal, predicted for_withdrawal" in text
    assert "sided pieces given their side: 1 of 3" in text


@pytest.mark.parametrize(
    ("cluster", "topic"),
    [
        ("E01_2020-01-05_parliament_resolution", "parliament_vote"),
        ("E03_2024-01_HMC_talks_launch", "negotiations"),
        ("E10_2021-07_ain_al_asad_rockets", "attack_on_us_forces"),
        ("E04_2024-09_plan_reported", "withdrawal_drawdown"),
        ("E06b_2021-12_combat_mission_ends", "withdrawal_drawdown"),
        ("X08_2021_iraq_water", None),
    ],
)
def test_event_cluster_names_imply_a_main_topic(cluster: str, topic: str | None) -> None:
    assert expected_topic(cluster) == topic


# -- the development folder's quality gates (tests/baselines.json) -----------------------------


@pytest.fixture(scope="module")
def development(tmp_path_factory: pytest.TempPathFactory) -> EvalReport:
    """The development folder's evaluation, run once for the whole session: it takes most of a
    minute, so the first pytest-xdist worker to ask runs it and the others read its result."""
    eval_dir = SHARED_EVAL
    if not (eval_dir / "index.tsv").is_file():
        pytest.skip(f"no labelled evaluation folder at {eval_dir}")
    shared = tmp_path_factory.getbasetemp().parent  # one folder for every worker of the session
    result = shared / "development-eval.pickle"
    with FileLock(str(shared / "development-eval.lock")):
        if result.is_file():
            report: EvalReport = pickle.loads(result.read_bytes())
            return report
        work = tmp_path_factory.mktemp("dev-eval")
        settings = Settings.model_validate({"storage": {"db": str(work / "unused.duckdb")}})
        report = evaluate(eval_dir, settings, workdir=work)
        result.write_bytes(pickle.dumps(report))
        return report


def _baselines() -> dict[str, float]:
    data: dict[str, float] = json.loads(BASELINES.read_text(encoding="utf-8"))
    return data


def test_development_relevance_meets_the_gate(development: EvalReport) -> None:
    gates = _baselines()
    report = development.relevance
    assert report.f1 >= gates["relevance_f1"], report.render()
    assert report.false_positives <= gates["relevance_false_positives_max"], report.render()


def test_development_relevance_holds_under_cross_validation_by_event(
    development: EvalReport,
) -> None:
    gates = _baselines()
    report = development.relevance_cv
    assert report.total == development.relevance.total
    assert report.f1 >= gates["relevance_cv_f1"], report.render()
    assert report.false_positives <= gates["relevance_cv_false_positives_max"], report.render()


def test_development_topics_stay_discriminative(development: EvalReport) -> None:
    gates = _baselines()
    report = development.topics
    assert report.results, "the development set has clusters with an expected topic"
    assert report.hit_rate >= gates["topic_hit_rate"], report.render()
    assert report.mean_topics <= gates["topics_per_article_max"], report.render()


def test_grouping_report_counts_pairs_bcubed_splits_and_merges() -> None:
    truth = {"a": "x", "b": "x", "c": "y", "d": "y"}
    report = grouping_report(
        "stories", "test", truth, [(set(truth), {"a": "1", "b": "2", "c": "2", "d": "2"})]
    )
    # True pairs ab, cd; put together bc, bd, cd; right: cd.
    assert (report.true_pairs, report.predicted_pairs, report.correct_pairs) == (2, 3, 1)
    assert report.precision == pytest.approx(1 / 3) and report.recall == pytest.approx(1 / 2)
    # BCubed per item (precision, recall): a (1, 1/2), b (1/3, 1/2), c and d (2/3, 1).
    assert report.bcubed_precision == pytest.approx((1 + 1 / 3 + 2 / 3 + 2 / 3) / 4)
    assert report.bcubed_recall == pytest.approx((1 / 2 + 1 / 2 + 1 + 1) / 4)
    assert report.splits == (("x", (("a",), ("b",))),)
    assert report.merges == (("x", "y", 2),)
    text = report.render()
    assert "split x: a | b" in text and "merged x + y (2 pairs)" in text
    # Cross-validated: a pair is judged by the run of its first held-out member.
    folds = grouping_report(
        "stories",
        "cv",
        truth,
        [
            ({"a", "b"}, {"a": "1", "b": "1", "c": "1", "d": "2"}),
            ({"c", "d"}, {"c": "3", "d": "3"}),
        ],
    )
    # ab right and ac, ad, bc, bd judged by the first run (ac, bc wrongly together); cd by the
    # second (right).
    assert (folds.true_pairs, folds.predicted_pairs, folds.correct_pairs) == (2, 4, 2)
    assert folds.splits == () and folds.merges == (("x", "y", 2),)


def test_development_stories_meet_the_gates_with_without_and_with_coarse_dates(
    development: EvalReport,
) -> None:
    """Stories cross-validated by event (the gates), and the in-sample figures of the shipped
    model, which the re-run reproduces exactly from what the ingest stored."""
    gates = _baselines()
    for run in (development.dated, development.undated, development.coarse):
        suffix = "" if run.dating == "dated" else f"_{run.dating}"
        cv = development.stories[f"{run.dating}:cv"]
        assert cv.f1 >= gates[f"story_f1_cv{suffix}"], cv.render()
        assert cv.bcubed_f1 >= gates[f"story_bcubed_f1_cv{suffix}"], cv.render()
        in_sample = development.stories[f"{run.dating}:in-sample"]
        assert in_sample.f1 == pytest.approx(run.stories.f1), (in_sample.render(), run.render())
        assert run.stories.cross_group_near_links == 0, run.render()
    # Dated pages all keep the day they carry.
    dates = development.dated.dates
    assert dates.right_day == dates.known and dates.known >= 90, dates.render()


def test_development_stance_meets_the_gate(development: EvalReport) -> None:
    gates = _baselines()
    report = development.stance
    assert report.accuracy >= gates["stance_accuracy"], report.render()
    assert report.macro_f1 >= gates["stance_macro_f1"], report.render()
    assert report.swaps == 0, report.render()
    # Opinion pieces that argue a side get it (the floor: 14 of the folder's 18).
    assert report.sided_total == len(
        [
            i
            for i in read_eval_dir(SHARED_EVAL)
            if i.stance in ("for_withdrawal", "against_withdrawal")
        ]
    )
    assert report.sided_right >= gates["stance_sided_right"], report.render()
    figures = development.figures()
    assert figures["stance_sided_right"] == report.sided_right
    assert figures["stance_sided_total"] == report.sided_total


def test_development_storylines_meet_the_gate(development: EvalReport) -> None:
    """Storylines against the folder's storyline column, pairwise over on-topic articles,
    cross-validated by storyline (the gates); the in-sample re-run is what the ingest did."""
    gates = _baselines()
    on_topic = [i for i in read_eval_dir(SHARED_EVAL) if i.on_topic and i.storyline]
    for run in (development.dated, development.undated):
        suffix = "" if run.dating == "dated" else f"_{run.dating}"
        assert run.storylines.items == len(on_topic), run.storylines.render()
        assert run.storylines.groups == len({i.storyline for i in on_topic})
        cv = development.storylines[f"{run.dating}:cv"]
        assert cv.items == len(on_topic) and "8 folds by storyline" in cv.how
        assert cv.f1 >= gates[f"storyline_f1_cv{suffix}"], cv.render()
        in_sample = development.storylines[f"{run.dating}:in-sample"]
        assert in_sample.f1 == pytest.approx(run.storylines.f1), in_sample.render()


# -- several folders together ----------------------------------------------------------------


def test_two_folders_are_read_under_their_names_and_must_differ(tmp_path: Path) -> None:
    from monitor.evaluate.folders import folder_of, read_folders

    en = _write_eval(tmp_path / "en", [("001", "on-topic", "E1", "", ON_TOPIC)])
    ar = _write_eval(tmp_path / "ar", [("001", "on-topic", "E1", "", ON_TOPIC)])
    items = read_folders([en, ar])
    assert [i.id for i in items] == ["en/001", "ar/001"]
    assert [folder_of(i.id) for i in items] == ["en", "ar"]
    with pytest.raises(ConfigError, match="share a name"):
        read_folders([en, en])


def test_pairs_across_folders_count_joins_and_false_links() -> None:
    from monitor.evaluate.folders import story_cross

    def item(item_id: str, cluster: str) -> LabelledArticle:
        return LabelledArticle(item_id, "on-topic", cluster, "u", None, None, None, "", "t")

    outcomes = [
        Outcome(item("en/1", "E1"), article_id="a", story_id="s1"),
        Outcome(item("en/2", "E1"), article_id="b", story_id="s1"),  # same folder: not counted
        Outcome(item("ar/1", "E1"), article_id="c", story_id="s1"),  # joins both: 2 pairs
        Outcome(item("ar/2", "E1"), article_id="d", story_id="s9"),  # misses both: 2 pairs
        Outcome(item("ar/3", "E2"), article_id="e", story_id="s1"),  # false link with en/1, en/2
    ]
    report = story_cross(outcomes)
    assert (report.labelled_pairs, report.joined_pairs) == (4, 2)
    assert (report.linked_pairs, report.false_links) == (4, 2)
    assert report.recall == 0.5 and report.precision == 0.5
