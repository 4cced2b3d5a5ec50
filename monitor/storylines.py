"""Storylines: the threads of the issue, stories of many events followed across months and years.

A story is one event (the 27 September 2024 joint statement); a storyline is a thread of them
(ending the coalition mission: the 2024 talks, the joint statement, the 2025 base exits ...). A
story is placed in a storyline once it has a relevant report, and stays there unless an analyst
moves it (`monitor storyline merge|split|detach`):

* **What a story is about** (`Thread`): its event types (the classifier's topics of its relevant
  reports), the actors and the places they name (canonical names, weighed by how rare they are
  across the archive's stories, so "Iraq" and "the United States" say nothing), the words of its
  reports (their TF-IDF vectors summed), and its own dates.
* **What two stories share** (`pair_columns`, `FEATURES`): event types, actors, places, words,
  and how far apart in time they are: by their own dates when both have some, else by the
  latest days their texts name. A learned pair model (monitor/stories/model.py,
  `storyline_model.json`) turns that into the probability that they are one thread, for two
  stories of one kind of thread (`FAMILIES`: US strikes on militias, attacks on US forces, or
  the presence itself); across kinds it is 0 (strikes and the attacks they answer name the same
  militias and bases, the same weeks: the kind keeps tit and tat apart).
* **Where a story belongs** (`place`): average-linkage clustering of the waiting stories, with
  the active storylines (a story within `MAX_GAP_DAYS` of their last one) as fixed seeds: a story
  joins the storyline its stories are on average most likely one thread with, when that reaches
  the model's threshold, and stories that join none open storylines together. Two stored
  storylines are never merged here (only an analyst merges them). Stories are taken in a fixed
  order (date, then id) and ties break by it, so the same stories give the same storylines
  whatever order they came in.
* **Its title**: the storyline's main event type and its two most distinctive actors, until an
  analyst renames it.

Pure: the store hands it the threads and the candidate storylines (`store.storylines`), it
returns the placement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from monitor.models import make_id
from monitor.stories.model import PairModel, load_pair_model

# Parameters (see docs/schema.md, Storylines).
MAX_GAP_DAYS = 365  # stories dated further apart are not one thread (nor offered one)
TITLE_ACTORS = 2
MIN_TITLE_IDF = 0.5  # named in fewer than about half of the stories

FEATURES = (
    "topics",
    "actors",
    "places",
    "text",
    "dated",
    "gap",
    "gap_years",
    "named",
    "named_gap",
    "named_years",
)
MAX_GAP_YEARS = 3.0

# The kind of thread a story's main event type makes it (any other: the presence itself).
FAMILIES = {"us_strike": "strikes", "attack_on_us_forces": "attacks"}
PRESENCE = "presence"
# Which event type is a story's main one when two weigh the same: the more specific first.
TOPIC_ORDER = (
    "us_strike",
    "attack_on_us_forces",
    "parliament_vote",
    "negotiations",
    "withdrawal_drawdown",
    "legal_basis",
    "protest",
    "statement_reaction",
    "isis_threat",
    "iran_influence",
)

TOPIC_LABELS = {
    "parliament_vote": "Parliament and the vote on foreign troops",
    "negotiations": "Talks on the coalition's future",
    "withdrawal_drawdown": "Withdrawal and drawdown",
    "attack_on_us_forces": "Attacks on US forces",
    "us_strike": "US strikes in Iraq",
    "legal_basis": "The legal basis of the presence",
    "statement_reaction": "Statements and reactions",
    "protest": "Protests against the presence",
    "isis_threat": "The Islamic State threat",
    "iran_influence": "Iran's influence",
}

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Thread:
    """A story as storylines see it: event types, actors, places, words, own dates."""

    story_id: str
    topics: Mapping[str, float]
    actors: Mapping[str, float]
    first_at: datetime | None
    last_at: datetime | None
    places: Mapping[str, float] = field(default_factory=dict)
    text: Mapping[str, float] = field(default_factory=dict)  # unit TF-IDF sum of its reports
    named_at: datetime | None = None  # the latest full date its reports' texts name

    @property
    def family(self) -> str:
        """The kind of thread this story belongs to, by its main event type."""
        return family_of(self.topics)


@dataclass(frozen=True)
class Report:
    """A relevant report of a story, as its thread is made of."""

    story_id: str
    topics: Sequence[str]
    entities: Sequence[tuple[str, str]]  # (canonical name, kind)
    vector: Mapping[str, float]  # its unit TF-IDF vector (empty for a copy)
    own_at: datetime | None  # its own date (not a crawl-day stamp, not the story's)
    named_at: datetime | None = None  # the latest full date its text names


ACTOR_KINDS = frozenset({"person", "organization", "group"})


def threads_of(reports: Iterable[Report]) -> list[Thread]:
    """The thread of each story, from its relevant reports (in story id order)."""
    by_story: dict[str, list[Report]] = {}
    for report in reports:
        by_story.setdefault(report.story_id, []).append(report)
    out = []
    for story_id, mine in sorted(by_story.items()):
        topics: dict[str, float] = {}
        actors: dict[str, float] = {}
        places: dict[str, float] = {}
        text: dict[str, float] = {}
        for r in mine:
            for topic in set(r.topics):
                topics[topic] = topics.get(topic, 0.0) + 1.0
            for name, kind in set(r.entities):
                target = actors if kind in ACTOR_KINDS else places if kind == "place" else None
                if target is not None:
                    target[name] = target.get(name, 0.0) + 1.0
            for term, weight in r.vector.items():
                text[term] = text.get(term, 0.0) + weight
        dated = [r.own_at for r in mine if r.own_at is not None]
        named = [r.named_at for r in mine if r.named_at is not None]
        out.append(
            Thread(
                story_id,
                topics,
                actors,
                min(dated) if dated else None,
                max(dated) if dated else None,
                places,
                _unit(text),
                max(named) if named else None,
            )
        )
    return out


def family_of(topics: Mapping[str, float]) -> str:
    """The kind of thread event types make: that of the heaviest (ties: the more specific)."""
    if not topics:
        return PRESENCE
    rank = {topic: i for i, topic in enumerate(TOPIC_ORDER)}
    main = max(topics, key=lambda t: (topics[t], -rank.get(t, len(rank)), t))
    return FAMILIES.get(main, PRESENCE)


@dataclass
class Line:
    """A storyline: its stories, and their summed event types and actors (for its title)."""

    storyline_id: str
    topics: dict[str, float] = field(default_factory=dict)
    actors: dict[str, float] = field(default_factory=dict)
    last_at: datetime | None = None
    new: bool = False
    threads: list[Thread] = field(default_factory=list)

    def add(self, thread: Thread, idf: Mapping[str, float]) -> None:
        """Take a story into the storyline."""
        self.threads.append(thread)
        for key, value in _unit(thread.topics).items():
            self.topics[key] = self.topics.get(key, 0.0) + value
        named = {**thread.places, **thread.actors}  # who and where, for the title
        for key, value in _unit(_weighed(named, idf)).items():
            self.actors[key] = self.actors.get(key, 0.0) + value
        if thread.last_at is not None:
            self.last_at = (
                thread.last_at if self.last_at is None else max(self.last_at, thread.last_at)
            )


@dataclass(frozen=True)
class Placement:
    """The storyline of each placed story, the storylines opened, and the (re)made title of
    every storyline that took a story."""

    storyline_of: dict[str, str]
    opened: list[str]
    titles: dict[str, str]


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {k: v / norm for k, v in vector.items()}


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


def _weighed(actors: Mapping[str, float], idf: Mapping[str, float]) -> dict[str, float]:
    return {k: v * idf.get(k, 0.0) for k, v in actors.items()}


def actor_idf(df: Mapping[str, int], stories: int) -> dict[str, float]:
    """How telling each actor or place is: rare across the archive's stories, telling."""
    return {name: math.log((stories + 1) / (n + 0.5)) for name, n in df.items()}


