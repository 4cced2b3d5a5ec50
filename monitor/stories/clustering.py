"""Average-linkage clustering of a batch of reports into stories, stored stories as seeds.

Two groups merge while the mean probability over their member pairs that two reports are one
event (the pair model: model.py, pairs.py) reaches the model's threshold, and their own dates,
when both groups have some, lie within `MAX_GAP_DAYS`. The pair with the highest mean merges
first. Candidate pairs are those sharing at least `MIN_SHARED_KEYS` distinctive terms, canonical
names or named days, plus the stored stories the store found for each report. Pure: it reads and
writes nothing, and the same reports give the same stories in whatever order they came.

Languages: two groups that have reports in one writing system are judged on those pairs alone
(words can be compared). Two groups with none (an Arabic story and an English one) are judged on
the pairs across, by the model's `across` regression (evidence that needs no shared words) and
its own, stricter threshold, and only once no merge within a language is left: stories form in
each language first, then join across languages as wholes (precision first: a wrong link
between languages costs an analyst more than a missed one). Without an `across` model, reports
in two languages never join.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from monitor.stories.features import Idf
from monitor.stories.model import PairModel
from monitor.stories.pairs import Member, PairScorer, script_of

log = logging.getLogger(__name__)

# Parameters (see docs/dedup.md).
MAX_GAP_DAYS = 21  # groups whose own dates lie further apart are two stories, whatever else
# Across languages: the own dates of two stories must lie this close, when both have some; and a
# pair of reports this likely (by the across model) makes two stories candidates to be judged
# as wholes.
ACROSS_GAP_DAYS = 3
ACROSS_CANDIDATE = 0.05
# Event types that happen at one place (`taxonomy.toml` topics): two reports of one must name
# the place each is most about.
PLACED_KINDS = frozenset(["attack_on_us_forces", "us_strike"])
BY_DATES, BY_WEEKDAY = 1, 2  # how two stories in two languages agree on when (`days_agree`)
MIN_SHARED_KEYS = 2
MAX_POSTING = 200
DENSE_MAX = 1200  # members up to which every pair is scored at once (11 MB per feature)

__all__ = ["MAX_GAP_DAYS", "Group", "Member", "StoredStory", "cluster", "neighbour_keys"]


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
        self.scripts: Counter[str] = Counter(script_of(m) for m in members)
        for m in members:
            self._add_date(m.event_at)

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
        """Take another group's members, stories and dates."""
        self.stories.extend(other.stories)
        self.members.extend(other.members)
        self.scripts.update(other.scripts)
        self._add_date(other.first_at)
        self._add_date(other.last_at)
        self.version += 1

    def gap_days(self, other: Group) -> float:
        """Days between the two groups' own dates (0 when either has none, or they overlap)."""
        if None in (self.first_at, self.last_at, other.first_at, other.last_at):
            return 0.0
        assert self.first_at and self.last_at and other.first_at and other.last_at
        if other.first_at > self.last_at:
            return (other.first_at - self.last_at).total_seconds() / 86400
        if self.first_at > other.last_at:
            return (self.first_at - other.last_at).total_seconds() / 86400
        return 0.0

    def pairs_within(self, other: Group) -> int:
        """How many member pairs across the two groups share a writing system."""
        return sum(n * other.scripts[script] for script, n in self.scripts.items())


