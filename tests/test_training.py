"""The learned layer: its stored form, its fit, and retraining on analysts' labels."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.classify import (
    FEATURES,
    Classifier,
    classify,
    load_model,
    load_taxonomy,
    parse_model,
)
from monitor.classify.fit import C, cross_validate, fit
from monitor.errors import ConfigError
from monitor.evaluate import read_eval_dir
from monitor.labelling import apply_labels
from monitor.models import Label
from monitor.pipeline import reclassify, run_ingest
from monitor.settings import ClassifySettings, SeedSettings, Settings, StorageSettings
from monitor.store import Store
from monitor.training import train

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def test_the_packaged_model_is_what_training_on_its_examples_writes() -> None:
    packaged = load_model()
    assert packaged.features == FEATURES
    # Trained with the packaged taxonomy: a taxonomy edit without retraining fails here.
    assert packaged.meta["taxonomy"] == load_taxonomy().digest
    refit = fit(packaged.examples, packaged.meta["C"], meta=packaged.meta)
    assert refit.digest == packaged.digest
    assert parse_model(refit.to_json(), "refit").to_json() == refit.to_json()
    # Trained on both labelled folders: English and Arabic.
    assert {e.group.split("/")[0] for e in packaged.examples} == {"eval", "eval-ar"}


def test_the_fingerprint_names_what_decides_a_prediction() -> None:
    model = load_model()
    text = model.to_json()
    data = json.loads(text)
    data["meta"]["note"] = "re-dated copy"
    assert parse_model(json.dumps(data)).digest == model.digest
    data["coef"][0] += 0.01
    assert parse_model(json.dumps(data)).digest != model.digest
    for key, value, message in [
        ("format", "pickle", "'format'"),
        ("features", ["a", "b"], "'features' must be"),
        ("scale", [0.0] * len(FEATURES), "positive"),
        ("threshold", 2, "within 0-1"),
    ]:
        bad = json.loads(text)
        bad[key] = value
        with pytest.raises(ConfigError, match=message):
            parse_model(json.dumps(bad), "bad.json")


def test_the_model_scores_in_pure_python_with_every_contribution_in_the_evidence() -> None:
    result = classify(
        "x",
        "US to cut troops in Iraq",
        "The US has announced that it will withdraw more than a third of its troops from Iraq. "
        "The reduction, from about 5,200 to 3,000, will take place over the coming weeks.",
    )
    relevance = result.evidence["relevance"]
    assert isinstance(relevance, dict)
    model = load_model()
    features = relevance["features"]
    assert list(features) == list(FEATURES)
    logit = model.intercept + sum(relevance["contributions"].values())
    assert result.relevance_score == pytest.approx(1 / (1 + 2.718281828459045**-logit), abs=2e-4)
    assert result.relevance_score == relevance["probability"]
    assert result.relevant and relevance["model"] == model.digest


def test_the_fit_is_scikit_learns_logistic_regression() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    np = pytest.importorskip("numpy")
    examples = load_model().examples
    x = np.array([e.x for e in examples])
    y = np.array([e.y for e in examples])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    reference = sklearn.LogisticRegression(C=C, class_weight="balanced", tol=1e-10, max_iter=10_000)
    reference.fit((x - mean) / scale, y)
    ours = fit(examples, C)
    assert np.allclose(ours.coef, reference.coef_[0], atol=1e-4)
    assert ours.intercept == pytest.approx(reference.intercept_[0], abs=1e-4)


def test_cross_validation_never_fits_on_the_event_it_predicts() -> None:
    examples = load_model().examples
    group = examples[0].group
    predicted = cross_validate(examples)
    without = fit([e for e in examples if e.group != group], C)
    held = [e for e in examples if e.group == group]
    assert all(predicted[e.id] == pytest.approx(without.probability(e.x)) for e in held)
    assert set(predicted) == {e.id for e in examples}


@pytest.fixture
def ingested(tmp_path: Path) -> Settings:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    settings = Settings(
        storage=StorageSettings(db=tmp_path / "monitor.duckdb"), seeds=SeedSettings(dirs=[seeds])
    )
    run_ingest(settings, fetch=False)
    return settings


def test_retraining_with_one_added_label_moves_that_articles_score(
    ingested: Settings, tmp_path: Path
) -> None:
    store = Store(ingested.storage.db)
    ((article_id, title, text, before),) = store.query(
        "SELECT a.article_id, a.title, a.text, c.relevance_score FROM core.articles a "
        "JOIN core.classifications c USING (article_id) WHERE a.url LIKE 'seed:004%'"
    )
    apply_labels(store, ingested, [Label(article_id, relevant=False, note="teach it")])
    out = tmp_path / "model.json"
    report = train(ingested, out=out)
    retrained = load_model(out)
    packaged = len(load_model().examples)
    assert report.sources == {"the packaged examples": packaged, "analyst labels": 1}
    assert f"label/{article_id}" in {e.id for e in retrained.examples}
    assert retrained.digest != load_model().digest
    taxonomy = load_taxonomy()
    after = Classifier(taxonomy, retrained).classify(article_id, title, text).relevance_score
    assert after < before, (before, after)
    assert "wrote" in report.render() and "leave-one-event-out" in report.render()


def test_a_configured_model_is_used_and_reclassify_picks_it_up(
    ingested: Settings, tmp_path: Path
) -> None:
    packaged = load_model()
    other = replace(fit(packaged.examples, 0.1, meta=packaged.meta), source="test")
    path = tmp_path / "model.json"
    path.write_text(other.to_json(), encoding="utf-8")
    store = Store(ingested.storage.db)
    assert reclassify(store, ingested, only_outdated=True) == 0
    configured = ingested.model_copy(update={"classify": ClassifySettings(model=path)})
    assert Classifier.configured(configured).version.endswith(f"+rel.{other.digest}")
    assert reclassify(store, configured, only_outdated=True) == 5
    versions = store.query("SELECT DISTINCT version FROM core.classifications")
    assert versions == [(Classifier.configured(configured).version,)]
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "missing.json")


def test_training_needs_somewhere_to_learn_from(ingested: Settings, tmp_path: Path) -> None:
    edited = tmp_path / "taxonomy.toml"
    packaged_text = (SEEDS.parent / "monitor" / "classify" / "taxonomy.toml").read_text("utf-8")
    edited.write_text(packaged_text.replace("saturation = 1.4", "saturation = 1.5"), "utf-8")
    settings = ingested.model_copy(update={"classify": ClassifySettings(taxonomy=edited)})
    with pytest.raises(ConfigError, match="pass --data DIR"):
        train(settings, out=tmp_path / "model.json")


def test_training_on_a_labelled_folder_goes_through_the_web_path(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(storage=StorageSettings(db=tmp_path / "none.duckdb"))
    report = train(settings, out=tmp_path / "model.json", data=[shared_data / "eval"])
    items = read_eval_dir(shared_data / "eval")
    ids = {e.id for e in report.model.examples}
    # Every example is one of the folder's articles, named by folder and id, labelled as the
    # folder labels it; the folder may grow, so nothing pins the model to today's rows.
    assert ids and ids <= {f"eval/{i.id}" for i in items}
    on_topic = {f"eval/{i.id}" for i in items if i.on_topic}
    assert {e.id for e in report.model.examples if e.y == 1} == ids & on_topic
    # The same examples give the same model (canonical JSON, fixed C): retraining is repeatable.
    again = fit(list(report.model.examples), C)
    assert again.digest == report.model.digest
