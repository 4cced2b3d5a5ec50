"""Storylines: the threads of the issue, stories of many events followed across months and years.

A story is one event (the 27 September 2024 joint statement); a storyline is a thread of them
(ending the coalition mission: the 2024 talks, the joint statement, the 2025 base exits ...). A
story is placed in a storyline once it has a relevant report, and stays there unless an analyst
moves it (`monitor storyline merge|split|detach`):

* **The questions at stake** (`stories/questions.toml`, `Questions`): the recurring sub-issues
  of the debate (the pullout from Syria and the troops' status in Iraq, the parliament's vote to
  expel foreign troops, the strategic dialogue and the drawdown, ending the coalition mission,
  militia attacks on US forces, US strikes on militias) and the wider events an episode happened
  in (the Gaza war, the war with Iran), each with the general words of its coverage in English
  and Arabic. A report speaks of each as much as its headline, lead and text use those words.
* **What a story is about** (`Thread`): the questions of its relevant reports, their event types
  (the classifier's topics), the actors and places they name (canonical names, weighed by how
  rare they are across the archive's stories, so "Iraq" and "the United States" say nothing),
  the words of its reports (their TF-IDF vectors summed), its own dates, and the latest date its
  texts name (a stand-in when it has none of its own).
* **What a storyline is about** (`Line`): the same, summed over its stories, and the dates of
  its stories.
* **Whether a story continues a storyline** (`join_columns`, `FEATURES`): how alike the story
  and the storyline are in questions, wider events, event types, actors, places and words,
  whether they are of one kind (`family`: attacks on US forces, US strikes, or the presence
  itself), how much an opinion piece shares its questions (`opinion`: the share of the story's
  reports with a side, times the questions' cosine), and how far the story is in time from
  the storyline's nearest story (by own dates when both have some, else by the dates their
  texts name). A learned model
  (monitor/stories/model.py, `storyline_model.json`, fitted by replaying labelled threads in
  time order: monitor/evaluate/threads.py) turns that into the probability that the story
  continues the storyline.
* **Where a story goes** (`place`): stories are taken in time order (own date, else the date
  their texts name, else last; then by id), and each joins the storyline it most likely
  continues, among the active ones (stored storylines with a story within `MAX_GAP_DAYS`) and
  those this batch opened, when that probability reaches the model's threshold; else it opens a
  storyline (the learned decision to start a new thread). A thread is followed story by story,
  so a storyline that runs for years holds together while each step is short, and two threads
  of one kind years apart stay two. Two stored storylines are never merged here (only an
  analyst merges them). The same stories in another order give the same storylines.
* **Its title** (`title_of`): what the storyline is about: its main question (with the wider
  event when its stories speak of one), the years it spans, and its two most distinctive actors,
  until an analyst renames it. A storyline whose stories name no question is titled by its main
  event type.

Pure: the store hands it the threads and the candidate storylines (`store.storylines`), it
returns the placement.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from monitor.classify.matching import PhraseMatcher
from monitor.errors import ConfigError
from monitor.models import make_id
from monitor.stories.model import PairModel, load_pair_model

# Parameters (see docs/schema.md, Storylines).
MAX_GAP_DAYS = 365  # a storyline quiet this long is over: a story after it opens another
MAX_GAP_YEARS = 3.0
TITLE_ACTORS = 2
MIN_TITLE_IDF = 0.5  # named in fewer than about half of the stories
CONTEXT_SHARE = 0.3  # a wider event names a storyline when it weighs this share of its question

FEATURES = (
    "questions",
    "contexts",
    "actors",
    "text_best",
    "family",
    "dated",
    "gap_years",
    "named",
    "named_gap",
    "named_years",
    "opinion",
)

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

# Titles of storylines whose stories name no question at stake.
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

# -- the questions at stake (stories/questions.toml) ---------------------------------------------

QUESTION_KINDS = ("question", "context")
TITLE_WEIGHT = 2.0  # a cue in the headline ...
LEAD_WEIGHT = 1.5  # ... or the lead says what a report is about more than one further down
LEAD_CHARS = 600
QUESTION_CHARS = 6000  # background comes last: cues beyond this far are not counted


@dataclass(frozen=True)
class Question:
    """One question at stake (or the context of an episode of one): its label and family."""

    name: str
    kind: str
    label: str
    family: str | None


@dataclass(frozen=True)
class Questions:
    """The questions and the matcher that finds their cues."""

    items: dict[str, Question]
    matcher: PhraseMatcher

    def weights(self, title: str | None, text: str) -> dict[str, float]:
        """How much a report's headline and text speak of each question (cue hits weighed by
        where they are: headline, lead, body)."""
        head = (title or "").strip()
        body = text[:QUESTION_CHARS]
        if head and body.startswith(head):
            body = body[len(head) :]
        out: dict[str, float] = {}
        for part, is_head in ((head, True), (body, False)):
            if not part:
                continue
            found = self.matcher.find(part)
            for name in self.items:
                for hit in found.get(name):
                    if is_head:
                        weight = TITLE_WEIGHT
                    else:
                        weight = LEAD_WEIGHT if hit.start < LEAD_CHARS else 1.0
                    out[name] = out.get(name, 0.0) + weight
        return out


def parse_questions(text: str, source: str) -> Questions:
    """Read and check a questions file (`[questions.NAME]` with kind, label, family, cues)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"questions {source}: {exc}") from exc
    tables = data.get("questions") or {}
    if not isinstance(tables, dict) or set(data) - {"questions"}:
        raise ConfigError(f"questions {source}: only [questions.NAME] tables belong here")
    matcher = PhraseMatcher()
    items: dict[str, Question] = {}
    for name, spec in tables.items():
        where = f"questions {source}: [questions.{name}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} is not a table")
        unknown = set(spec) - {"kind", "label", "family", "cues"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        kind = spec.get("kind", "question")
        if kind not in QUESTION_KINDS:
            raise ConfigError(f"{where}: kind must be question or context, not {kind!r}")
        family = spec.get("family")
        if kind == "question" and family not in (*FAMILIES.values(), PRESENCE):
            raise ConfigError(f"{where}: family must be attacks, strikes or presence")
        label, cues = spec.get("label"), spec.get("cues")
        if not isinstance(label, str) or not label:
            raise ConfigError(f"{where}: label must be a text")
        if not isinstance(cues, list) or not all(isinstance(c, str) and c for c in cues):
            raise ConfigError(f"{where}: cues must be a list of texts")
        for cue in cues:
            matcher.add(name, cue, where=where)
        items[name] = Question(name, kind, label, family if kind == "question" else None)
    if not any(q.kind == "question" for q in items.values()):
        raise ConfigError(f"questions {source}: no [questions.NAME] of kind question")
    matcher.freeze()
    return Questions(items, matcher)


@functools.cache
def questions() -> Questions:
    """The packaged questions (read on first use)."""
    text = resources.files("monitor.stories").joinpath("questions.toml").read_text("utf-8")
    return parse_questions(text, "packaged questions.toml")


def question_weights(title: str | None, text: str) -> dict[str, float]:
    """How much a report speaks of each question at stake (`Questions.weights`)."""
    return questions().weights(title, text)


@dataclass(frozen=True)
class Thread:
    """A story as storylines see it: questions, event types, actors, places, words, dates."""

    story_id: str
    topics: Mapping[str, float]
    actors: Mapping[str, float]
    first_at: datetime | None
    last_at: datetime | None
    places: Mapping[str, float] = field(default_factory=dict)
    text: Mapping[str, float] = field(default_factory=dict)  # unit TF-IDF sum of its reports
    named_at: datetime | None = None  # the latest full date its reports' texts name
    questions: Mapping[str, float] = field(default_factory=dict)  # its reports' unit weights
    size: int = 1  # its relevant reports
    sided: float = 0.0  # the share of its reports that argue a side (opinion pieces)
    key: str = ""  # what orders it among stories of one day and size: its reports' least text hash

    @property
    def family(self) -> str:
        """The kind of thread this story belongs to: its main question's, else its main event
        type's."""
        return family_of(self.topics, self.questions)

    @property
    def when(self) -> datetime | None:
        """When the story happened as far as can be told: its own date, else the date its
        texts name."""
        return self.first_at or self.named_at


@dataclass(frozen=True)
class Report:
    """A relevant report of a story, as its thread is made of."""

    story_id: str
    topics: Sequence[str]
    entities: Sequence[tuple[str, str]]  # (canonical name, kind)
    vector: Mapping[str, float]  # its unit TF-IDF vector (empty for a copy)
    own_at: datetime | None  # its own date (not a crawl-day stamp, not the story's)
    named_at: datetime | None = None  # the latest full date its text names
    questions: Mapping[str, float] = field(default_factory=dict)  # `question_weights`
    sided: bool = False  # the classifier gave it a side (an opinion piece's own voice)
    key: str = ""  # its text's hash (`content_hash`): an order that no URL or id changes


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
        asked: dict[str, float] = {}
        for r in mine:
            for topic in set(r.topics):
                topics[topic] = topics.get(topic, 0.0) + 1.0
            for name, kind in set(r.entities):
                target = actors if kind in ACTOR_KINDS else places if kind == "place" else None
                if target is not None:
                    target[name] = target.get(name, 0.0) + 1.0
            for term, weight in r.vector.items():
                text[term] = text.get(term, 0.0) + weight
            _add(asked, _unit(r.questions))
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
                asked,
                len(mine),
                sum(r.sided for r in mine) / len(mine),
                min(r.key for r in mine),
            )
        )
    return out