class _Linkage:
    """Average linkage between groups, each pair's probability sum kept across merges.

    A merged group's sum towards a neighbour is the sum of its two parts' (Lance-Williams for
    average linkage), so a merge costs one addition per neighbour. Member pairs are scored by the
    pair model in bulk (numpy), all candidate pairs at once, then only the pairs a merge brings
    that were never scored. Only pairs within one writing system are summed; two groups with none
    are judged as wholes by the across model (module doc).
    """

    def __init__(self, scorer: PairScorer, model: PairModel) -> None:
        self.scorer = scorer
        self.model = model
        self.row = {m.article_id: i for i, m in enumerate(scorer.members)}
        self.prob: dict[tuple[int, int], float] = {}
        self.sums: dict[int, dict[int, float]] = {}  # group key -> group key -> sum within
        # Up to DENSE_MAX members every pair is scored at once; beyond, the pairs asked for.
        self.matrix = scorer.probability_matrix(model) if len(scorer.members) <= DENSE_MAX else None
        self.apart = scorer.script[:, None] != scorer.script[None, :]
        self.wholes: dict[tuple[int, int, int, int], float] = {}

    def _rows(self, group: Group) -> list[int]:
        return [self.row[m.article_id] for m in group.members]

    def prefetch(self, pairs: list[tuple[Group, Group]]) -> None:
        """Score every member pair of these group pairs not scored yet, in one go."""
        if self.matrix is not None:
            return
        wanted: set[tuple[int, int]] = set()
        for a, b in pairs:
            if not a.pairs_within(b):
                continue  # judged as wholes
            for x in self._rows(a):
                for y in self._rows(b):
                    key = (x, y) if x < y else (y, x)
                    if key not in self.prob and not self.apart[x, y]:
                        wanted.add(key)
        if not wanted:
            return
        ordered = sorted(wanted)
        i = np.fromiter((p[0] for p in ordered), dtype=np.intp, count=len(ordered))
        j = np.fromiter((p[1] for p in ordered), dtype=np.intp, count=len(ordered))
        for key, p in zip(ordered, self.scorer.probabilities(self.model, i, j), strict=True):
            self.prob[key] = float(p)

    def sum(self, a: Group, b: Group) -> float:
        """The probabilities of the member pairs across the two groups that share a writing
        system, summed."""
        total = self.sums.get(a.key, {}).get(b.key)
        if total is not None:
            return total
        ra, rb = self._rows(a), self._rows(b)
        if self.matrix is not None:
            block = self.matrix[np.ix_(ra, rb)]
            total = float(block[~self.apart[np.ix_(ra, rb)]].sum())
        else:
            self.prefetch([(a, b)])
            total = 0.0
            for x in ra:
                for y in rb:
                    if not self.apart[x, y]:
                        total += self.prob[(x, y) if x < y else (y, x)]
        self.sums.setdefault(a.key, {})[b.key] = total
        self.sums.setdefault(b.key, {})[a.key] = total
        return total

    def merged(self, a: Group, b: Group, neighbours: list[Group]) -> None:
        """Before `a` absorbs `b`: carry the sums towards each neighbour over to the merge."""
        self.prefetch([(g, n) for n in neighbours for g in (a, b)])
        carried = {g.key: self.sum(a, g) + self.sum(b, g) for g in neighbours}
        for gone in (a.key, b.key):
            for other in self.sums.pop(gone, {}):
                self.sums.get(other, {}).pop(gone, None)
        mine = self.sums[a.key] = {}
        for n, total in carried.items():
            mine[n] = total
            self.sums.setdefault(n, {})[a.key] = total

    def score(self, a: Group, b: Group) -> tuple[int, float]:
        """Whether the two groups are judged across languages (1) or not (0), and the mean
        probability over their member pairs in one writing system, or (across) the across
        model's probability for the two as wholes; 0 when their own dates lie more than
        `MAX_GAP_DAYS` apart (undated reports cannot bridge events weeks apart)."""
        within = a.pairs_within(b)
        if a.gap_days(b) > MAX_GAP_DAYS:
            return (0 if within else 1), 0.0
        if within:
            return 0, self.sum(a, b) / within
        return 1, self.whole(a, b)

    def whole(self, a: Group, b: Group) -> float:
        """The across model's probability that two groups in different languages are one
        event, each taken as one report (`PairScorer.group_columns`); 0 without an across model
        and, precision first, unless their days agree (`days_agree`; by a weekday only, the
        probability is taken as 2p - 1), they are mostly about one kind of event, and their
        places agree (`PairScorer.places_differ`; strictly for attacks and strikes, which
        happen at a place)."""
        across = self.model.across
        if across is None:
            return 0.0
        if a.key > b.key:
            a, b = b, a
        key = (a.key, a.version, b.key, b.version)
        found = self.wholes.get(key)
        if found is None:
            ra, rb = self._rows(a), self._rows(b)
            scorer = self.scorer
            # The cheap conditions first: most candidate pairs fail one of them.
            when = days_agree(scorer, ra, rb)
            if (
                not when
                or scorer.kinds_differ(ra, rb)
                or scorer.places_differ(ra, rb, strict=bool(scorer.main_kinds(ra) & PLACED_KINDS))
            ):
                found = 0.0
            else:
                columns = scorer.group_columns([ra], [rb])
                found = float(across.probabilities(columns)[0])
                if when == BY_WEEKDAY:
                    # A weekday is a weak anchor (one in seven agree by chance): the content
                    # must then be halfway from the threshold to certain.
                    found = max(2 * found - 1, 0.0)
            self.wholes[key] = found
        return found

    def reaches(self, judged: int, mean: float) -> bool:
        """Whether a probability is enough to merge (the across model's threshold across
        languages, the model's within)."""
        across = self.model.across
        if judged:
            return across is not None and mean >= across.threshold
        return mean >= self.model.threshold


