"""Analysts' labels: `monitor label ARTICLE_ID relevant|irrelevant [--stance S] [--note T]` and
`monitor label --from FILE.csv`.

A label is an analyst's verdict on a stored article. It wins over the classifier: the public
`articles` view shows the label's `relevant` (and its `stance`, when it gives one) with
`decided_by = 'analyst'`, while `core.classifications` keeps the classifier's own call and its
evidence. Labels live in `core.labels`, which reclassifying never touches, so a label survives
`monitor reclassify` and schema migrations. An article labelled relevant is classified again on
the spot with that in mind, so it gets topics and a stance even where the model said no.

Labels teach the classifier too: `monitor train` adds every labelled article to the examples
the learned layer is fitted on (monitor/training.py).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor import classify, publish
from monitor.errors import LabelError
from monitor.models import Label, Stance
from monitor.settings import Settings
from monitor.store import Store, utcnow
from monitor.store import articles as stored
from monitor.store import labels as label_store

log = logging.getLogger(__name__)

VERDICTS = {
    "relevant": True,
    "irrelevant": False,
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
}
STANCES: tuple[Stance, ...] = ("for_withdrawal", "against_withdrawal", "neutral")
CSV_COLUMNS = ("article_id", "relevant", "stance", "note")


def make_label(
    article_id: str, verdict: str | bool, stance: str | None = None, note: str | None = None
) -> Label:
    """A label from what an analyst typed; LabelError names what is wrong.

    `note` None keeps the article's earlier note, if it has one; an empty note clears it.
    """
    article_id = article_id.strip()
    if not article_id:
        raise LabelError("a label needs an article_id")
    if isinstance(verdict, bool):
        relevant = verdict
    else:
        key = verdict.strip().lower()
        if key not in VERDICTS:
            raise LabelError(
                f"{article_id}: relevant must be relevant or irrelevant (or true/false), "
                f"not {verdict!r}"
            )
        relevant = VERDICTS[key]
    chosen: Stance | None = None
    if stance is not None and stance.strip():
        value = stance.strip()
        if value not in STANCES:
            raise LabelError(f"{article_id}: stance must be one of {', '.join(STANCES)}")
        chosen = value
    if not relevant and chosen not in (None, "neutral"):
        raise LabelError(f"{article_id}: an irrelevant article has no stance (it is neutral)")
    return Label(article_id, relevant, chosen, None if note is None else note.strip())


def read_label_csv(path: Path) -> list[Label]:
    """The labels of a CSV file with columns article_id, relevant, stance, note (a header row;
    stance and note may be empty or missing). One label per article."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: cannot read: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = {"article_id", "relevant"} - set(reader.fieldnames or ())
    if missing:
        raise LabelError(f"{path}: needs the columns {', '.join(CSV_COLUMNS)}")
    labels: list[Label] = []
    line_of: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            label = make_label(
                row.get("article_id") or "",
                row.get("relevant") or "",
                row.get("stance"),
                row.get("note") or None,  # an empty cell keeps the earlier note
            )
        except LabelError as exc:
            raise LabelError(f"{path} line {line}: {exc}") from None
        if label.article_id in line_of:
            raise LabelError(
                f"{path}: article {label.article_id} is labelled twice "
                f"(lines {line_of[label.article_id]} and {line})"
            )
        line_of[label.article_id] = line
        labels.append(label)
    if not labels:
        raise LabelError(f"{path}: no labels")
    return labels


@dataclass(frozen=True)
class LabelResult:
    """What applying labels did."""

    labelled: int
    relevant: int
    reclassified: int


def apply_labels(store: Store, settings: Settings, labels: Sequence[Label]) -> LabelResult:
    """Store the labels and classify the labelled articles again, in one transaction.

    Every article must be stored already (LabelError lists the unknown ids; nothing is
    written then). The classification keeps the classifier's own call; an article labelled
    relevant gets topics and a stance whatever the model says.
    """
    ids = [lab.article_id for lab in labels]
    with store.read() as con:
        known = label_store.stored_ids(con, ids)
        texts = stored.texts_of(con, ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise LabelError(
            f"no stored article with id {shown} "
            '(monitor sql "SELECT article_id, title FROM articles" lists them)'
        )
    classifier = classify.Classifier.configured(settings)
    relevant = {lab.article_id for lab in labels if lab.relevant}
    results = [
        classifier.classify(i, title, text, labelled_relevant=i in relevant)
        for i, (title, text) in texts.items()
    ]
    now = utcnow()
    with store.write() as con:
        label_store.save(con, labels, now)
        stored.write_classifications(con, results, now)
    log.info("stored %d label(s), %d relevant", len(labels), len(relevant))
    publish.after_label(store, settings)
    return LabelResult(len(labels), len(relevant), len(results))