def _days(when: datetime | None) -> float:
    return when.timestamp() / 86400 if when is not None else math.nan


def _similarities(vectors: Sequence[Mapping[str, float]]) -> Array:
    """Cosine of every pair of these unit vectors (one sparse product)."""
    from scipy import sparse

    columns: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    for i, vector in enumerate(vectors):
        for key, value in vector.items():
            rows.append(i)
            cols.append(columns.setdefault(key, len(columns)))
            data.append(value)
    matrix = sparse.csr_matrix(
        (np.asarray(data, dtype=np.float64), (rows, cols)),
        shape=(len(vectors), max(len(columns), 1)),
    )
    return np.asarray((matrix @ matrix.T).toarray(), dtype=np.float64)


def pair_columns(threads: Sequence[Thread], idf: Mapping[str, float]) -> dict[str, Array]:
    """The features (`FEATURES`) of every pair of these stories, each a square matrix."""
    families = np.array([t.family for t in threads])
    first = np.array([_days(t.first_at) for t in threads])
    last = np.array([_days(t.last_at if t.last_at else t.first_at) for t in threads])
    out = {
        "topics": _similarities([_unit(t.topics) for t in threads]),
        "actors": _similarities([_unit(_weighed(t.actors, idf)) for t in threads]),
        "places": _similarities([_unit(_weighed(t.places, idf)) for t in threads]),
        "text": _similarities([_unit(t.text) for t in threads]),
        "family": (families[:, None] == families[None, :]).astype(np.float64),
    }
    # Days between the two stories' spans (0 when they overlap); unknown when either is undated.
    gap = np.maximum(
        0.0, np.maximum(first[None, :] - last[:, None], first[:, None] - last[None, :])
    )
    dated = ~np.isnan(gap)
    out["dated"] = dated.astype(np.float64)
    out["gap"] = np.where(dated, np.log1p(np.nan_to_num(gap)), 0.0)
    # Log days tell a week from a month; years apart need a measure of their own.
    out["gap_years"] = np.where(dated, np.minimum(np.nan_to_num(gap) / 365, MAX_GAP_YEARS), 0.0)
    # Where either has no date of its own, the days their texts name stand in (weighed apart).
    named_days = np.array([_days(t.named_at) for t in threads])
    named_gap = np.abs(named_days[:, None] - named_days[None, :])
    named = ~dated & ~np.isnan(named_gap)
    out["named"] = named.astype(np.float64)
    out["named_gap"] = np.where(named, np.log1p(np.nan_to_num(named_gap)), 0.0)
    out["named_years"] = np.where(
        named, np.minimum(np.nan_to_num(named_gap) / 365, MAX_GAP_YEARS), 0.0
    )
    return out