def days_agree(scorer: PairScorer, a: list[int], b: list[int]) -> int:
    """Whether two groups of reports in different languages agree on when (precision first):
    `BY_DATES` when their own dates lie within `ACROSS_GAP_DAYS`; `BY_WEEKDAY` when one has
    none but names one weekday only, the weekday of one of the other's own dates ("on Sunday"
    in an undated report, a report dated that Sunday); 0 otherwise, and whenever the weekdays
    they name differ. Days a text names may be background: without an own date, nothing says
    the two are of one time, and content alone does not link languages."""
    weekdays = scorer.weekdays_agree(a, b)
    if weekdays is False:
        return 0
    apart = scorer.days_apart(a, b)
    if apart is not None:
        return BY_DATES if apart <= ACROSS_GAP_DAYS else 0
    return BY_WEEKDAY if weekdays and scorer.own_dated(a) != scorer.own_dated(b) else 0


def neighbour_keys(member: Member, query_terms: list[str]) -> list[str]:
    """What a report is looked up by in the batch: its distinctive terms, the canonical names it
    gives and the day it names (the last two need no shared words)."""
    names = [f"e:{n}" for n in (*member.evidence.actors, *member.evidence.places)]
    days = [c for c in member.cues if c.startswith("day:")]
    return [*query_terms, *names, *days]


def _likely(
    linkage: _Linkage,
    owner: dict[str, int],
    groups: dict[int, Group],
    stories: dict[str, StoredStory],
    threshold: float,
) -> dict[int, set[int]]:
    """Groups with a pair of members whose probability reaches the threshold (two stored
    stories only once a report of the batch has joined one of them)."""
    assert linkage.matrix is not None
    group_of = np.empty(len(linkage.row), dtype=np.intp)
    for key, group in groups.items():
        for m in group.members:
            group_of[linkage.row[m.article_id]] = key
    stored = {owner[sid] for sid in stories if sid in owner}
    neighbours: dict[int, set[int]] = {k: set() for k in groups}
    likely = np.where(
        linkage.apart, linkage.matrix >= ACROSS_CANDIDATE, linkage.matrix >= threshold
    )
    rows, cols = np.nonzero(np.triu(likely, k=1))
    for x, y in zip(group_of[rows].tolist(), group_of[cols].tolist(), strict=True):
        if x != y and not (x in stored and y in stored):
            neighbours[x].add(y)
            neighbours[y].add(x)
    return neighbours


