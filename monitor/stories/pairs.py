"""The evidence two reports share, as the story pair model reads it (model.py).

Each feature is computed for many pairs at once (numpy; scipy for the sparse vectors):

* `text`: cosine of the TF-IDF vectors of title + lead (features.py). Words: per language.
* `actors`, `places`: cosines of the canonical people, organisations and groups, and of the
  canonical places, the classifier found (IDF-weighted). Language-free.
* `figures`: figures both report (the same value of the same thing), up to 3. Language-free.
* `topics`: Jaccard overlap of the classifier's event types. Language-free.
* `count_conflict`: the same thing counted differently ("three rockets" / "ten rockets");
  `weekday_conflict`: disjoint weekdays named where the dates cannot tell. English cue words.
* `day_gap`: log(1 + days between the two reports' own dates), when both have one.
* `text_day_near`: `text` times how near those dates are (1 the same day, fading over days):
  dates close together make shared words count for more, but never stand in for them.
* `named_gap`, `text_named_near`: the same where the own dates cannot tell (one report or both
  undated), over the day each is about: its own date, else the latest full date its text names
  (any language's dates, once its month names are known: features.py).

A report with no date of its own, or one stamped with the day it was fetched (`stories.own_date`),
has no gap and no nearness: it is judged on what it says, and no date pulls it towards a story or
pushes it away. Only pairs whose dates lie within `clustering.MAX_GAP_DAYS` are fitted on, so the
model learns what tells apart reports their dates cannot (neighbouring events of one kind), not
that reports years apart differ. `LANGUAGE_FREE` lists the features that need no shared words,
for linking reports in two languages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.stories.features import CONCEPT, Idf, cue_day, cues_conflict, script_of_counts

FEATURES = (
    "text",
    "actors",
    "places",
    "figures",
    "topics",
    "concepts",
    "count_conflict",
    "weekday_conflict",
    "day_gap",
    "text_day_near",
    "named_gap",
    "text_named_near",
)
# What tells whether two reports (or two stories) in different languages (writing systems) are
# of one event: the across model's features (model.py), none of which needs a shared word. Dates
# are not among them: they only keep stories apart (clustering.ACROSS_GAP_DAYS), as a stream has
# many events a day and a language-free match on one day is no match.
LANGUAGE_FREE = (
    "actors",
    "places",
    "concepts",
    "figures",
    "topics",
    "weekday_conflict",
    "weekday_match",
)
MAX_FIGURES = 3
NAMED_CLOSE_DAYS = 3
NEAR_DAYS = 2.0  # how fast nearness of dates fades (e-fold in days)
CHUNK = 100_000  # pairs scored at once (bounds memory on big batches)
MATRIX_MIN_PAIRS = 20_000  # pairs from which one sparse product beats row-by-row dot products
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Array = NDArray[np.float64]
Index = NDArray[np.intp]


@dataclass(frozen=True)
class Evidence:
    """What the classifier found in a report: canonical actors and places (name -> mentions),
    the figures it reports ('troops=2500'), its event types and the main one."""

    actors: Mapping[str, int] = field(default_factory=dict)
    places: Mapping[str, int] = field(default_factory=dict)
    figures: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    topic: str | None = None  # the event type it is most about


NO_EVIDENCE = Evidence()


@dataclass
class Member:
    """One report as clustering sees it: its terms, cues, own date and evidence."""

    article_id: str
    counts: dict[str, float]
    cues: list[str]
    event_at: datetime | None
    evidence: Evidence = NO_EVIDENCE
    vector: dict[str, float] | None = None
    script: str | None = None  # the writing system of its terms (`script_of`), when known


def script_of(member: Member) -> str:
    """The writing system of a report's terms ("arabic" or "latin"; "" with no terms): two reports
    in different ones share no words, so the across model judges them (model.py)."""
    if member.script is None:
        member.script = script_of_counts(member.counts)
    return member.script


def entity_idf(df: Mapping[str, int], documents: int) -> dict[str, float]:
    """How telling each canonical name is: named in few reports, telling."""
    return {name: math.log((documents + 1) / (n + 0.5)) for name, n in df.items()}


def _days(when: datetime | None) -> float:
    return when.timestamp() / 86400 if when is not None else math.nan


class PairScorer:
    """Pair features (module doc) for members of one clustering, by member index."""

    def __init__(self, members: Sequence[Member], idf: Idf, names: Mapping[str, float]) -> None:
        from scipy import sparse  # here: SciPy takes 0.3 s to import, and most runs never cluster

        self._sparse = sparse
        self.members = list(members)
        self.idf = idf
        self.text = self._matrix([self._vector(m) for m in self.members])
        unknown = max(names.values(), default=1.0)

        def weighed(found: Mapping[str, int]) -> dict[str, float]:
            return {k: (1 + math.log(max(n, 1))) * names.get(k, unknown) for k, n in found.items()}

        self.actors = self._matrix([_unit(weighed(m.evidence.actors)) for m in self.members])
        self.places = self._matrix([_unit(weighed(m.evidence.places)) for m in self.members])
        self.figures = self._matrix([dict.fromkeys(m.evidence.figures, 1.0) for m in self.members])
        self.topics = self._matrix([dict.fromkeys(m.evidence.topics, 1.0) for m in self.members])
        self.concepts = self._matrix(
            [_unit({c: idf(c) for c in m.cues if c.startswith(CONCEPT)}) for m in self.members]
        )
        self.topic_count = np.array([len(m.evidence.topics) for m in self.members], dtype=float)
        self.day = np.array([_days(m.event_at) for m in self.members])
        # The day a report is about: its own date, else the latest full date its text names.
        named = [cue_day(m.cues) for m in self.members]
        self.named = np.array(
            [
                _days(m.event_at)
                if m.event_at is not None
                else datetime(d.year, d.month, d.day).timestamp() / 86400
                if d
                else math.nan
                for m, d in zip(self.members, named, strict=True)
            ]
        )
        self.weekdays = np.array(
            [
                sum(1 << i for i, w in enumerate(_WEEKDAYS) if f"wd:{w}" in m.cues)
                for m in self.members
            ],
            dtype=np.int64,
        )
        # The weekday of each report's own date, as a bit like `weekdays` (0: none).
        self.own_weekday = np.array(
            [1 << m.event_at.weekday() if m.event_at is not None else 0 for m in self.members],
            dtype=np.int64,
        )
        self.counted = np.array([any(c.startswith("n:") for c in m.cues) for m in self.members])
        scripts = sorted({script_of(m) for m in self.members})
        self.script = np.array([scripts.index(script_of(m)) for m in self.members], dtype=np.intp)
        self._text_product: Any = None

    def _vector(self, m: Member) -> dict[str, float]:
        if m.vector is None:
            m.vector = self.idf.vector(m.counts)
        return m.vector

    def _matrix(self, rows: Sequence[Mapping[str, float]]) -> Any:
        columns: dict[str, int] = {}
        r: list[int] = []
        c: list[int] = []
        data: list[float] = []
        for i, row in enumerate(rows):
            for key, value in row.items():
                r.append(i)
                c.append(columns.setdefault(key, len(columns)))
                data.append(value)
        return self._sparse.csr_matrix(
            (np.asarray(data, dtype=np.float64), (r, c)), shape=(len(rows), max(len(columns), 1))
        )

    def _dot(self, matrix: Any, i: Index, j: Index) -> Array:
        return np.asarray(matrix[i].multiply(matrix[j]).sum(axis=1), dtype=np.float64).ravel()

    def _text(self, i: Index, j: Index, many: bool) -> Array:
        if many and self._text_product is None:
            self._text_product = (self.text @ self.text.T).tocsr()
        if self._text_product is not None:
            return np.asarray(self._text_product[i, j], dtype=np.float64).ravel()
        return self._dot(self.text, i, j)

    def columns(self, i: Index, j: Index, *, many: bool = False) -> dict[str, Array]:
        """The features of the pairs (i[k], j[k])."""
        conflict = np.zeros(len(i))
        for k in np.nonzero(self.counted[i] & self.counted[j])[0]:
            a, b = self.members[i[k]], self.members[j[k]]
            conflict[k] = float(cues_conflict(a.cues, b.cues))
        return _features(
            text=self._text(i, j, many),
            actors=self._dot(self.actors, i, j),
            places=self._dot(self.places, i, j),
            concepts=self._dot(self.concepts, i, j),
            figures=self._dot(self.figures, i, j),
            topics_shared=self._dot(self.topics, i, j),
            topics_a=self.topic_count[i],
            topics_b=self.topic_count[j],
            day_gap=np.abs(self.day[i] - self.day[j]),
            named_gap=np.abs(self.named[i] - self.named[j]),
            weekdays_a=self.weekdays[i],
            weekdays_b=self.weekdays[j],
            conflict=conflict,
        )

    def all_columns(self) -> dict[str, Array]:
        """The features of every pair of members, each as a square matrix (sparse products)."""
        n = len(self.members)

        def product(matrix: Any) -> Array:
            return np.asarray((matrix @ matrix.T).toarray(), dtype=np.float64)

        conflict = np.zeros((n, n))
        counted = np.nonzero(self.counted)[0]
        for x in range(len(counted)):
            for y in range(x + 1, len(counted)):
                a, b = counted[x], counted[y]
                if cues_conflict(self.members[a].cues, self.members[b].cues):
                    conflict[a, b] = conflict[b, a] = 1.0
        return _features(
            text=product(self.text),
            actors=product(self.actors),
            places=product(self.places),
            concepts=product(self.concepts),
            figures=product(self.figures),
            topics_shared=product(self.topics),
            topics_a=self.topic_count[:, None],
            topics_b=self.topic_count[None, :],
            day_gap=np.abs(self.day[:, None] - self.day[None, :]),
            named_gap=np.abs(self.named[:, None] - self.named[None, :]),
            weekdays_a=self.weekdays[:, None],
            weekdays_b=self.weekdays[None, :],
            conflict=conflict,
        )

    def group_columns(
        self, a: Sequence[Sequence[int]], b: Sequence[Sequence[int]]
    ) -> dict[str, Array]:
        """The features of the pairs of groups (a[k], b[k]) of members, each group taken as one
        report: its actors, places and concepts summed, its event types, figures and weekdays
        together, its dates as a span (text: none)."""
        every = [*a, *b]
        n = len(a)
        sparse = self._sparse
        rows = [k for k, g in enumerate(every) for _ in g]
        cols = [m for g in every for m in g]
        own = sparse.csr_matrix(
            (np.ones(len(cols)), (rows, cols)), shape=(len(every), len(self.members))
        )

        def summed(matrix: Any, unit: bool) -> Any:
            total = (own @ matrix).tocsr()
            if unit:
                norms = np.sqrt(np.asarray(total.multiply(total).sum(axis=1)).ravel())
                total = sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ total
            return total.tocsr()

        def dot(matrix: Any) -> Array:
            return np.asarray(matrix[:n].multiply(matrix[n:]).sum(axis=1), dtype=np.float64).ravel()

        topics = summed(self.topics, False)
        topics.data[:] = 1.0
        figures = summed(self.figures, False)
        figures.data[:] = 1.0
        topic_count = np.asarray(topics.sum(axis=1), dtype=np.float64).ravel()
        weekdays = np.array(
            [np.bitwise_or.reduce(self.weekdays[g]) if len(g) else 0 for g in every]
        )

        # Dates are no features across languages (LANGUAGE_FREE): weekdays count as if undated.
        return _features(
            text=np.zeros(n),
            actors=dot(summed(self.actors, True)),
            places=dot(summed(self.places, True)),
            concepts=dot(summed(self.concepts, True)),
            figures=dot(figures),
            topics_shared=dot(topics),
            topics_a=topic_count[:n],
            topics_b=topic_count[n:],
            day_gap=np.full(n, np.nan),
            named_gap=np.full(n, np.nan),
            weekdays_a=weekdays[:n],
            weekdays_b=weekdays[n:],
            conflict=np.zeros(n),
        )

    def days_apart(self, a: Sequence[int], b: Sequence[int]) -> float | None:
        """Days between the own dates of two groups of members (0 when they overlap), or None
        when either has none."""
        da, db = self.day[list(a)], self.day[list(b)]
        da, db = da[np.isfinite(da)], db[np.isfinite(db)]
        if not len(da) or not len(db):
            return None
        return float(max(db.min() - da.max(), da.min() - db.max(), 0.0))

    def kinds_differ(self, a: Sequence[int], b: Sequence[int]) -> bool:
        """Whether two groups of members are about different kinds of event: the event types
        they are mostly about (`main_kinds`) have none in common, or one has none."""
        return not self.main_kinds(a) & self.main_kinds(b)

    def own_dated(self, group: Sequence[int]) -> bool:
        """Whether a report of the group has an own date."""
        return bool(np.isfinite(self.day[list(group)]).any())

    def places_differ(self, a: Sequence[int], b: Sequence[int], *, strict: bool) -> bool:
        """Whether the places two groups of members are most about (canonical places weighed
        by mentions and rarity, summed) differ: neither names the other's, or (`strict`, for
        events that happen at a place: an attack on Victory Base and one on Erbil Air Base)
        one does not name the other's."""

        def summed(group: Sequence[int]) -> Array:
            return np.asarray(self.places[list(group)].sum(axis=0), dtype=np.float64).ravel()

        pa, pb = summed(a), summed(b)
        if not pa.any() or not pb.any():
            return False
        missing = (pb[int(pa.argmax())] == 0, pa[int(pb.argmax())] == 0)
        return any(missing) if strict else all(missing)

    def main_kinds(self, group: Sequence[int]) -> set[str]:
        """The event types most members of a group are most about (ties: all of them)."""
        counts = Counter(t for t in (self.members[i].evidence.topic for i in group) if t)
        top = max(counts.values(), default=0)
        return {t for t, n in counts.items() if n == top}

    def weekdays_agree(self, a: Sequence[int], b: Sequence[int]) -> bool | None:
        """Whether two groups of members agree on the weekday: where both name weekdays, one in
        common; where one names some and the other has own dates, one of those dates' weekdays.
        A group with no own date must name one weekday only (several do not say which day it is
        about). None when that cannot be told."""

        def bits(values: NDArray[np.int64], group: Sequence[int]) -> int:
            return int(np.bitwise_or.reduce(values[list(group)])) if len(group) else 0

        named_a, named_b = bits(self.weekdays, a), bits(self.weekdays, b)
        own_a, own_b = bits(self.own_weekday, a), bits(self.own_weekday, b)
        if not (named_a and (named_b or own_b)) and not (named_b and (named_a or own_a)):
            return None
        if (named_a and not own_a and named_a.bit_count() > 1) or (
            named_b and not own_b and named_b.bit_count() > 1
        ):
            return False
        if named_a and named_b:
            return bool(named_a & named_b)
        return bool((named_a & own_b) or (named_b & own_a))

    def across(self, i: Index, j: Index) -> NDArray[np.bool_]:
        """Whether each pair (i[k], j[k]) is of two writing systems (no shared words)."""
        return np.asarray(self.script[i] != self.script[j], dtype=bool)

    def probability_matrix(self, model: Any) -> Array:
        """The probability for every pair of members, as a square matrix: the model's for
        reports in one writing system, its `across` model's for two (0 without one)."""
        columns = self.all_columns()
        within = np.asarray(model.probabilities(columns), dtype=np.float64)
        apart = self.script[:, None] != self.script[None, :]
        if not apart.any():
            return within
        linked = model.across.probabilities(columns) if model.across is not None else 0.0
        return np.asarray(np.where(apart, linked, within), dtype=np.float64)

    def probabilities(self, model: Any, i: Index, j: Index) -> Array:
        """The probability for each pair (i[k], j[k]) (as `probability_matrix`), in chunks."""
        many = len(i) >= MATRIX_MIN_PAIRS
        parts = []
        for s in range(0, len(i), CHUNK):
            a, b = i[s : s + CHUNK], j[s : s + CHUNK]
            columns = self.columns(a, b, many=many)
            p = np.asarray(model.probabilities(columns), dtype=np.float64)
            apart = self.across(a, b)
            if apart.any():
                linked = model.across.probabilities(columns) if model.across is not None else 0.0
                p = np.where(apart, linked, p)
            parts.append(p)
        return np.concatenate(parts) if parts else np.zeros(0)