def family_of(topics: Mapping[str, float], asked: Mapping[str, float] | None = None) -> str:
    """The kind of thread a story makes: that of the question it speaks of most, else that of
    its heaviest event type (ties: the more specific)."""
    items = questions().items
    weighed = {k: v for k, v in (asked or {}).items() if k in items and items[k].family}
    if weighed:
        main = max(weighed, key=lambda k: (weighed[k], k))
        return items[main].family or PRESENCE
    if not topics:
        return PRESENCE
    rank = {topic: i for i, topic in enumerate(TOPIC_ORDER)}
    main = max(topics, key=lambda t: (topics[t], -rank.get(t, len(rank)), t))
    return FAMILIES.get(main, PRESENCE)


@dataclass
class Line:
    """A storyline as a profile: its stories, and their summed questions, event types and
    actors."""

    storyline_id: str
    topics: dict[str, float] = field(default_factory=dict)
    actors: dict[str, float] = field(default_factory=dict)  # who and where, for the title
    last_at: datetime | None = None
    new: bool = False
    threads: list[Thread] = field(default_factory=list)
    questions: dict[str, float] = field(default_factory=dict)
    who: dict[str, float] = field(default_factory=dict)  # actors only, weighed by rarity
    kinds: set[str] = field(default_factory=set)  # its stories' kinds (several after a merge)

    def add(self, thread: Thread, idf: Mapping[str, float]) -> None:
        """Take a story into the storyline."""
        self.threads.append(thread)
        _add(self.topics, _unit(thread.topics))
        _add(self.actors, _unit(_weighed({**thread.places, **thread.actors}, idf)))
        _add(self.who, _unit(_weighed(thread.actors, idf)))
        _add(self.questions, thread.questions)
        self.kinds.add(thread.family)
        last = thread.last_at or thread.first_at
        if last is not None:
            self.last_at = max(self.last_at or last, last)

    @property
    def family(self) -> str:
        """The kind of thread the storyline's stories make together."""
        return family_of(self.topics, self.questions)


