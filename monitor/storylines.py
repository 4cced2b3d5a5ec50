"""Storylines: the threads of the issue, stories of many events followed across months and years.

A story is one event (the 27 September 2024 joint statement); a storyline is a thread of them
(ending the coalition mission: the 2024 talks, the joint statement, the 2025 base exits ...). A
story is placed in a storyline once it has a relevant report, and stays there unless an analyst
moves it (`monitor storyline merge|split|detach`):

* **What a story is about** (`Thread`): its event types (the classifier's topics of its relevant
  reports) and its actors and places (the entities they name), weighed by how rare they are
  across the archive's stories (IDF), so "Iraq" and "the United States" say nothing.
* **Where it belongs**: among the active storylines (a story within `MAX_GAP_DAYS` of its last
  one) of the same kind of thread (`FAMILIES`: US strikes on militias, attacks on US forces, or
  the presence itself: votes, talks, withdrawal, its legal basis ...), the one whose event types
  and actors are most like the story's, when the likeness reaches `JOIN_THRESHOLD`; else it
  opens a storyline of its own. Strikes and the attacks they answer name the same militias and
  bases, the same weeks; the kind of thread keeps tit and tat apart. A thread that has been
  quiet for longer than the gap is a new thread when it starts again (militia attacks in
  2020-21 and again from October 2023 are two storylines).
* **Its title**: the storyline's main event type and its two most distinctive actors, until an
  analyst renames it.

Pure: the store hands it the threads and the candidate storylines (`store.storylines`), it
returns the placement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.models import make_id

# Parameters (see docs/schema.md, Storylines).
MAX_GAP_DAYS = 365
JOIN_THRESHOLD = 0.2
TOPIC_WEIGHT = 0.8
ACTOR_WEIGHT = 0.4
TITLE_ACTORS = 2
MIN_TITLE_IDF = 0.5  # named in fewer than about half of the stories

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


@dataclass(frozen=True)
class Thread:
    """A story as storylines see it: event types, actors and places, dates."""

    story_id: str
    topics: Mapping[str, float]
    actors: Mapping[str, float]
    first_at: datetime | None
    last_at: datetime | None

    @property
    def family(self) -> str:
        """The kind of thread this story belongs to, by its main event type."""
        return family_of(self.topics)


def family_of(topics: Mapping[str, float]) -> str:
    """The kind of thread event types make: that of the heaviest (ties: the more specific)."""
    if not topics:
        return PRESENCE
    rank = {topic: i for i, topic in enumerate(TOPIC_ORDER)}
    main = max(topics, key=lambda t: (topics[t], -rank.get(t, len(rank)), t))
    return FAMILIES.get(main, PRESENCE)


@dataclass
class Line:
    """A storyline: the summed event types and actors of its stories, and its last date."""

    storyline_id: str
    topics: dict[str, float] = field(default_factory=dict)
    actors: dict[str, float] = field(default_factory=dict)
    last_at: datetime | None = None
    new: bool = False
    families: set[str] = field(default_factory=set)

    def add(self, thread: Thread, idf: Mapping[str, float]) -> None:
        """Take a story's thread into the storyline's profile (and its kind of thread: an
        analyst's merge can make one storyline of two kinds)."""
        self.families.add(thread.family)
        for key, value in _unit(thread.topics).items():
            self.topics[key] = self.topics.get(key, 0.0) + value
        for key, value in _unit(_weighed(thread.actors, idf)).items():
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
    """How telling each actor is: rare across the archive's stories, telling."""
    return {name: math.log((stories + 1) / (n + 0.5)) for name, n in df.items()}


def likeness(thread: Thread, line: Line, idf: Mapping[str, float]) -> float:
    """How much a story is about what a storyline is about (event types, then actors)."""
    topics = _cosine(_unit(thread.topics), _unit(line.topics))
    actors = _cosine(_unit(_weighed(thread.actors, idf)), _unit(line.actors))
    return TOPIC_WEIGHT * topics + ACTOR_WEIGHT * actors


def _active(thread: Thread, line: Line) -> bool:
    if thread.first_at is None or line.last_at is None:
        return True
    return thread.first_at - line.last_at <= timedelta(days=MAX_GAP_DAYS)


def lines_of(members: Mapping[str, Sequence[Thread]], idf: Mapping[str, float]) -> list[Line]:
    """Stored storylines as profiles, from the threads of their stories."""
    out = []
    for storyline_id, threads in members.items():
        line = Line(storyline_id)
        for thread in threads:
            line.add(thread, idf)
        out.append(line)
    return out


def place(threads: Sequence[Thread], lines: Iterable[Line], idf: Mapping[str, float]) -> Placement:
    """Place stories (oldest first) in the most alike active storyline, or open new ones."""
    pool = list(lines)
    storyline_of: dict[str, str] = {}
    grown: dict[str, Line] = {}
    order = sorted(
        threads, key=lambda t: (t.first_at is None, t.first_at or datetime.min, t.story_id)
    )
    for thread in order:
        best: Line | None = None
        best_score = 0.0
        for line in pool:
            if thread.family not in line.families or not _active(thread, line):
                continue
            score = likeness(thread, line, idf)
            if score > best_score:
                best, best_score = line, score
        if best is None or best_score < JOIN_THRESHOLD:
            best = Line(make_id("storyline:" + thread.story_id), new=True)
            pool.append(best)
        best.add(thread, idf)
        storyline_of[thread.story_id] = best.storyline_id
        grown[best.storyline_id] = best
    return Placement(
        storyline_of,
        [sid for sid, line in grown.items() if line.new],
        {sid: title_of(line, idf) for sid, line in grown.items()},
    )


def title_of(line: Line, idf: Mapping[str, float]) -> str:
    """A storyline's title: its main event type and its most distinctive actors (an actor named
    in most of the archive's stories, such as Iraq itself, tells nothing)."""
    topic = max(line.topics.items(), key=lambda kv: (kv[1], kv[0]))[0] if line.topics else None
    label = TOPIC_LABELS.get(topic or "", "Storyline")
    telling = [(k, v) for k, v in line.actors.items() if idf.get(k, 0.0) >= MIN_TITLE_IDF]
    actors = sorted(telling, key=lambda kv: (-kv[1], kv[0]))[:TITLE_ACTORS]
    names = ", ".join(name for name, _ in actors)
    return f"{label}: {names}" if names else label