def _neighbours(
    members: list[Member],
    owner: dict[str, int],
    groups: dict[int, Group],
    cand_of: dict[str, list[str]],
    query_terms: dict[str, list[str]],
) -> dict[int, set[int]]:
    neighbours: dict[int, set[int]] = {k: set() for k in groups}
    postings: dict[str, list[int]] = {}
    for i, member in enumerate(members):
        for key in neighbour_keys(member, query_terms.get(member.article_id, [])):
            postings.setdefault(key, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in postings.values():
        if len(ids) > MAX_POSTING:
            continue  # a term or name this common says nothing about the event
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                shared[(ids[x], ids[y])] += 1
    for (x, y), n in shared.items():
        if n >= MIN_SHARED_KEYS:
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
    return neighbours


def cluster(
    members: list[Member],
    stories: dict[str, StoredStory],
    cand_of: dict[str, list[str]],
    idf: Idf,
    names: Mapping[str, float],
    model: PairModel,
    adopted: dict[str, str],
    query_terms: dict[str, list[str]],
    merges: list[tuple[float, str, str]] | None = None,
) -> list[Group]:
    """Average-linkage clustering of the batch, stored candidate stories as fixed seeds.

    `members` come in a fixed order (the caller sorts them by date and id), so ties break the
    same way whatever order the reports arrived in. `merges`, when given, receives every merge
    (mean probability, a report of each side), highest first: average linkage never merges
    higher after a lower merge, so without an `across` model the clustering at any higher
    threshold is a prefix of it (merges across languages come after those within)."""
    groups: dict[int, Group] = {}
    owner: dict[str, int] = {}  # article id / story id -> group key
    for i, member in enumerate(members):
        groups[i] = Group(i, [member])
        owner[member.article_id] = i
    # A stored report that is in the batch again (its processing redone) is clustered as a
    # report of the batch, not also as a member of its old story.
    again = set(owner)
    for sid in sorted(stories):
        kept = [m for m in stories[sid].members if m.article_id not in again]
        if not kept:  # every report of it is in the batch: the story forms again from them
            continue
        key = len(groups)
        groups[key] = Group(key, kept, stories[sid])
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

    everyone = [m for k in sorted(groups) for m in groups[k].members]
    if len(everyone) <= DENSE_MAX:
        # Every pair scored at once; two groups can only ever reach the threshold on average
        # if some pair of their members does, so those pairs are the neighbours.
        linkage = _Linkage(PairScorer(everyone, idf, names), model)
        neighbours = _likely(linkage, owner, groups, stories, model.threshold)
    else:
        neighbours = _neighbours(members, owner, groups, cand_of, query_terms)
        # Only reports that can merge with something are scored (a merge only ever links
        # neighbours and their neighbours, all in this set).
        linked = {m.article_id: m for k, ns in neighbours.items() if ns for m in groups[k].members}
        linkage = _Linkage(PairScorer(list(linked.values()), idf, names), model)
    pairs = [(a, b) for a, ns in sorted(neighbours.items()) for b in sorted(ns) if a < b]
    linkage.prefetch([(groups[a], groups[b]) for a, b in pairs])
    # Merges within a language first (highest mean first), then across languages.
    heap: list[tuple[int, float, int, int, int, int]] = []
    for a, b in pairs:
        judged, score = linkage.score(groups[a], groups[b])
        if linkage.reaches(judged, score):
            heapq.heappush(heap, (judged, -score, a, b, groups[a].version, groups[b].version))
    while heap:
        judged, neg, a, b, va, vb = heapq.heappop(heap)
        ga, gb = groups.get(a), groups.get(b)
        if ga is None or gb is None or ga.version != va or gb.version != vb:
            continue
        log.debug(
            "merge %s + %s at %.3f%s",
            ga.members[0].article_id,
            gb.members[0].article_id,
            -neg,
            " across languages" if judged else "",
        )
        if merges is not None:
            merges.append((-neg, ga.members[0].article_id, gb.members[0].article_id))
        merged = (neighbours.pop(b, set()) | neighbours[a]) - {a, b}
        linkage.merged(ga, gb, [groups[n] for n in sorted(merged) if n in groups])
        ga.absorb(gb)
        del groups[b]
        neighbours[a] = merged
        for n in sorted(merged):
            neighbours[n].discard(b)
            neighbours[n].add(a)
            gn = groups.get(n)
            if gn is None:
                continue
            judged, score = linkage.score(ga, gn)
            if linkage.reaches(judged, score):
                x, y = (a, n) if a < n else (n, a)
                heapq.heappush(heap, (judged, -score, x, y, groups[x].version, groups[y].version))
    order = {m.article_id: i for i, m in enumerate(members)}
    out = [g for g in groups.values() if any(m.article_id in order for m in g.members)]
    for g in out:
        g.members.sort(key=lambda m: order.get(m.article_id, -1))
    return out