def probabilities(model: PairModel, threads: Sequence[Thread], idf: Mapping[str, float]) -> Array:
    """The probability that each pair of stories is one thread: the model's, within one kind of
    thread and `MAX_GAP_DAYS`; 0 across kinds (strikes answer attacks: the kind keeps tit and
    tat apart) and between stories dated further apart (a thread quiet that long that starts
    again is a new thread)."""
    if not threads:
        return np.zeros((0, 0))
    columns = pair_columns(threads, idf)
    near = columns["gap_years"] * 365 <= MAX_GAP_DAYS
    return np.asarray(model.probabilities(columns) * columns["family"] * near, dtype=np.float64)


def _order(thread: Thread) -> tuple[bool, datetime, str]:
    return (thread.first_at is None, thread.first_at or datetime.min, thread.story_id)


def place(
    threads: Sequence[Thread],
    lines: Iterable[Line],
    idf: Mapping[str, float],
    model: PairModel | None = None,
) -> Placement:
    """Place stories in the active storylines, or open new ones (module doc)."""
    model = model or load_pair_model("storylines")
    seeds = sorted(lines, key=lambda line: line.storyline_id)
    waiting = sorted(threads, key=_order)
    members: list[Thread] = [t for line in seeds for t in line.threads] + waiting
    groups: dict[int, list[int]] = {}
    seeded: dict[int, Line] = {}
    row = 0
    for key, line in enumerate(seeds):
        groups[key] = list(range(row, row + len(line.threads)))
        seeded[key] = line
        row += len(line.threads)
    first_free = len(seeds)
    for k in range(len(waiting)):
        groups[first_free + k] = [row + k]
    prob = probabilities(model, members, idf)
    merged = average_linkage(prob, groups, set(seeded), model.threshold)
    storyline_of: dict[str, str] = {}
    grown: dict[str, Line] = {}
    for key, rows in sorted(merged.items()):
        placed = [members[r] for r in rows if r >= row]  # the waiting stories of the group
        if not placed:
            continue
        line = seeded.get(key) or Line(
            make_id("storyline:" + min(placed, key=_order).story_id), new=True
        )
        for thread in sorted(placed, key=_order):
            line.add(thread, idf)
            storyline_of[thread.story_id] = line.storyline_id
        grown[line.storyline_id] = line
    return Placement(
        storyline_of,
        [sid for sid, line in grown.items() if line.new],
        {sid: title_of(line, idf) for sid, line in grown.items()},
    )


