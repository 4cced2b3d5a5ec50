"""What `monitor eval` reports: relevance, event types, stance, stories and dates, every miss.

Each report is computed from `Outcome`s, one per labelled article: what the real ingest stored for
its page. Event types (`topics`) have no labels of their own: the name of an article's event
cluster says what the event was (`E01_2020-01-05_parliament_resolution`), so `TopicReport` checks
that the expected main topic is among the classifier's, and how many topics it gives.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations

from monitor.evaluate.labelled import ON_TOPIC, STANCES, LabelledArticle


@dataclass(frozen=True)
class Outcome:
    """What the ingest stored for one labelled article (article_id None: nothing stored)."""

    item: LabelledArticle
    article_id: str | None = None
    title: str | None = None
    story_id: str | None = None
    duplicate_of: str | None = None
    duplicate_reason: str | None = None
    published_at: datetime | None = None
    date_source: str = "unknown"
    date_evidence: str | None = None
    relevant: bool | None = None
    relevance_score: float | None = None
    stance: str | None = None
    topics: tuple[str, ...] = ()
    version: str | None = None
    storyline_id: str | None = None


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# -- relevance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Miss:
    """An article the classifier got wrong."""

    id: str
    label: str
    score: float | None
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
    version: str
    misses: tuple[Miss, ...]
    how: str = "classifier as configured"

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
        return _f1(self.precision, self.recall)

    def render(self) -> str:
        """The figures, then one line per miss."""
        lines = [
            f"relevance on {self.total} articles ({self.how}; classifier {self.version})",
            f"  precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}  "
            f"(TP {self.true_positives}, FP {self.false_positives}, "
            f"FN {self.false_negatives}, TN {self.true_negatives})",
        ]
        if not self.misses:
            lines.append("  no misses")
        for miss in self.misses:
            kind = "false negative" if miss.label == ON_TOPIC else "false positive"
            score = "not stored" if miss.score is None else f"score {miss.score:.3f}"
            lines.append(
                f"  miss {miss.id}: {kind} (label {miss.label}, {score}) "
                f"{miss.title or ''} — {miss.why}"
            )
        return "\n".join(lines)


def relevance_report(
    outcomes: Sequence[Outcome],
    *,
    how: str = "classifier as configured",
    version: str | None = None,
) -> RelevanceReport:
    """Precision, recall and F1 of `relevant` against the labels; unstored pages count as misses."""
    tp = fp = fn = tn = 0
    misses = []
    stored_version = ""
    for o in outcomes:
        stored_version = o.version or stored_version
        marked = bool(o.relevant)
        if marked and o.item.on_topic:
            tp += 1
        elif marked:
            fp += 1
        elif o.item.on_topic:
            fn += 1
        else:
            tn += 1
        if marked != o.item.on_topic:
            misses.append(Miss(o.item.id, o.item.label, o.relevance_score, o.item.why, o.title))
    return RelevanceReport(
        len(outcomes), tp, fp, fn, tn, version or stored_version, tuple(misses), how
    )


# -- event types ------------------------------------------------------------------------------

# What an event cluster's name says about its main event type; the first pattern that matches the
# name wins. Clusters whose name matches none (or off-topic ones) are not scored.
CLUSTER_TOPICS: tuple[tuple[str, str], ...] = (
    (r"parliament|resolution|(?<![a-z])vote[sd]?(?![a-z])|bill\b|law\b", "parliament_vote"),
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
    """Event types: hit rate of the expected main topic, topics per relevant article."""

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
        """The figures, then one line per article whose topic was missed."""
        hits = sum(r.hit for r in self.results)
        lines = [
            f"topics on {len(self.results)} on-topic articles with an expected main topic",
            f"  expected topic found {hits}/{len(self.results)} (hit rate {self.hit_rate:.3f}), "
            f"first {self.first_rate:.3f}; {self.mean_topics:.2f} topics per relevant article "
            f"({self.relevant} relevant)",
        ]
        for r in self.results:
            if not r.hit:
                got = ", ".join(r.topics) or "none"
                lines.append(f"  miss {r.id} ({r.event_cluster}): expected {r.expected}, got {got}")
        return "\n".join(lines)


def topic_report(outcomes: Sequence[Outcome]) -> TopicReport:
    """Each on-topic article's topics against its cluster's expected main topic."""
    relevant = topic_count = 0
    results = []
    for o in outcomes:
        if o.relevant:
            relevant += 1
            topic_count += len(o.topics)
        expected = expected_topic(o.item.event_cluster) if o.item.on_topic else None
        if expected is not None:
            results.append(TopicResult(o.item.id, o.item.event_cluster, expected, o.topics))
    return TopicReport(relevant, topic_count, tuple(results))


# -- stance -----------------------------------------------------------------------------------

_SIDES = ("for_withdrawal", "against_withdrawal")


@dataclass(frozen=True)
class StanceReport:
    """Stance against the folder's `stance` column: accuracy, macro-F1, confusion, swaps, and
    how many sided pieces (labelled for or against withdrawal) were given their side."""

    confusion: dict[tuple[str, str], int]  # (labelled, predicted) -> count
    misses: tuple[tuple[str, str, str, str], ...]  # id, labelled, predicted, why

    @property
    def total(self) -> int:
        """Stance-labelled articles."""
        return sum(self.confusion.values())

    @property
    def accuracy(self) -> float:
        """Share predicted as labelled."""
        right = sum(n for (gold, got), n in self.confusion.items() if gold == got)
        return right / self.total if self.total else 0.0

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the three stances (a stance nobody has and nobody predicts is left out)."""
        scores = []
        for s in STANCES:
            tp = self.confusion.get((s, s), 0)
            predicted = sum(n for (_, got), n in self.confusion.items() if got == s)
            labelled = sum(n for (gold, _), n in self.confusion.items() if gold == s)
            if not predicted and not labelled:
                continue
            p = tp / predicted if predicted else 0.0
            r = tp / labelled if labelled else 0.0
            scores.append(_f1(p, r))
        return sum(scores) / len(scores) if scores else 0.0

    @property
    def swaps(self) -> int:
        """for_withdrawal taken for against_withdrawal or the other way round."""
        return self.confusion.get(("for_withdrawal", "against_withdrawal"), 0) + (
            self.confusion.get(("against_withdrawal", "for_withdrawal"), 0)
        )

    @property
    def sided_total(self) -> int:
        """Articles labelled for or against withdrawal (the ones that argue a side)."""
        return sum(n for (gold, _), n in self.confusion.items() if gold in _SIDES)

    @property
    def sided_right(self) -> int:
        """Sided articles given their own side (neutral or the other side is a miss)."""
        return sum(self.confusion.get((s, s), 0) for s in _SIDES)

    def render(self) -> str:
        """The figures, the confusion matrix, then every miss."""
        short = {"for_withdrawal": "for", "against_withdrawal": "against", "neutral": "neutral"}
        lines = [
            f"stance on {self.total} stance-labelled articles",
            f"  accuracy {self.accuracy:.3f}  macro-F1 {self.macro_f1:.3f}  "
            f"for/against swaps {self.swaps}",
            f"  sided pieces given their side: {self.sided_right} of {self.sided_total}",
            "  labelled \\ predicted " + "".join(f"{short[s]:>9}" for s in STANCES),
        ]
        for gold in STANCES:
            row = "".join(f"{self.confusion.get((gold, got), 0):>9}" for got in STANCES)
            lines.append(f"  {short[gold]:<21}{row}")
        for item_id, gold, got, why in self.misses:
            lines.append(f"  miss {item_id}: labelled {gold}, predicted {got} — {why}")
        return "\n".join(lines)


