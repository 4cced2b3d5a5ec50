"""`monitor train`: refit the learned layer of relevance on labelled folders and analysts' labels.

The examples are the learned layer's features of labelled articles (`classify.Example`: feature
values, label, event group; never a text):

* labelled folders laid out like `../shared/data/eval` (`--data DIR`), read as the real ingest
  reads them: served as pages and ingested into a scratch database (the web path, as `monitor
  eval` does), each article's features computed from what was stored. Without `--data`, the
  examples the packaged model was trained on (stored in it) are used, as long as the taxonomy is
  the one they were computed with;
* every analyst label in the database (`monitor label`), its features computed from the stored
  text, its story as its event group.

The model is fitted on all examples (C fixed: classify/fit.py) and written as canonical JSON
where `[classify] model` (or `--out`) says. The leave-one-event-out figures of the
same examples are printed and kept in the file's `meta`. Nothing here needs scikit-learn.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.classify import (
    CODE_VERSION,
    Classifier,
    Example,
    RelevanceModel,
    load_model,
    load_taxonomy,
)
from monitor.classify.fit import THRESHOLD, C, cross_validate, fit
from monitor.classify.relevance import FEATURE_HELP
from monitor.errors import ConfigError
from monitor.evaluate import ingest_labelled, read_eval_dir
from monitor.evaluate.crossval import FEATURE_DIGITS, labelled_examples
from monitor.settings import Settings
from monitor.store import Store
from monitor.store import labels as label_store

log = logging.getLogger(__name__)

ANALYST = "label"  # example ids of analyst labels: label/<article_id>


def _features_only(settings: Settings) -> Classifier:
    """A classifier for computing features: the configured taxonomy (the features depend on
    it), any model (they do not; the configured one may not exist before its first training)."""
    return Classifier(load_taxonomy(settings.classify.taxonomy), load_model())


def folder_examples(eval_dir: Path, settings: Settings, workdir: Path) -> list[Example]:
    """The examples of a labelled folder, through the web path (module doc)."""
    items = read_eval_dir(eval_dir)
    scratch = settings.model_copy(
        update={"classify": settings.classify.model_copy(update={"model": None})}
    )
    outcomes = ingest_labelled(items, scratch, workdir, dating="dated")
    return labelled_examples(
        outcomes, workdir / "dated.duckdb", _features_only(settings), eval_dir.resolve().name
    )


def analyst_examples(store: Store, classifier: Classifier) -> list[Example]:
    """The examples of every analyst label in the database (those whose text names Iraq)."""
    with store.read() as con:
        rows = label_store.labelled_texts(con)
    out = []
    for row in rows:
        vector = classifier.vector(row.title, row.text)
        if vector is None:
            continue
        group = f"story:{row.story_id}" if row.story_id else f"article:{row.article_id}"
        out.append(
            Example(
                f"{ANALYST}/{row.article_id}",
                group,
                int(row.relevant),
                tuple(round(v, FEATURE_DIGITS) for v in vector),
            )
        )
    return out


def packaged_examples(classifier: Classifier) -> list[Example]:
    """The examples the packaged model was trained on, if they fit this taxonomy."""
    packaged = load_model()
    trained_with = str(packaged.meta.get("taxonomy", ""))
    if trained_with != classifier.taxonomy.digest:
        raise ConfigError(
            f"the packaged training examples were computed with taxonomy {trained_with}, "
            f"this taxonomy is {classifier.taxonomy.digest}: pass --data DIR (a labelled "
            "folder like ../shared/data/eval) to compute them again"
        )
    return [e for e in packaged.examples if not e.id.startswith(ANALYST + "/")]


@dataclass(frozen=True)
class CrossValidation:
    """Leave-one-event-out figures of a training set."""

    precision: float
    recall: float
    f1: float
    misses: tuple[tuple[str, int, float], ...]  # example id, label, probability


def _cross_validation(examples: Sequence[Example]) -> CrossValidation:
    predicted = cross_validate(examples)
    tp = fp = fn = 0
    misses = []
    for e in examples:
        p = predicted[e.id]
        marked = p >= THRESHOLD
        tp += marked and e.y == 1
        fp += marked and e.y == 0
        fn += not marked and e.y == 1
        if marked != bool(e.y):
            misses.append((e.id, e.y, round(p, 3)))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return CrossValidation(precision, recall, f1, tuple(misses))


@dataclass(frozen=True)
class TrainReport:
    """What `monitor train` did."""

    model: RelevanceModel
    out: Path
    sources: dict[str, int]
    cv: CrossValidation

    def render(self) -> str:
        """A few lines for the terminal."""
        c = self.model.meta["C"]
        lines = [
            "trained on "
            + ", ".join(f"{n} from {where}" for where, n in self.sources.items())
            + f" ({len(self.model.examples)} examples, "
            f"{sum(e.y for e in self.model.examples)} on-topic); C = {c}",
            f"  leave-one-event-out: precision {self.cv.precision:.3f}  recall "
            f"{self.cv.recall:.3f}  F1 {self.cv.f1:.3f}",
        ]
        for example_id, y, p in self.cv.misses:
            kind = "false negative" if y else "false positive"
            lines.append(f"  miss {example_id}: {kind} (p {p:.3f})")
        lines.append(f"wrote {self.out} (model {self.model.digest})")
        return "\n".join(lines)


def train(
    settings: Settings,
    *,
    out: Path,
    data: Sequence[Path] = (),
    analyst_labels: bool = True,
) -> TrainReport:
    """Refit the learned layer (module doc) and write it to `out`."""
    classifier = _features_only(settings)
    examples: list[Example] = []
    sources: dict[str, int] = {}
    if data:
        for folder in data:
            with tempfile.TemporaryDirectory(prefix="monitor-train-") as tmp:
                found = folder_examples(folder, settings, Path(tmp))
            sources[folder.resolve().name] = len(found)
            examples += found
    else:
        found = packaged_examples(classifier)
        sources["the packaged examples"] = len(found)
        examples += found
    if analyst_labels and settings.storage.db.exists():
        store = Store.existing(settings.storage)
        found = analyst_examples(store, classifier)
        sources["analyst labels"] = len(found)
        examples += found
    if len({e.y for e in examples}) < 2:
        raise ConfigError("training needs on-topic and off-topic examples")
    cv = _cross_validation(examples)
    meta = {
        "C": C,
        "class_weight": "balanced",
        "code": CODE_VERSION,
        "taxonomy": classifier.taxonomy.digest,
        "trained_on": sources,
        "on_topic": sum(e.y for e in examples),
        "leave_one_event_out": {
            "precision": round(cv.precision, 4),
            "recall": round(cv.recall, 4),
            "f1": round(cv.f1, 4),
            "misses": [m[0] for m in cv.misses],
        },
        "feature_help": FEATURE_HELP,
    }
    model = fit(examples, C, meta=meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(model.to_json(), encoding="utf-8")
    log.info("wrote relevance model %s to %s", model.digest, out)
    return TrainReport(load_model(out), out, sources, cv)
