"""Relevance measured honestly: the learned layer refitted without the event it predicts.

The labelled articles' texts are read as the real ingest stored them (the web path: served as
pages, fetched, extracted), turned into the learned layer's features, and predicted by leave one
event out: for each `event_cluster`, the model is fitted on every other event's articles and
predicts the held-out event's. An article
that names no Iraqi place or actor is not relevant by rule and is never fitted on. The same
examples train the shipped model (`monitor train`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from monitor.classify import Classifier, Example
from monitor.classify.fit import THRESHOLD, cross_validate
from monitor.evaluate.metrics import Outcome, RelevanceReport, relevance_report
from monitor.store import Store
from monitor.store import articles as stored

FEATURE_DIGITS = 6  # examples keep their feature values to this many decimals (as stored)


def example_id(prefix: str, item_id: str) -> str:
    """How a labelled folder's article is named among the examples: `<folder>/<id>`."""
    return f"{prefix}/{item_id}"


def labelled_examples(
    outcomes: Sequence[Outcome], db: Path, classifier: Classifier, prefix: str
) -> list[Example]:
    """The learned layer's examples of the stored labelled articles that name Iraq."""
    ids = [o.article_id for o in outcomes if o.article_id]
    with Store(db).read() as con:
        texts = stored.texts_of(con, ids)
    examples = []
    for o in outcomes:
        if o.article_id is None or o.article_id not in texts:
            continue
        vector = classifier.vector(*texts[o.article_id])
        if vector is None:
            continue
        examples.append(
            Example(
                example_id(prefix, o.item.id),
                f"{prefix}/{o.item.event_cluster}",
                int(o.item.on_topic),
                tuple(round(v, FEATURE_DIGITS) for v in vector),
            )
        )
    return examples


def cross_validated_report(
    outcomes: Sequence[Outcome], examples: Sequence[Example], prefix: str, version: str
) -> RelevanceReport:
    """Relevance of every outcome as leave-one-event-out predicts it (module doc)."""
    predicted = cross_validate(examples)
    judged = []
    for o in outcomes:
        p = predicted.get(example_id(prefix, o.item.id), 0.0)
        stored_page = o.article_id is not None
        judged.append(
            replace(o, relevant=stored_page and p >= THRESHOLD, relevance_score=round(p, 4))
        )
    return relevance_report(
        judged,
        how="grouped cross-validation: each event predicted by a model fitted on the others",
        version=f"{version}, refitted per held-out event",
    )