def _features(
    *,
    text: Array,
    actors: Array,
    places: Array,
    concepts: Array,
    figures: Array,
    topics_shared: Array,
    topics_a: Array,
    topics_b: Array,
    day_gap: Array,
    named_gap: Array,
    weekdays_a: NDArray[np.int64],
    weekdays_b: NDArray[np.int64],
    conflict: Array,
) -> dict[str, Array]:
    """The model's features from the raw measures of pairs (any shape; a NaN gap: no date)."""
    dated = ~np.isnan(day_gap)
    gap = np.nan_to_num(day_gap, nan=0.0)
    named = ~dated & ~np.isnan(named_gap)  # where the own dates cannot tell
    named_days = np.nan_to_num(named_gap, nan=0.0)
    union = topics_a + topics_b - topics_shared
    # Weekdays stand in for dates only where the dates cannot tell: a report undated, or
    # both dated the same day (days apart explain a preview on Saturday, a visit on Monday).
    weekday = (
        (weekdays_a > 0)
        & (weekdays_b > 0)
        & ((weekdays_a & weekdays_b) == 0)
        & (~dated | (gap < 1))
    )
    same_weekday = (weekdays_a & weekdays_b) > 0
    # Near dates make shared words count for more, unless the two are events of different types
    # (a vote and a rocket attack on one day share words, not an event).
    kinds_apart = (topics_a > 0) & (topics_b > 0) & (topics_shared == 0)
    day_near = np.where(dated & ~kinds_apart, np.exp(-gap / NEAR_DAYS), 0.0)
    named_near = np.where(named & ~kinds_apart, np.exp(-named_days / NEAR_DAYS), 0.0)
    return {
        "text": text,
        "actors": actors,
        "places": places,
        "concepts": concepts,
        "figures": np.minimum(figures, MAX_FIGURES),
        "topics": np.divide(
            topics_shared,
            union,
            out=np.zeros(np.broadcast(topics_shared, union).shape),
            where=union > 0,
        ),
        "count_conflict": conflict,
        "weekday_conflict": weekday.astype(np.float64),
        "weekday_match": (same_weekday & (~dated | (gap < 1))).astype(np.float64),
        "dated": dated.astype(np.float64),
        "day_gap": np.where(dated, np.log1p(gap), 0.0),
        "same_day": (dated & (gap <= 1)).astype(np.float64),
        "text_day_near": text * day_near,
        "named": named.astype(np.float64),
        "named_gap": np.where(named, np.log1p(named_days), 0.0),
        "named_close": (named & (named_days <= NAMED_CLOSE_DAYS)).astype(np.float64),
        "text_named_near": text * named_near,
        "text_undated": np.where(dated, 0.0, text),
        "concepts_undated": np.where(dated, 0.0, concepts),
        "concepts_day_near": concepts * day_near,
        "concepts_named_near": concepts * named_near,
    }


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {k: v / norm for k, v in vector.items()}
