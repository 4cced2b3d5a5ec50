"""Storylines measured honestly: grouped cross-validation by storyline over the stored reports.

For each labelled storyline in turn, its events are held out of the story pair model and its
stories out of the storyline pair model (both fitted on the rest, monitor/evaluate/grouping.py),
stories are assigned again over every stored report with the first, and storylines placed over
those stories with the second: `storylines.threads_of` and `storylines.place`, what the pipeline
runs. A pair of on-topic reports is judged in the fold of its first member's storyline. A report
whose story has no relevant report (so no storyline) counts as a storyline of its own story.

Which reports are relevant is what the configured classifier stored (its relevance model was
trained on the development folder, so that part is in-sample).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from monitor.errors import ConfigError
from monitor.evaluate.grouping import (
    TRAIN_DATINGS,
    GroupingReport,
    StoredSet,
    _scored,
    fit_stories,
    grouping_report,
    pairwise_f1,
    regroup,
)
from monitor.stories import event_at
from monitor.stories.features import cue_day
from monitor.stories.model import PairModel, fit_pair_model
from monitor.storylines import (
    FEATURES,
    Line,
    Report,
    Thread,
    actor_idf,
    join_columns,
    offered,
    order,
    place,
    question_weights,
    threads_of,
)

THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(11))  # 0.2 ... 0.7


@functools.lru_cache(maxsize=4096)
def _asked(title: str | None, text: str) -> dict[str, float]:
    return question_weights(title, text)  # one report's, asked again in every fold


def story_threads(stored: StoredSet, story_of: Mapping[str, str]) -> list[Thread]:
    """The threads of the stories of a stored set, as the store would make them."""
    batch, scored = _scored(stored, None)
    reports = []
    for a in stored.articles:
        aid = a.article_id
        if not stored.relevant.get(aid) or aid not in story_of:
            continue
        evidence = stored.evidence[aid]
        entities = [(n, "person") for n in evidence.actors] + [
            (n, "place") for n in evidence.places
        ]
        vector = scored.idf.vector(batch.counts[aid]) if aid in batch.counts else {}
        day = cue_day(batch.cues.get(aid, ()))
        named = datetime(day.year, day.month, day.day) if day else None
        reports.append(
            Report(
                story_of[aid],
                tuple(evidence.topics),
                entities,
                vector,
                event_at(a),
                named,
                _asked(a.title, a.text),
                stored.stance.get(aid, "neutral") != "neutral",
                a.content_hash or "",
            )
        )
    return threads_of(reports)


def _names_idf(stored: StoredSet, story_of: Mapping[str, str]) -> dict[str, float]:
    """How telling each actor and place is, as the pipeline counts it (`store.storylines.
    actor_counts`): in how many of all the stored stories it is named."""
    named: dict[str, set[str]] = {}
    for a in stored.articles:
        sid = story_of.get(a.article_id)
        if sid is None:
            continue
        evidence = stored.evidence.get(a.article_id)
        names = named.setdefault(sid, set())
        if evidence is not None:
            names |= set(evidence.actors) | set(evidence.places)
    df: Counter[str] = Counter()
    for names in named.values():
        df.update(names)
    return actor_idf(dict(df), len(named))


def _label_of(stored: StoredSet, story_of: Mapping[str, str]) -> dict[str, str | None]:
    """The labelled storyline most of a story's on-topic reports belong to (None: none)."""
    votes: dict[str, Counter[str]] = {}
    for aid, sid in story_of.items():
        item = stored.label.get(aid)
        if item is not None and item.on_topic and item.storyline:
            votes.setdefault(sid, Counter())[item.storyline] += 1
    return {sid: max(c.items(), key=lambda kv: (kv[1], kv[0]))[0] for sid, c in votes.items()}


def storyline_of_items(
    stored: StoredSet, story_of: Mapping[str, str], model: PairModel | None
) -> dict[str, str]:
    """Each labelled item's storyline (or its own story's) after placing every story's thread
    into storylines, as the pipeline does after one batch."""
    threads = story_threads(stored, story_of)
    placed = place(threads, [], _names_idf(stored, story_of), model)
    out = {}
    for a in stored.articles:
        sid = story_of.get(a.article_id)
        item = stored.label[a.article_id].id
        out[item] = placed.storyline_of.get(sid or "", f"story:{sid or item}")
    return out


def _truth(stored: StoredSet) -> dict[str, str]:
    return {
        stored.label[a.article_id].id: stored.label[a.article_id].storyline or ""
        for a in stored.articles
        if stored.label[a.article_id].on_topic and stored.label[a.article_id].storyline
    }


