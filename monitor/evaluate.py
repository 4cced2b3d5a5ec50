"""Relevance evaluation on a labelled folder laid out like ../shared/data/eval.

The folder holds `index.tsv` (id, label on-topic/off-topic, event_cluster, url, ...) and
`articles/<id>.txt`, each starting with `url:`, `label:` and `why:` header lines. The header is
stripped before classifying, so the label never reaches the classifier; the text then goes through
the same general cleaning as seed files.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from monitor.classify import Taxonomy, classify, load_taxonomy
from monitor.errors import ConfigError
from monitor.seeds import clean_text

log = logging.getLogger(__name__)

ON_TOPIC = "on-topic"
_HEADER_KEYS = ("url:", "label:", "why:")


@dataclass(frozen=True)
class LabelledArticle:
    """One labelled article of an evaluation folder, header stripped."""

    id: str
    label: str
    event_cluster: str
    url: str
    why: str
    title: str | None
    text: str


@dataclass(frozen=True)
class Miss:
    """An article the classifier got wrong."""

    id: str
    label: str
    score: float
    why: str
    title: str | None


@dataclass(frozen=True)
class RelevanceReport:
    """Relevance precision, recall and F1 on a labelled folder, with every miss."""

    total: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    threshold: float
    version: str
    misses: tuple[Miss, ...]
    scores: tuple[tuple[str, str, float], ...]

    @property
    def precision(self) -> float:
        """Share of articles marked relevant that are on-topic."""
        marked = self.true_positives + self.false_positives
        return self.true_positives / marked if marked else 1.0

    @property
    def recall(self) -> float:
        """Share of on-topic articles marked relevant."""
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def render(self) -> str:
        """A plain-text report: the figures, then one line per miss."""
        lines = [
            f"relevance on {self.total} articles (classifier {self.version}, "
            f"threshold {self.threshold:g})",
            f"  precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}  "
            f"(TP {self.true_positives}, FP {self.false_positives}, "
            f"FN {self.false_negatives}, TN {self.true_negatives})",
        ]
        if not self.misses:
            lines.append("  no misses")
        for miss in self.misses:
            kind = "false negative" if miss.label == ON_TOPIC else "false positive"
            lines.append(
                f"  miss {miss.id}: {kind} (label {miss.label}, score {miss.score:.3f}) "
                f"{miss.title or ''} — {miss.why}"
            )
        return "\n".join(lines)


def _split_header(raw: str) -> tuple[dict[str, str], str]:
    header: dict[str, str] = {}
    lines = raw.split("\n")
    i = 0
    while i < len(lines) and lines[i].strip().lower().startswith(_HEADER_KEYS):
        key, _, value = lines[i].partition(":")
        header[key.strip().lower()] = value.strip()
        i += 1
    return header, "\n".join(lines[i:])


def read_eval_dir(eval_dir: Path) -> list[LabelledArticle]:
    """Read index.tsv and the articles of an evaluation folder (header lines stripped)."""
    index = eval_dir / "index.tsv"
    if not index.is_file():
        raise ConfigError(f"{eval_dir}: no index.tsv (not an evaluation folder)")
    items: list[LabelledArticle] = []
    with index.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            article_id = (row.get("id") or "").strip()
            label = (row.get("label") or "").strip()
            if not article_id or not label:
                continue
            path = eval_dir / "articles" / f"{article_id}.txt"
            try:
                raw = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read: {exc}") from exc
            header, body = _split_header(raw.replace("\r\n", "\n"))
            cleaned = clean_text(body)
            items.append(
                LabelledArticle(
                    id=article_id,
                    label=label,
                    event_cluster=(row.get("event_cluster") or "").strip(),
                    url=(row.get("url") or header.get("url", "")).strip(),
                    why=header.get("why", ""),
                    title=cleaned.title,
                    text=cleaned.text,
                )
            )
    return items


def evaluate_relevance(
    eval_dir: Path,
    *,
    taxonomy: Taxonomy | None = None,
    relevance_threshold: float | None = None,
) -> RelevanceReport:
    """Classify every labelled article and report precision, recall, F1 and each miss."""
    tax = taxonomy or load_taxonomy()
    threshold = tax.relevance.threshold if relevance_threshold is None else relevance_threshold
    tp = fp = fn = tn = 0
    misses: list[Miss] = []
    scores: list[tuple[str, str, float]] = []
    version = ""
    for item in read_eval_dir(eval_dir):
        result = classify(
            item.id, item.title, item.text, taxonomy=tax, relevance_threshold=threshold
        )
        version = result.version
        on_topic = item.label == ON_TOPIC
        scores.append((item.id, item.label, result.relevance_score))
        if result.relevant and on_topic:
            tp += 1
        elif result.relevant:
            fp += 1
        elif on_topic:
            fn += 1
        else:
            tn += 1
        if result.relevant != on_topic:
            misses.append(Miss(item.id, item.label, result.relevance_score, item.why, item.title))
    log.info("evaluated relevance on %d articles from %s", len(scores), eval_dir)
    return RelevanceReport(
        total=len(scores),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        threshold=threshold,
        version=version,
        misses=tuple(misses),
        scores=tuple(scores),
    )