def stance_report(outcomes: Sequence[Outcome]) -> StanceReport:
    """Stance of every stance-labelled article (an unclassified one counts as neutral)."""
    confusion: Counter[tuple[str, str]] = Counter()
    misses = []
    for o in outcomes:
        gold = o.item.stance
        if gold is None:
            continue
        got = o.stance if o.stance in STANCES else "neutral"
        confusion[(gold, got)] += 1
        if got != gold:
            misses.append((o.item.id, gold, got, o.item.why))
    return StanceReport(dict(confusion), tuple(misses))


# -- stories ----------------------------------------------------------------------------------


def pairwise_scores(truth: dict[str, str], predicted: dict[str, str]) -> tuple[int, int, int]:
    """(true pairs, predicted pairs, pairs both agree on) over all pairs of items."""
    true_pairs = predicted_pairs = correct = 0
    for a, b in combinations(sorted(truth), 2):
        same_true = truth[a] == truth[b]
        same_pred = predicted.get(a, "?" + a) == predicted.get(b, "?" + b)
        true_pairs += same_true
        predicted_pairs += same_pred
        correct += same_true and same_pred
    return true_pairs, predicted_pairs, correct


@dataclass(frozen=True)
class ClusteringReport:
    """Pairwise clustering scores against labelled groups (events, or storylines)."""

    what: str
    items: int
    groups: int
    clusters: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    near_duplicate_links: int = 0
    cross_group_near_links: int = 0
    cluster_of: dict[str, str] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """Share of predicted same-cluster pairs that share a group."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of same-group pairs put in one cluster."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of pairwise precision and recall."""
        return _f1(self.precision, self.recall)

    def render(self) -> str:
        """The figures, then every cluster that mixes groups or is part of a split group."""
        lines = [
            f"{self.what}: {self.items} articles, {self.groups} labelled, {self.clusters} formed",
            f"  pairwise precision {self.precision:.3f}  recall {self.recall:.3f}  "
            f"F1 {self.f1:.3f}  ({self.correct_pairs}/{self.predicted_pairs} predicted pairs "
            f"right, {self.correct_pairs}/{self.true_pairs} true pairs found)",
        ]
        if self.what == "stories":
            lines.append(
                f"  near-duplicate links: {self.near_duplicate_links} "
                f"({self.cross_group_near_links} between different events)"
            )
        members: dict[str, list[str]] = {}
        for item, cluster in sorted(self.cluster_of.items()):
            members.setdefault(cluster, []).append(item)
        clusters_of_group: dict[str, set[str]] = {}
        for item, group in self.group_of.items():
            clusters_of_group.setdefault(group, set()).add(self.cluster_of.get(item, item))
        for items in members.values():
            groups = {self.group_of.get(i, "?") for i in items}
            split = any(len(clusters_of_group.get(g, ())) > 1 for g in groups)
            if len(groups) > 1 or split:
                label = "mixes" if len(groups) > 1 else "part of a split"
                listing = ", ".join(f"{i} ({self.group_of.get(i, '?')})" for i in items)
                lines.append(f"  {label}: {listing}")
        return "\n".join(lines)