def replay(
    stored: StoredSet,
    story_of: Mapping[str, str],
    held_out: str | None = None,
) -> list[tuple[np.ndarray, int]]:
    """The decisions `storylines.place` would face on the labelled threads of a stored set, in
    its order: for each labelled story (not of the held-out storyline), the features of every
    labelled storyline begun before it (as far as it has come) that it could join, and which of
    them it belongs to (-1: none, it opens its storyline)."""
    threads = story_threads(stored, story_of)
    label = _label_of(stored, story_of)
    idf = _names_idf(stored, story_of)
    lines: dict[str, Line] = {}
    out = []
    for thread in sorted(threads, key=order):
        group = label.get(thread.story_id)
        if group is None or group == held_out:
            continue
        names = sorted(lines)
        if names:
            columns = join_columns(thread, [lines[n] for n in names], idf)
            # Storylines the story is never asked about (`storylines.offered`).
            near = offered(columns)
            x = np.column_stack([columns[f] for f in FEATURES])[near]
            kept = [n for n, ok in zip(names, near, strict=True) if ok]
            if kept:
                out.append((x, kept.index(group) if group in kept else -1))
        lines.setdefault(group, Line(group)).add(thread, idf)
    return out


def fit_storylines(
    sets: Sequence[StoredSet],
    story_ofs: Sequence[Mapping[str, str]],
    held_out: str | None = None,
    meta: Mapping[str, object] | None = None,
) -> PairModel:
    """A storyline model fitted on the stories of every labelled storyline but the held-out one,
    its threshold the one that threads those same reports best.

    The rows are the decisions of `replay`: a story against each storyline it could continue,
    the one it belongs to the positive row; the model's probability is then that a story
    continues a storyline, and `storylines.place` joins the likeliest when that reaches the
    threshold (the decision to open a new storyline is the threshold's)."""
    decisions = [
        d
        for stored, story_of in zip(sets, story_ofs, strict=True)
        for d in replay(stored, story_of, held_out)
    ]
    if not decisions:
        raise ConfigError("cannot fit the storylines model: no labelled storylines to replay")
    x = np.vstack([rows for rows, _ in decisions])
    y = np.concatenate([np.arange(len(rows)) == k for rows, k in decisions]).astype(np.float64)
    model = fit_pair_model("storylines", FEATURES, x, y, threshold=0.5, meta=meta)
    scores: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    for stored, story_of in zip(sets, story_ofs, strict=True):
        truth = {i: g for i, g in _truth(stored).items() if g != held_out}
        for threshold in THRESHOLDS:
            decided = storyline_of_items(stored, story_of, replace(model, threshold=threshold))
            scores[threshold].append(pairwise_f1(truth, decided))
    # The best mean F1 over the sets; ties: the lowest threshold.
    best = max(THRESHOLDS, key=lambda t: (round(sum(scores[t]) / len(scores[t]), 9), -t))
    return replace(model, threshold=best)


def storyline_reports(
    sets: Sequence[StoredSet],
    story_model: PairModel | None,
    line_model: PairModel | None,
    notes: list[str] | None = None,
) -> dict[str, GroupingReport]:
    """Per stored set: storylines in-sample (the given models; None: the packaged ones) and
    cross-validated by storyline (module doc). When a fold has too few labelled pairs to fit
    on, there is no cross-validated report, and `notes` says why."""
    training = [s for s in sets if s.dating in TRAIN_DATINGS] or list(sets)
    lines = sorted({g for s in sets for g in _truth(s).values()})
    fold_stories: dict[str, list[dict[str, str]]] = {}
    fold_lines: dict[str, PairModel] = {}
    try:
        for line in lines:
            held_events = {
                s.event(a.article_id)
                for s in sets
                for a in s.articles
                if s.label[a.article_id].storyline == line
            }
            story_model_k = fit_stories(training, held_events)
            fold_stories[line] = [regroup(s, story_model_k) for s in sets]
            train_ofs = [fold_stories[line][sets.index(s)] for s in training]
            fold_lines[line] = fit_storylines(training, train_ofs, line)
    except ConfigError as exc:
        fold_lines = {}
        if notes is not None:
            notes.append(f"storylines: no grouped cross-validation ({exc})")
    if not lines and notes is not None:
        notes.append("storylines: no grouped cross-validation (no labelled storylines)")
    out: dict[str, GroupingReport] = {}
    for n, stored in enumerate(sets):
        truth = _truth(stored)
        decided = storyline_of_items(stored, regroup(stored, story_model), line_model)
        out[f"{stored.dating}:in-sample"] = grouping_report(
            "storylines", "in-sample: the shipped models", truth, [(set(truth), decided)]
        )
        if not fold_lines:
            continue
        runs = []
        for line in lines:
            judged = {i for i, g in truth.items() if g == line}
            runs.append(
                (judged, storyline_of_items(stored, fold_stories[line][n], fold_lines[line]))
            )
        out[f"{stored.dating}:cv"] = grouping_report(
            "storylines", f"grouped cross-validation, {len(lines)} folds by storyline", truth, runs
        )
    return out
