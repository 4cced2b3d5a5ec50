"""Average-linkage clustering of a batch of reports into stories, stored stories as seeds.

Two groups merge while their mean member-to-member cosine similarity reaches `JOIN_THRESHOLD`,
their dates lie within `WINDOW_DAYS` (when known), and no event cue contradicts (see
features.py). Candidate pairs are those sharing at least `MIN_SHARED_TERMS` distinctive terms,
plus the stored stories the store found for each report. Pure: it reads and writes nothing.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from monitor.stories.features import Idf, cosine, cues_conflict, weekdays_differ

log = logging.getLogger(__name__)

# Parameters (see docs/dedup.md).
WINDOW_DAYS = 4
JOIN_THRESHOLD = 0.2
WEEKDAY_PENALTY = 0.8
MIN_SHARED_TERMS = 2
MAX_POSTING = 200
DENSE_MAX = 4000  # members up to which the similarity matrix is held dense (128 MB)
MATRIX_MIN_PAIRS = 20_000  # candidate pairs from which one matrix product beats pair by pair


@dataclass
class Member:
    """One report as clustering sees it: its terms, cues and event date."""

    article_id: str
    counts: dict[str, float]
    cues: list[str]
    event_at: datetime | None
    vector: dict[str, float] | None = None


@dataclass
class StoredStory:
    """A stored story that a batch's reports may join, with its members' features."""

    story_id: str
    members: list[Member] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None


class Group:
    """A cluster during batch clustering: pending articles, perhaps with stored stories.

    Two stored stories end up in one group when the batch's reports bridge them; the group
    keeps the story with the most reports (`story_id`) and the others are merged into it.
    """

    def __init__(self, key: int, members: list[Member], story: StoredStory | None = None) -> None:
        self.key = key
        self.members = list(members)
        self.stories: list[tuple[str, int]] = [(story.story_id, len(members))] if story else []
        self.first_at = story.first_at if story else None
        self.last_at = story.last_at if story else None
        self.version = 0
        for m in members:
            self._add_date(m.event_at)
        self.cue_set = {c for m in members for c in m.cues}

    def _add_date(self, when: datetime | None) -> None:
        if when is None:
            return
        self.first_at = when if self.first_at is None else min(self.first_at, when)
        self.last_at = when if self.last_at is None else max(self.last_at, when)

    @property
    def story_id(self) -> str | None:
        """The stored story this group continues (the largest of those it holds), or None."""
        if not self.stories:
            return None
        return min(self.stories, key=lambda s: (-s[1], s[0]))[0]

    @property
    def merged(self) -> list[str]:
        """Stored stories this group folds into `story_id`."""
        keep = self.story_id
        return sorted(sid for sid, _ in self.stories if sid != keep)

    def absorb(self, other: Group) -> None:
        self.stories.extend(other.stories)
        self.members.extend(other.members)
        self._add_date(other.first_at)
        self._add_date(other.last_at)
        self.cue_set |= other.cue_set
        self.version += 1

    def gap_days(self, other: Group) -> float:
        if None in (self.first_at, self.last_at, other.first_at, other.last_at):
            return 0.0
        assert self.first_at and self.last_at and other.first_at and other.last_at
        if other.first_at > self.last_at:
            return (other.first_at - self.last_at).total_seconds() / 86400
        if self.first_at > other.last_at:
            return (self.first_at - other.last_at).total_seconds() / 86400
        return 0.0


class _Linkage:
    """Average linkage between groups, each pair's similarity sum kept across merges.

    A merged group's sum towards a neighbour is the sum of its two parts' (Lance-Williams for
    average linkage), so a merge costs one addition per neighbour, not a pass over every
    member pair. With many candidate pairs (a batch on one subject), every cosine similarity
    comes from one sparse matrix product of the linked members' unit TF-IDF vectors (the
    batch's reports and the candidate stories' stored reports); with few, pair by pair as
    asked. Computed pair by pair and re-read after every merge, a batch of 1,000 reports on
    one subject took 9 s (280,000 candidate pairs).
    """

    def __init__(self, idf: Idf, members: list[Member], pairs: int) -> None:
        self.idf = idf
        self.row = {m.article_id: i for i, m in enumerate(members)}
        self.sums: dict[int, dict[int, float]] = {}  # group key -> group key -> sum
        self.sim: Any = None  # the member-by-member similarity matrix, when worth building
        self.cosines: dict[tuple[str, str], float] = {}  # else: member pairs computed so far
        if pairs < MATRIX_MIN_PAIRS:
            return  # few candidate pairs: computing the ones asked for is cheaper
        from scipy import sparse  # here: SciPy takes 0.3 s to import, and most runs never cluster

        columns: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        data: list[float] = []
        for i, m in enumerate(members):
            for term, weight in self._vector(m).items():
                rows.append(i)
                cols.append(columns.setdefault(term, len(columns)))
                data.append(weight)
        matrix = sparse.csr_matrix(
            (np.asarray(data, dtype=np.float64), (rows, cols)),
            shape=(len(members), max(len(columns), 1)),
        )
        product = matrix @ matrix.T
        self.sim = product.toarray() if len(members) <= DENSE_MAX else product.tocsr()

    def _vector(self, m: Member) -> dict[str, float]:
        if m.vector is None:
            m.vector = self.idf.vector(m.counts)
        return m.vector

    def _rows(self, group: Group) -> np.ndarray[Any, np.dtype[np.intp]]:
        return np.fromiter((self.row[m.article_id] for m in group.members), dtype=np.intp)

    def _pairwise(self, a: Group, b: Group) -> float:
        total = 0.0
        for x in a.members:
            for y in b.members:
                ids = (
                    (x.article_id, y.article_id)
                    if x.article_id < y.article_id
                    else (y.article_id, x.article_id)
                )
                sim = self.cosines.get(ids)
                if sim is None:
                    sim = self.cosines[ids] = cosine(self._vector(x), self._vector(y))
                total += sim
        return total

    def sum(self, a: Group, b: Group) -> float:
        total = self.sums.get(a.key, {}).get(b.key)
        if total is not None:
            return total
        if self.sim is None:
            total = self._pairwise(a, b)
        elif len(a.members) == 1 == len(b.members):
            # Most pairs, before any merge: two reports; one lookup, nothing kept.
            x, y = self.row[a.members[0].article_id], self.row[b.members[0].article_id]
            return float(self.sim[x, y])
        elif isinstance(self.sim, np.ndarray):
            total = float(self.sim[np.ix_(self._rows(a), self._rows(b))].sum())
        else:
            total = float(self.sim[self._rows(a)][:, self._rows(b)].sum())
        self.sums.setdefault(a.key, {})[b.key] = total
        self.sums.setdefault(b.key, {})[a.key] = total
        return total

    def surely_below(self, a: Group, b: Group) -> bool:
        """Two reports whose similarity is under the threshold: no penalty or date lifts it."""
        if self.sim is None or len(a.members) != 1 or len(b.members) != 1:
            return False
        x, y = self.row[a.members[0].article_id], self.row[b.members[0].article_id]
        return bool(self.sim[x, y] < JOIN_THRESHOLD)

    def merged(self, a: Group, b: Group, neighbours: list[Group]) -> None:
        """Before `a` absorbs `b`: carry the sums towards each neighbour over to the merge."""
        carried = {n.key: self.sum(a, n) + self.sum(b, n) for n in neighbours}
        for gone in (a.key, b.key):
            for other in self.sums.pop(gone, {}):
                self.sums.get(other, {}).pop(gone, None)
        mine = self.sums[a.key] = {}
        for n, total in carried.items():
            mine[n] = total
            self.sums.setdefault(n, {})[a.key] = total

    def score(self, a: Group, b: Group) -> float:
        """Average cosine similarity between two groups, or 0 when time or cues rule a merge
        out.

        Two stored stories are compared only once the batch has linked them: they are never
        neighbours of each other at the start, only through a report that joined one of them.
        """
        if a.gap_days(b) > WINDOW_DAYS or cues_conflict(a.cue_set, b.cue_set):
            return 0.0
        score = self.sum(a, b) / (len(a.members) * len(b.members))
        # Weekdays named in the leads stand in for dates, where the dates cannot tell: a
        # report undated, or both dated the same day. Days apart explain different weekdays
        # (a preview on Saturday and the visit on Monday are one story).
        if (a.first_at is None or b.first_at is None or a.gap_days(b) < 1) and weekdays_differ(
            a.cue_set, b.cue_set
        ):
            score *= WEEKDAY_PENALTY
        return score


def cluster(
    members: list[Member],
    stories: dict[str, StoredStory],
    cand_of: dict[str, list[str]],
    idf: Idf,
    adopted: dict[str, str],
    query_terms: dict[str, list[str]],
) -> list[Group]:
    """Average-linkage clustering of the batch, stored candidate stories as fixed seeds."""
    groups: dict[int, Group] = {}
    owner: dict[str, int] = {}  # article id / story id -> group key
    for i, member in enumerate(members):
        groups[i] = Group(i, [member])
        owner[member.article_id] = i
    for sid, story in stories.items():
        key = len(groups)
        groups[key] = Group(key, story.members, story)
        owner[sid] = key
    # Articles found to predate a stored story's origin take that story.
    for member in members:
        taken = adopted.get(member.article_id)
        if taken is None:
            continue
        if taken not in owner:
            key = len(groups)
            groups[key] = Group(key, [], StoredStory(taken))
            owner[taken] = key
        target, mine = groups[owner[taken]], groups[owner[member.article_id]]
        target.absorb(mine)
        del groups[mine.key]
        owner[member.article_id] = target.key

    neighbours: dict[int, set[int]] = {k: set() for k in groups}
    postings: dict[str, list[int]] = {}
    for i, member in enumerate(members):
        for term in query_terms[member.article_id]:
            postings.setdefault(term, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in postings.values():
        if len(ids) > MAX_POSTING:
            continue  # a term this common says nothing about the event
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                shared[(ids[x], ids[y])] += 1
    for (x, y), n in shared.items():
        if n >= MIN_SHARED_TERMS:
            gx, gy = owner[members[x].article_id], owner[members[y].article_id]
            if gx != gy:
                neighbours[gx].add(gy)
                neighbours[gy].add(gx)
    for aid, sids in cand_of.items():
        ka = owner.get(aid)
        for sid in sids:
            ks = owner.get(sid)
            if ka is not None and ks is not None and ka != ks:
                neighbours[ka].add(ks)
                neighbours[ks].add(ka)

    # Only reports that can merge with something need a vector (a merge only ever links
    # neighbours and their neighbours, all in this set).
    linked = [m for k, ns in neighbours.items() if ns and k in groups for m in groups[k].members]
    pairs = sum(len(ns) for ns in neighbours.values()) // 2
    linkage = _Linkage(idf, list({m.article_id: m for m in linked}.values()), pairs)
    heap: list[tuple[float, int, int, int, int]] = []
    for a, ns in neighbours.items():
        for b in ns:
            if a < b and a in groups and b in groups:
                if linkage.surely_below(groups[a], groups[b]):
                    continue
                score = linkage.score(groups[a], groups[b])
                if score >= JOIN_THRESHOLD:
                    heapq.heappush(heap, (-score, a, b, groups[a].version, groups[b].version))
    while heap:
        neg, a, b, va, vb = heapq.heappop(heap)
        ga, gb = groups.get(a), groups.get(b)
        if ga is None or gb is None or ga.version != va or gb.version != vb:
            continue
        log.debug("merge %s + %s at %.3f", ga.members[0].article_id, gb.members[0].article_id, -neg)
        merged = (neighbours.pop(b, set()) | neighbours[a]) - {a, b}
        linkage.merged(ga, gb, [groups[n] for n in merged if n in groups])
        ga.absorb(gb)
        del groups[b]
        neighbours[a] = merged
        for n in merged:
            neighbours[n].discard(b)
            neighbours[n].add(a)
            gn = groups.get(n)
            if gn is None:
                continue
            score = linkage.score(ga, gn)
            if score >= JOIN_THRESHOLD:
                x, y = (a, n) if a < n else (n, a)
                heapq.heappush(heap, (-score, x, y, groups[x].version, groups[y].version))
    order = {m.article_id: i for i, m in enumerate(members)}
    out = [g for g in groups.values() if any(m.article_id in order for m in g.members)]
    for g in out:
        g.members.sort(key=lambda m: order.get(m.article_id, -1))
    return out
