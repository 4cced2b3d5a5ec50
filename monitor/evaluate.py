"""Relevance and event-type evaluation on a labelled folder laid out like ../shared/data/eval.

The folder holds `index.tsv` (id, label on-topic/off-topic, event_cluster, url, ...) and
`articles/<id>.txt`, each starting with `url:`, `label:` and `why:` header lines. The header is
stripped before classifying, so the label never reaches the classifier; the text then goes through
the same general cleaning as seed files.

Event types (`topics`) have no labels of their own: the name of an article's event cluster says
what the event was (`E01_2020-01-05_parliament_resolution`, `E10_2021-07_ain_al_asad_rockets`), so
`evaluate_topics` derives the expected main topic from it and checks that the classifier gives it,
and how many topics it gives per article (fewer is more useful to an analyst who filters by topic).
"""

from __future__ import annotations

import csv
import logging
import re
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


# What an event cluster's name says about its main event type; the first pattern that matches the
# name wins. Clusters whose name matches none (or off-topic ones) are not scored.
CLUSTER_TOPICS: tuple[tuple[str, str], ...] = (
    (r"parliament|resolution|vote|bill\b|law\b", "parliament_vote"),
    (r"rocket|drone|mortar|attack", "attack_on_us_forces"),
    (r"talks|dialogue|negotiat|hmc|commission", "negotiations"),
    (r"plan_reported|drawdown|withdraw|pullout|mission_ends|combat_mission", "withdrawal_drawdown"),
    (r"strike|soleimani", "us_strike"),
    (r"protest|embassy_storm", "protest"),
)


def expected_topic(event_cluster: str) -> str | None:
    """The main event type an event cluster's name implies, or None when it implies none."""
    name = event_cluster.lower()
    for pattern, topic in CLUSTER_TOPICS:
        if re.search(pattern, name):
            return topic
    return None


@dataclass(frozen=True)
class TopicResult:
    """One scored article: the expected main topic and what the classifier gave."""

    id: str
    event_cluster: str
    expected: str
    topics: tuple[str, ...]

    @property
    def hit(self) -> bool:
        """The expected topic is among the predicted ones."""
        return self.expected in self.topics

    @property
    def first(self) -> bool:
        """The expected topic is the first (highest-scoring) predicted one."""
        return bool(self.topics) and self.topics[0] == self.expected


@dataclass(frozen=True)
class TopicReport:
    """Event types on a labelled folder: hit rate of the expected main topic, topics per article."""

    version: str
    relevant: int
    topic_count: int
    results: tuple[TopicResult, ...]

    @property
    def hit_rate(self) -> float:
        """Share of scored on-topic articles whose expected topic is among the predicted ones."""
        return sum(r.hit for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def first_rate(self) -> float:
        """Share of scored on-topic articles whose expected topic comes first."""
        return sum(r.first for r in self.results) / len(self.results) if self.results else 0.0

    @property
    def mean_topics(self) -> float:
        """Mean number of topics per article marked relevant."""
        return self.topic_count / self.relevant if self.relevant else 0.0

    def render(self) -> str:
        """A plain-text report: the figures, then one line per article whose topic was missed."""
        hits = sum(r.hit for r in self.results)
        lines = [
            f"topics on {len(self.results)} on-topic articles with an expected main topic "
            f"(classifier {self.version})",
            f"  expected topic found {hits}/{len(self.results)} (hit rate {self.hit_rate:.3f}), "
            f"first {self.first_rate:.3f}; {self.mean_topics:.2f} topics per relevant article "
            f"({self.relevant} relevant)",
        ]
        for r in self.results:
            if not r.hit:
                got = ", ".join(r.topics) or "none"
                lines.append(f"  miss {r.id} ({r.event_cluster}): expected {r.expected}, got {got}")
        return "\n".join(lines)


def evaluate_topics(
    eval_dir: Path,
    *,
    taxonomy: Taxonomy | None = None,
    relevance_threshold: float | None = None,
) -> TopicReport:
    """Check each on-topic article's topics against its cluster's expected main topic."""
    tax = taxonomy or load_taxonomy()
    relevant = topic_count = 0
    results: list[TopicResult] = []
    version = ""
    for item in read_eval_dir(eval_dir):
        result = classify(
            item.id, item.title, item.text, taxonomy=tax, relevance_threshold=relevance_threshold
        )
        version = result.version
        if result.relevant:
            relevant += 1
            topic_count += len(result.topics)
        expected = expected_topic(item.event_cluster) if item.label == ON_TOPIC else None
        if expected is not None:
            results.append(TopicResult(item.id, item.event_cluster, expected, result.topics))
    log.info("evaluated topics on %d articles from %s", len(results), eval_dir)
    return TopicReport(
        version=version, relevant=relevant, topic_count=topic_count, results=tuple(results)
    )
