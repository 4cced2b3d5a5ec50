"""Stories measured honestly: grouped cross-validation over what the real ingest stored.

`monitor eval` ingests the labelled pages through the web path once per way of dating them. For
each fold of events (`FOLDS` folds, an event's fold fixed by a hash of its name), a story pair
model is fitted on the pairs of the other folds' reports (those of the dated and the undated
ingest), its threshold chosen on those reports alone, and story assignment is run again over
every stored report with it: the same library functions the pipeline runs on a batch
(`stories.Batch.of`, `score`, `assign`), as if the whole folder came in one batch, which is how
the ingest processed it. A pair of reports is judged in the fold of its first member's event (so
every pair once, always by a model that never saw one of its two events), and each report's
BCubed figures come from its own fold's run.

The same machinery fits the shipped model (`fit_stories` on every event) for
`python -m monitor.stories.train`.
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path

import numpy as np

from monitor.errors import ConfigError
from monitor.evaluate.folders import folder_of
from monitor.evaluate.labelled import LabelledArticle
from monitor.evaluate.metrics import Outcome
from monitor.evaluate.site import Dating
from monitor.models import StoredArticle
from monitor.store import Store
from monitor.store import stories as story_store
from monitor.stories import (
    Batch,
    Candidates,
    Evidence,
    Member,
    Scored,
    TermStats,
    assign,
    event_at,
    score,
)
from monitor.stories.clustering import MAX_GAP_DAYS
from monitor.stories.model import PairModel, fit_pair_model
from monitor.stories.pairs import FEATURES, LANGUAGE_FREE, PairScorer, script_of
from monitor.storylines import Report

FOLDS = 10
# Every feature either model reads, in the order of `pair_rows` columns.
COLUMNS = FEATURES + tuple(f for f in LANGUAGE_FREE if f not in FEATURES)
THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(13))  # 0.1 ... 0.7
ACROSS_THRESHOLDS = tuple(
    round(0.5 + 0.1 * i, 1) for i in range(5)
)  # 0.5 ... 0.9: more likely than not
MIN_SUPPORT = 10  # pairs of one event with a feature shown, to fit a weight for it
ACROSS_BETA = 0.25  # precision counts four times as much as recall across languages
TRAIN_DATINGS: tuple[Dating, ...] = ("dated", "undated")


def fold_of(group: str, folds: int = FOLDS) -> int:
    """The fold of an event or storyline: fixed by its name, not by the order of the folder."""
    return zlib.crc32(group.encode("utf-8")) % folds


@dataclass(frozen=True)
class Rows:
    """Every pair of a stored set's originals: features (`COLUMNS`), labels, ids, and whether
    the two are in different writing systems."""

    x: np.ndarray
    y: np.ndarray
    ids: list[tuple[str, str]]
    apart: np.ndarray


@dataclass
class StoredSet:
    """What one ingest of a labelled folder stored, as story assignment reads it."""

    dating: str
    articles: list[StoredArticle]
    copy_of: dict[str, str | None]
    evidence: dict[str, Evidence]
    names: dict[str, int]
    classified: int
    label: dict[str, LabelledArticle]  # article id -> its labelled item
    relevant: dict[str, bool] = field(default_factory=dict)  # as the classifier decided
    stance: dict[str, str] = field(default_factory=dict)  # as the classifier decided
    _rows: Rows | None = field(default=None, repr=False)
    _scored: dict[frozenset[str] | None, tuple[Batch, Scored]] = field(
        default_factory=dict, repr=False
    )
    _reports: dict[str, Report] | None = field(default=None, repr=False)

    @property
    def originals(self) -> list[StoredArticle]:
        """The stored reports that are not copies (copies follow their origin's story)."""
        return [a for a in self.articles if self.copy_of.get(a.article_id) is None]

    def event(self, article_id: str) -> str:
        """The labelled event of a stored article."""
        return self.label[article_id].event_cluster


def read_set(db: Path, outcomes: Sequence[Outcome], dating: str) -> StoredSet:
    """Read back what an ingest stored for the labelled items (those it stored)."""
    label = {o.article_id: o.item for o in outcomes if o.article_id}
    with Store(db).read() as con:
        articles, copy_of = story_store.processed(con)
        articles = [a for a in articles if a.article_id in label]
        evidence = story_store.evidence(con, [a.article_id for a in articles])
        probe = Batch([], {}, {}, Counter(), evidence)
        names, classified = story_store.name_stats(con, probe)
        relevant, stance = story_store.verdicts(con)
    return StoredSet(
        dating, articles, copy_of, evidence, names, classified, label, relevant, stance
    )


def _scored(stored: StoredSet, keep: set[str] | None) -> tuple[Batch, Scored]:
    key = None if keep is None else frozenset(keep)
    found = stored._scored.get(key)
    if found is not None:
        return found
    if None not in stored._scored:
        whole = Batch.of(stored.originals, stored.evidence)
        stored._scored[None] = (whole, score(whole, _first_batch(stored)))
    batch = stored._scored[None][0] if keep is None else stored._scored[None][0].only(keep)
    stored._scored[key] = (batch, score(batch, _first_batch(stored)))
    return stored._scored[key]


def _first_batch(stored: StoredSet) -> TermStats:
    # As the ingest saw it: one batch into an empty store (no stored terms yet), the names'
    # frequencies over every classified article (classification comes with storing).
    return TermStats({}, 0, stored.names, stored.classified)


def regroup(
    stored: StoredSet, model: PairModel | None, keep: set[str] | None = None
) -> dict[str, str]:
    """The story of every stored article (or of those in `keep`), assigned again with `model`."""
    _, scored = _scored(stored, keep)
    plan = assign(scored, Candidates(), model)
    story_of = dict(plan.story_of)
    for a in stored.articles:
        origin = stored.copy_of.get(a.article_id)
        if origin is not None and origin in story_of and (keep is None or a.article_id in keep):
            story_of[a.article_id] = story_of[origin]
    return story_of


def regroup_cuts(
    stored: StoredSet, model: PairModel, keep: set[str], thresholds: Sequence[float]
) -> dict[float, dict[str, str]]:
    """The stories of the articles in `keep` at each threshold, from one clustering at the
    lowest: its merges in order, cut where the mean probability falls below each threshold."""
    _, scored = _scored(stored, keep)
    plan = assign(scored, Candidates(), replace(model, threshold=min(thresholds), across=None))
    out = {}
    for threshold in thresholds:
        story_of = _cut(list(plan.story_of), plan.merges, threshold)
        for a in stored.articles:
            origin = stored.copy_of.get(a.article_id)
            if origin is not None and origin in story_of and a.article_id in keep:
                story_of[a.article_id] = story_of[origin]
        out[threshold] = story_of
    return out


def _cut(
    ids: Sequence[str], merges: Sequence[tuple[float, str, str]], threshold: float
) -> dict[str, str]:
    """The clusters the merges at or above the threshold make (union-find; a cluster is named
    by one of its members)."""
    parent = {aid: aid for aid in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for height, a, b in merges:
        if height < threshold:
            break  # the merges come highest first
        parent[root(a)] = root(b)
    return {aid: root(aid) for aid in ids}


def pair_rows(stored: StoredSet) -> Rows:
    """Features (`COLUMNS`) and labels (same event or not) of every pair of stored originals,
    and whether each pair is of two writing systems."""
    if stored._rows is not None:
        return stored._rows
    batch, scored = _scored(stored, None)
    members = [
        Member(
            a.article_id,
            batch.counts[a.article_id],
            batch.cues[a.article_id],
            event_at(a),
            batch.evidence[a.article_id],
        )
        for a in batch.originals
    ]
    scorer = PairScorer(members, scored.idf, scored.names)
    pairs = list(combinations(range(len(members)), 2))
    i = np.array([p[0] for p in pairs], dtype=np.intp)
    j = np.array([p[1] for p in pairs], dtype=np.intp)
    columns = scorer.columns(i, j, many=True)
    x = np.column_stack([columns[f] for f in COLUMNS]) if pairs else np.zeros((0, len(COLUMNS)))
    ids = [(members[a].article_id, members[b].article_id) for a, b in pairs]
    y = np.array([stored.event(a) == stored.event(b) for a, b in ids], dtype=np.float64)
    stored._rows = Rows(x, y, ids, scorer.across(i, j))
    return stored._rows


def _comparable(x: np.ndarray) -> np.ndarray:
    """Pairs clustering may put together: not dated further apart than `MAX_GAP_DAYS`.

    The model is fitted on these only, so it learns to tell apart reports that their dates
    cannot (neighbouring events of one kind), not that reports years apart differ."""
    gap = x[:, COLUMNS.index("day_gap")]
    return np.asarray(gap <= np.log1p(MAX_GAP_DAYS), dtype=bool)


def _columns(x: np.ndarray, features: Sequence[str], of: Sequence[str] = COLUMNS) -> np.ndarray:
    """The columns of `features` from rows whose columns are `of`."""
    return x[:, [list(of).index(f) for f in features]]


def _supported(features: Sequence[str], x: np.ndarray, y: np.ndarray) -> tuple[str, ...]:
    """The features that enough pairs of one event show (`MIN_SUPPORT`): a weight learned from
    a handful of pairs (two dated Arabic reports of one event) would be noise."""
    shown = (x[y == 1] != 0).sum(axis=0)
    return tuple(f for f, n in zip(features, shown, strict=True) if n >= MIN_SUPPORT)


def pairwise_f1(truth: Mapping[str, str], decided: Mapping[str, str]) -> float:
    """Pairwise F1 of a clustering over the items of `truth` (counted per cell, not per pair)."""

    def pairs(counts: Iterable[int]) -> int:
        return sum(n * (n - 1) // 2 for n in counts)

    cells = Counter((truth[i], decided.get(i, "?" + i)) for i in truth)
    together = Counter(decided.get(i, "?" + i) for i in truth)
    correct = pairs(cells.values())
    wrong = pairs(together.values()) - correct
    missed = pairs(Counter(truth.values()).values()) - correct
    return 2 * correct / (2 * correct + wrong + missed) if correct else 0.0


def fit_stories(
    sets: Sequence[StoredSet],
    held_out: Iterable[str] = (),
    meta: Mapping[str, object] | None = None,
) -> PairModel:
    """A story pair model fitted on every event but the held-out ones, its threshold the one
    that clusters those same reports best (mean pairwise F1 over the sets), with its `across`
    model for reports in two languages (`fit_across`)."""
    out = set(held_out)
    xs, ys, ws, lf = [], [], [], []
    for stored in sets:
        rows = pair_rows(stored)
        mask = np.array(
            [stored.event(a) not in out and stored.event(b) not in out for a, b in rows.ids],
            dtype=bool,
        )
        mask &= _comparable(rows.x)
        # Within a language the words decide; pairs across languages are the across model's.
        xs.append(_columns(rows.x[mask & ~rows.apart], FEATURES))
        ys.append(rows.y[mask & ~rows.apart])
        ws.append(_columns(rows.x[mask], LANGUAGE_FREE))
        lf.append(rows.y[mask])
    x, y = np.vstack(xs), np.concatenate(ys)
    features = _supported(FEATURES, x, y)
    model = fit_pair_model(
        "stories", features, _columns(x, features, FEATURES), y, threshold=0.5, meta=meta
    )
    scores: dict[float, list[float]] = defaultdict(list)
    for stored in sets:
        keep = {a.article_id for a in stored.articles if stored.event(a.article_id) not in out}
        truth = {a: stored.event(a) for a in keep}
        for threshold, decided in regroup_cuts(stored, model, keep, THRESHOLDS).items():
            scores[threshold].append(pairwise_f1(truth, decided))
    # The best mean F1 over the sets; ties: the lowest threshold.
    best = max(THRESHOLDS, key=lambda t: (round(sum(scores[t]) / len(scores[t]), 9), -t))
    model = replace(model, threshold=best)
    w, lf_y = np.vstack(ws), np.concatenate(lf)
    free = _supported(LANGUAGE_FREE, w, lf_y)
    across = fit_pair_model("stories", free, _columns(w, free, LANGUAGE_FREE), lf_y, threshold=1.0)
    return replace(
        model, across=replace(across, threshold=_across_threshold(sets, model, across, out))
    )


def _half(member: Member) -> str:
    """A simulated language: the report's writing system and one half of it (by id)."""
    return f"{script_of(member)}/{zlib.crc32(member.article_id.encode()) % 2}"


def _across_threshold(
    sets: Sequence[StoredSet], model: PairModel, across: PairModel, held_out: set[str]
) -> float:
    """The across model's threshold: the one that links reports of one event in two languages
    best, precision first (F-beta, beta `ACROSS_BETA`), on the training reports with each
    language split in two by a hash of the report's id, as if half of them were in another
    language: the words link reports within a half, only the across model between halves, as
    between Arabic and English. Ties: the highest threshold."""
    tally: dict[float, list[int]] = {t: [0, 0, 0] for t in ACROSS_THRESHOLDS}
    for stored in sets:
        keep = {
            a.article_id for a in stored.originals if stored.event(a.article_id) not in held_out
        }
        batch, scored = _scored(stored, keep)
        split = {aid: _half(Member(aid, batch.counts[aid], [], None)) for aid in keep}
        truth = {aid: stored.event(aid) for aid in keep}
        for threshold in ACROSS_THRESHOLDS:
            linked = replace(model, across=replace(across, threshold=threshold))
            story_of = assign(scored, Candidates(), linked, split).story_of
            counts = tally[threshold]
            for a, b in combinations(sorted(keep), 2):
                if split[a] == split[b]:
                    continue
                same, together = truth[a] == truth[b], story_of[a] == story_of[b]
                counts[0] += same and together
                counts[1] += together
                counts[2] += same

    def f_beta(counts: list[int]) -> float:
        correct, linked, labelled = counts
        if not correct:
            return 0.0
        p, r = correct / linked, correct / labelled
        return (1 + ACROSS_BETA**2) * p * r / (ACROSS_BETA**2 * p + r)

    return max(ACROSS_THRESHOLDS, key=lambda t: (round(f_beta(tally[t]), 9), t))


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupingReport:
    """Pairwise and BCubed figures of a grouping (stories or storylines) against labels, with
    the labelled groups it split and the pairs of groups it merged."""

    what: str
    how: str
    items: int
    true_pairs: int
    predicted_pairs: float
    correct_pairs: float
    bcubed_precision: float
    bcubed_recall: float
    splits: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()
    merges: tuple[tuple[str, str, int], ...] = ()
    # Pairs of items from two folders (languages): of one group, of them put together, put
    # together, of them wrongly. None with one folder.
    across: tuple[int, int, int, int] | None = None

    @property
    def precision(self) -> float:
        """Share of pairs put together that belong together."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of pairs that belong together put together."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Pairwise F1."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def bcubed_f1(self) -> float:
        """BCubed F1 (per item: the share of its cluster in its group, and of its group in its
        cluster, averaged over items)."""
        p, r = self.bcubed_precision, self.bcubed_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def render(self) -> str:
        """The figures, then every split group and merged pair of groups."""
        lines = [
            f"{self.what} ({self.how}): {self.items} articles",
            f"  pairwise precision {self.precision:.3f}  recall {self.recall:.3f}  "
            f"F1 {self.f1:.3f}; BCubed precision {self.bcubed_precision:.3f}  "
            f"recall {self.bcubed_recall:.3f}  F1 {self.bcubed_f1:.3f}",
        ]
        for group, parts in self.splits:
            listing = " | ".join(", ".join(p) for p in parts)
            lines.append(f"  split {group}: {listing}")
        for a, b, n in self.merges:
            lines.append(f"  merged {a} + {b} ({n} pairs)")
        if self.across is not None:
            labelled, joined, linked, wrong = self.across
            lines.append(
                f"  across folders: {joined} of {labelled} pairs of one group together; "
                f"{linked} pairs together, {wrong} of them wrongly"
            )
        return "\n".join(lines)


def grouping_report(
    what: str,
    how: str,
    truth: Mapping[str, str],
    runs: Sequence[tuple[set[str], Mapping[str, str]]],
    folder: Callable[[str], str] | None = None,
) -> GroupingReport:
    """Score clusterings against labelled groups (item -> group).

    `runs` pairs the items each run is judged on with that run's clustering (item -> cluster;
    a missing item stands alone): one run for an in-sample figure, one per fold for
    cross-validation (a pair is judged by the first run that holds one of its two items).
    With `folder` (item -> its folder), the pairs of items from two folders are counted apart.
    """
    run_of: dict[str, int] = {}
    for k, (judged, _) in enumerate(runs):
        for item in judged:
            run_of.setdefault(item, k)
    items = sorted(i for i in truth if i in run_of)
    true_pairs = predicted = correct = 0
    across = [0, 0, 0, 0]
    merged: dict[tuple[str, str], int] = defaultdict(int)
    for a, b in combinations(items, 2):
        decided = runs[min(run_of[a], run_of[b])][1]
        same = truth[a] == truth[b]
        together = decided.get(a, "?" + a) == decided.get(b, "?" + b)
        true_pairs += same
        predicted += together
        correct += same and together
        if together and not same:
            merged[tuple(sorted((truth[a], truth[b])))] += 1  # type: ignore[index]
        if folder is not None and folder(a) != folder(b):
            across[0] += same
            across[1] += same and together
            across[2] += together
            across[3] += together and not same
    members: dict[str, list[str]] = defaultdict(list)
    for item in items:
        members[truth[item]].append(item)
    clusters: list[dict[str, list[str]]] = []
    for _, decided in runs:
        of: dict[str, list[str]] = defaultdict(list)
        for i in items:
            of[decided.get(i, "?" + i)].append(i)
        clusters.append(of)
    precision = recall = 0.0
    splits = []
    for group, group_items in sorted(members.items()):
        for item in group_items:
            decided = runs[run_of[item]][1]
            cluster = clusters[run_of[item]][decided.get(item, "?" + item)]
            shared = sum(1 for i in cluster if truth[i] == group)
            precision += shared / len(cluster)
            recall += shared / len(group_items)
        decided = runs[run_of[group_items[0]]][1]
        parts: dict[str, list[str]] = defaultdict(list)
        for item in group_items:
            parts[decided.get(item, "?" + item)].append(item)
        if len(parts) > 1:
            splits.append((group, tuple(tuple(p) for p in sorted(parts.values()))))
    n = len(items) or 1
    return GroupingReport(
        what,
        how,
        len(items),
        true_pairs,
        predicted,
        correct,
        precision / n,
        recall / n,
        tuple(splits),
        tuple((a, b, k) for (a, b), k in sorted(merged.items())),
        (across[0], across[1], across[2], across[3]) if folder is not None else None,
    )


def story_reports(
    sets: Sequence[StoredSet], model: PairModel | None, notes: list[str] | None = None
) -> dict[str, GroupingReport]:
    """Per stored set: stories in-sample (`model`, None: the packaged one) and cross-validated
    by event (a model fitted per fold on the training sets among `sets`); with several folders,
    each folder's cross-validated figures too ("<dating>:cv:<folder>"). When a fold has too
    few labelled pairs to fit on, there is no cross-validated report, and `notes` says why."""
    out: dict[str, GroupingReport] = {}
    training = [s for s in sets if s.dating in TRAIN_DATINGS] or list(sets)
    events = sorted({s.event(a.article_id) for s in sets for a in s.articles})
    folds: dict[int, list[str]] = defaultdict(list)
    for event in events:
        folds[fold_of(event)].append(event)
    try:
        fold_models = {k: fit_stories(training, held) for k, held in sorted(folds.items())}
    except ConfigError as exc:
        fold_models = {}
        if notes is not None:
            notes.append(f"stories: no grouped cross-validation ({exc})")
    for stored in sets:
        truth = {stored.label[a.article_id].id: stored.event(a.article_id) for a in stored.articles}
        item = {a.article_id: stored.label[a.article_id].id for a in stored.articles}

        def by_item(story_of: Mapping[str, str]) -> dict[str, str]:
            return {item[aid]: sid for aid, sid in story_of.items()}  # noqa: B023

        every = set(truth)
        out[f"{stored.dating}:in-sample"] = grouping_report(
            "stories",
            "in-sample: the shipped model",
            truth,
            [(every, by_item(regroup(stored, model)))],
        )
        if not fold_models:
            continue
        runs = []
        for k, held in sorted(folds.items()):
            judged = {i for i, e in truth.items() if e in set(held)}
            runs.append((judged, by_item(regroup(stored, fold_models[k]))))
        folders = sorted({folder_of(i) for i in truth})
        how = f"grouped cross-validation, {len(folds)} folds by event"
        several = len(folders) > 1
        out[f"{stored.dating}:cv"] = grouping_report(
            "stories", how, truth, runs, folder_of if several else None
        )
        for name in folders if several else []:
            # One folder's (language's) reports, judged by the same fold models.
            mine = {i: e for i, e in truth.items() if folder_of(i) == name}
            out[f"{stored.dating}:cv:{name}"] = grouping_report(
                f"stories of {name}", how, mine, runs
            )
    return out