@dataclass(frozen=True)
class Placement:
    """The storyline of each placed story, the storylines opened, and the (re)made title of
    every storyline that took a story."""

    storyline_of: dict[str, str]
    opened: list[str]
    titles: dict[str, str]


def _add(total: dict[str, float], vector: Mapping[str, float]) -> None:
    for key, value in vector.items():
        total[key] = total.get(key, 0.0) + value


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {k: v / norm for k, v in vector.items()}


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine of two vectors (0 when either is empty)."""
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    if not dot:
        return 0.0
    return dot / (
        math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    )


def _weighed(actors: Mapping[str, float], idf: Mapping[str, float]) -> dict[str, float]:
    return {k: v * idf.get(k, 0.0) for k, v in actors.items()}


def _of_kind(asked: Mapping[str, float], kind: str) -> dict[str, float]:
    items = questions().items
    return {k: v for k, v in asked.items() if k in items and items[k].kind == kind}


def actor_idf(df: Mapping[str, int], stories: int) -> dict[str, float]:
    """How telling each actor or place is: rare across the archive's stories, telling."""
    return {name: math.log((stories + 1) / (n + 0.5)) for name, n in df.items()}


def _days_between(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> float:
    """Days between two spans (0 when they overlap)."""
    later = max((b[0] - a[1]).total_seconds(), (a[0] - b[1]).total_seconds(), 0.0)
    return later / 86400


def _nearest(span: tuple[datetime, datetime], spans: Sequence[tuple[datetime, datetime]]) -> float:
    return min(_days_between(span, other) for other in spans)


def join_columns(
    thread: Thread, lines: Sequence[Line], idf: Mapping[str, float]
) -> dict[str, Array]:
    """The features (`FEATURES`) of a story against each of these storylines, one value each:

    * `questions`, `contexts`: cosine of the story's questions at stake (wider events) and the
      storyline's; `actors`: of the actors they name, weighed by rarity; `text_best`: of the
      story's words and those of the storyline's closest story; `family`: of one kind;
    * `dated`: both have own dates, and `gap_years` from the story to the storyline's nearest
      story (linear, so a nearer storyline is always likelier: a log-days feature's fitted
      weight flipped sign from fit to fit); else `named`, `named_gap`,
      `named_years` by the dates their texts name (a stand-in, weighed apart); neither: no time
      evidence at all;
    * and, not a feature but a condition (`offered`), `kin`: the story is of the kind of one of
      the storyline's stories."""
    asked = _of_kind(thread.questions, "question")
    around = _of_kind(thread.questions, "context")
    who = _weighed(thread.actors, idf)
    own = (thread.first_at, thread.last_at or thread.first_at) if thread.first_at else None
    proxy = thread.when
    family = thread.family
    rows: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        rows["questions"].append(_cosine(asked, _of_kind(line.questions, "question")))
        rows["contexts"].append(_cosine(around, _of_kind(line.questions, "context")))
        rows["actors"].append(_cosine(who, line.who))
        rows["text_best"].append(max(_cosine(thread.text, t.text) for t in line.threads))
        rows["family"].append(float(family == line.family))
        rows["kin"].append(float(family == line.family or family in line.kinds))
        # An opinion piece argues the question a thread is about rather than reporting its
        # events: it shares the question, seldom the words or the actors.
        rows["opinion"].append(thread.sided * rows["questions"][-1])
        spans = [
            (t.first_at, t.last_at or t.first_at) for t in line.threads if t.first_at is not None
        ]
        gap = _nearest(own, spans) if own and spans else None
        named = None
        if gap is None and proxy is not None:
            stand_ins = [(t.when, t.when) for t in line.threads if t.when is not None]
            named = _nearest((proxy, proxy), stand_ins) if stand_ins else None
        for known, log_days, years, days in (
            ("dated", None, "gap_years", gap),
            ("named", "named_gap", "named_years", named),
        ):
            rows[known].append(float(days is not None))
            if log_days is not None:
                rows[log_days].append(math.log1p(days) if days is not None else 0.0)
            rows[years].append(min(days / 365, MAX_GAP_YEARS) if days is not None else 0.0)
    return {name: np.array(values, dtype=np.float64) for name, values in rows.items()}


def join_probabilities(
    model: PairModel, thread: Thread, lines: Sequence[Line], idf: Mapping[str, float]
) -> Array:
    """The probability that the story continues each of these storylines: the model's, and 0
    for a storyline whose nearest story is dated more than `MAX_GAP_DAYS` away."""
    if not lines:
        return np.zeros(0)
    columns = join_columns(thread, lines, idf)
    return np.asarray(model.probabilities(columns) * offered(columns), dtype=np.float64)


def offered(columns: Mapping[str, Array]) -> NDArray[np.bool_]:
    """The storylines a story may continue: with a story of its kind (`kin`: a thread of
    attacks is not continued by a vote, unless an analyst merged the two), and with a story
    dated within `MAX_GAP_DAYS` (or no dates to tell)."""
    return np.asarray(
        (columns["gap_years"] * 365 <= MAX_GAP_DAYS) & (columns["kin"] > 0), dtype=bool
    )


def order(thread: Thread) -> tuple[int, datetime, int, str, str]:
    """The order stories are threaded in: by own date, then by the date their texts name,
    then the rest; ties: the story with more reports first (more to found a thread on), then
    by what its reports say (`Thread.key`: the same stories from other addresses, with other
    ids, are threaded alike), then by id."""
    rank = 0 if thread.first_at else 1 if thread.named_at else 2
    return (rank, thread.when or datetime.min, -thread.size, thread.key, thread.story_id)


def place(
    threads: Sequence[Thread],
    lines: Iterable[Line],
    idf: Mapping[str, float],
    model: PairModel | None = None,
) -> Placement:
    """Place stories in the active storylines, or open new ones (module doc)."""
    model = model or load_pair_model("storylines")
    current = sorted(lines, key=lambda line: line.storyline_id)
    storyline_of: dict[str, str] = {}
    grown: dict[str, Line] = {}
    for thread in sorted(threads, key=order):
        prob = join_probabilities(model, thread, current, idf)
        best = int(np.argmax(prob)) if len(prob) else -1  # ties: the first, stored ones first
        if best >= 0 and prob[best] >= model.threshold:
            line = current[best]
        else:
            line = Line(make_id("storyline:" + thread.story_id), new=True)
            current.append(line)
        line.add(thread, idf)
        storyline_of[thread.story_id] = line.storyline_id
        grown[line.storyline_id] = line
    return Placement(
        storyline_of,
        [sid for sid, line in grown.items() if line.new],
        {sid: title_of(line, idf) for sid, line in grown.items()},
    )


def lines_of(members: Mapping[str, Sequence[Thread]], idf: Mapping[str, float]) -> list[Line]:
    """Stored storylines as profiles, from the threads of their stories."""
    out = []
    for storyline_id, threads in members.items():
        line = Line(storyline_id)
        for thread in sorted(threads, key=order):
            line.add(thread, idf)
        out.append(line)
    return out


def title_of(line: Line, idf: Mapping[str, float]) -> str:
    """A storyline's title: what it is about (its main question, with the wider event it happened
    in; else its main event type), the years it spans, and its most distinctive actors (an actor
    named in most of the archive's stories, such as Iraq itself, tells nothing)."""
    items = questions().items
    asked = _of_kind(line.questions, "question")
    if asked:
        main = max(asked, key=lambda k: (asked[k], k))
        label = items[main].label
        around = _of_kind(line.questions, "context")
        if around:
            context = max(around, key=lambda k: (around[k], k))
            if around[context] >= CONTEXT_SHARE * asked[main]:
                label = f"{label} {items[context].label}"
    else:
        topic = max(line.topics.items(), key=lambda kv: (kv[1], kv[0]))[0] if line.topics else ""
        label = TOPIC_LABELS.get(topic, "Storyline")
    years = sorted(
        {y for t in line.threads for y in (t.first_at, t.last_at) if y is not None},
    )
    if years:
        first, last = years[0].year, years[-1].year
        label += f", {first}" if first == last else f", {first}–{last}"
    telling = [(k, v) for k, v in line.actors.items() if idf.get(k, 0.0) >= MIN_TITLE_IDF]
    actors = sorted(telling, key=lambda kv: (-kv[1], kv[0]))[:TITLE_ACTORS]
    names = ", ".join(name for name, _ in actors)
    return f"{label}: {names}" if names else label