def average_linkage(
    prob: Array, groups: dict[int, list[int]], fixed: set[int], threshold: float
) -> dict[int, list[int]]:
    """Merge groups while the mean probability between them reaches the threshold, the most
    likely first; two `fixed` groups (stored storylines) never merge.

    Each pair of groups keeps its probability sum (a merged group's sum towards another is the
    sum of its parts': Lance-Williams), so a merge costs one row of additions."""
    groups = {k: list(v) for k, v in groups.items()}
    fixed = set(fixed)
    keys = sorted(groups)
    at = {k: n for n, k in enumerate(keys)}
    member = np.zeros((len(keys), prob.shape[0]))
    for k, rows in groups.items():
        member[at[k], rows] = 1.0
    sums = member @ prob @ member.T
    size = member.sum(axis=1)
    alive = np.ones(len(keys), dtype=bool)
    pinned = np.array([k in fixed for k in keys], dtype=bool)
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / np.outer(size, size)
        allowed = np.outer(alive, alive) & ~np.outer(pinned, pinned)
        np.fill_diagonal(allowed, False)
        means = np.where(allowed, np.nan_to_num(means, nan=-1.0), -1.0)
        best = float(means.max()) if means.size else -1.0
        if best < threshold:
            break
        # Ties: the first pair in key order.
        x, y = (int(v) for v in np.argwhere(means == best)[0])
        keep, gone = (y, x) if pinned[y] and not pinned[x] else (x, y)  # a storyline keeps its id
        groups[keys[keep]] += groups.pop(keys[gone])
        sums[keep, :] += sums[gone, :]
        sums[:, keep] += sums[:, gone]
        size[keep] += size[gone]
        pinned[keep] |= pinned[gone]
        alive[gone] = False
    return groups


def lines_of(members: Mapping[str, Sequence[Thread]], idf: Mapping[str, float]) -> list[Line]:
    """Stored storylines as profiles, from the threads of their stories."""
    out = []
    for storyline_id, threads in members.items():
        line = Line(storyline_id)
        for thread in sorted(threads, key=_order):
            line.add(thread, idf)
        out.append(line)
    return out


def title_of(line: Line, idf: Mapping[str, float]) -> str:
    """A storyline's title: its main event type and its most distinctive actors (an actor named
    in most of the archive's stories, such as Iraq itself, tells nothing)."""
    topic = max(line.topics.items(), key=lambda kv: (kv[1], kv[0]))[0] if line.topics else None
    label = TOPIC_LABELS.get(topic or "", "Storyline")
    telling = [(k, v) for k, v in line.actors.items() if idf.get(k, 0.0) >= MIN_TITLE_IDF]
    actors = sorted(telling, key=lambda kv: (-kv[1], kv[0]))[:TITLE_ACTORS]
    names = ", ".join(name for name, _ in actors)
    return f"{label}: {names}" if names else label