def story_report(outcomes: Sequence[Outcome]) -> ClusteringReport:
    """Stories against `event_cluster`, over every labelled article, and near-copy links."""
    by_article = {o.article_id: o for o in outcomes if o.article_id}
    predicted = {o.item.id: o.story_id or f"none:{o.item.id}" for o in outcomes}
    truth = {o.item.id: o.item.event_cluster for o in outcomes}
    near = cross = 0
    for o in outcomes:
        if o.duplicate_of and o.duplicate_reason == "near":
            near += 1
            origin = by_article.get(o.duplicate_of)
            if origin is not None and origin.item.event_cluster != o.item.event_cluster:
                cross += 1
    pairs = pairwise_scores(truth, predicted)
    return ClusteringReport(
        "stories",
        len(outcomes),
        len(set(truth.values())),
        len(set(predicted.values())),
        *pairs,
        near_duplicate_links=near,
        cross_group_near_links=cross,
        cluster_of=predicted,
        group_of=truth,
    )


def storyline_report(outcomes: Sequence[Outcome]) -> ClusteringReport:
    """Storylines against the folder's `storyline` column, over on-topic articles; an article
    whose story stands alone counts as a storyline of its own story."""
    scored = [o for o in outcomes if o.item.on_topic and o.item.storyline]
    predicted = {o.item.id: o.storyline_id or f"story:{o.story_id or o.item.id}" for o in scored}
    truth = {o.item.id: o.item.storyline or "" for o in scored}
    return ClusteringReport(
        "storylines",
        len(scored),
        len(set(truth.values())),
        len(set(predicted.values())),
        *pairwise_scores(truth, predicted),
        cluster_of=predicted,
        group_of=truth,
    )


# -- dates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateReport:
    """Where stored dates came from, and how many fall on the folder's known day."""

    sources: dict[str, int]  # "date_source/date_evidence" -> articles
    known: int  # articles whose day the folder knows and that got a date of their own
    right_day: int
    wrong: tuple[tuple[str, str, str, str], ...]  # id, stored day, folder's day, provenance
    copies_known: int = 0  # articles that took an original's date (`story`) on a known day
    copies_right: int = 0

    def render(self) -> str:
        """Counts per provenance, then every date off by more than a day, borrowed or not."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.sources.items()))
        lines = [
            f"dates: {counts}",
            f"  own date on the folder's day (±1): {self.right_day}/{self.known}",
        ]
        if self.copies_known:
            lines.append(
                f"  a copy's date (its original's) on the folder's day (±1): "
                f"{self.copies_right}/{self.copies_known}"
            )
        for item_id, stored, known, source in self.wrong:
            lines.append(f"  off {item_id}: stored {stored} ({source}), folder says {known}")
        return "\n".join(lines)


def _provenance(o: Outcome) -> str:
    return f"{o.date_source}/{o.date_evidence}" if o.date_evidence else o.date_source


def date_report(outcomes: Sequence[Outcome]) -> DateReport:
    """Date provenance of the stored articles, checked against the folder's `published` days:
    own dates and dates taken from an original (`story`) apart, every one off listed."""
    sources = Counter(_provenance(o) for o in outcomes if o.article_id)
    known = right = copies_known = copies_right = 0
    wrong = []
    for o in outcomes:
        if o.published_at is None or o.item.published is None:
            continue
        on_day = abs((o.published_at.date() - o.item.published).days) <= 1
        if o.date_source == "story":
            copies_known += 1
            copies_right += on_day
        else:
            known += 1
            right += on_day
        if not on_day:
            wrong.append(
                (
                    o.item.id,
                    f"{o.published_at:%Y-%m-%d}",
                    o.item.published.isoformat(),
                    _provenance(o),
                )
            )
    return DateReport(dict(sources), known, right, tuple(wrong), copies_known, copies_right)
