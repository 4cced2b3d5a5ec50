"""Classification of articles: relevance, event types, stance, actors, quotes and figures.

Everything the classifier looks for lives in a taxonomy file (packaged `taxonomy.toml`, or an
analyst's copy named by `settings.classify.taxonomy`); the code here only says how the pieces are
weighed. The rules are transparent on purpose: each classification carries the terms, actors and
sentences that moved its scores (`Classification.evidence`), and the version records both this
code and the taxonomy's content hash, so a taxonomy edit marks old classifications outdated.

Relevance is judged sentence by sentence: a sentence counts when it speaks of US / coalition
forces (with presence, withdrawal or attack language, or a US strike) and is placed in Iraq by the
places and actors it names (or the previous sentence's place). Sentences about troops elsewhere
(Germany, Afghanistan, Syria, Korea ...) pull the article's focus away from Iraq. See
docs/classification.md for the rubric.
"""

from __future__ import annotations

import bisect
import hashlib
import importlib
import json
import logging
import math
import re
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import ConfigError
from monitor.models import (
    Classification,
    Entity,
    EntityKind,
    Figure,
    Quote,
    Stance,
    StoredArticle,
)
from monitor.settings import Settings

log = logging.getLogger(__name__)

CODE_VERSION = "rules-2"
TOPIC_NAMES = (
    "parliament_vote",
    "negotiations",
    "withdrawal_drawdown",
    "attack_on_us_forces",
    "us_strike",
    "legal_basis",
    "statement_reaction",
    "protest",
    "isis_threat",
    "iran_influence",
)

# ------------------------------------------------------------------------------------------------
# The taxonomy file, validated (pydantic names the bad key), then compiled into a Taxonomy.


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RelevanceSpec(_Model):
    threshold: float = Field(default=0.5, ge=0, le=1)
    saturation: float = Field(default=1.4, gt=0)
    core: float = Field(default=1.0, ge=0)
    base_attack: float = Field(default=0.8, ge=0)
    forces_only: float = Field(default=0.35, ge=0)
    strike_only: float = Field(default=0.35, ge=0)
    inherited: float = Field(default=0.7, ge=0, le=1)
    mixed: float = Field(default=0.5, ge=0, le=1)
    unplaced: float = Field(default=0.3, ge=0, le=1)
    title_factor: float = Field(default=1.5, ge=0)
    lead_factor: float = Field(default=1.3, ge=0)
    lead_sentences: int = Field(default=3, ge=0)
    elsewhere_prior: float = Field(default=0.5, gt=0)
    focus_power: float = Field(default=0.5, gt=0)
    sparse_floor: float = Field(default=0.5, ge=0, le=1)
    sparse_slope: float = Field(default=5.0, ge=0)


class _LexiconSpec(_Model):
    us_forces: list[str] = Field(min_length=1)
    troops_bare: list[str] = Field(default_factory=list)
    presence: list[str] = Field(min_length=1)
    attack: list[str] = Field(min_length=1)
    us_strike: list[str] = Field(default_factory=list)
    support: list[str] = Field(default_factory=list)
    coalition_ref: list[str] = Field(default_factory=list)


class _TopicSpec(_Model):
    description: str = ""
    all: list[list[str]] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    min_sentences: int = Field(default=1, ge=1)
    weight: float = Field(default=1.0, gt=0)
    continues: list[str] = Field(default_factory=list)


class _TopicRankSpec(_Model):
    title: float = Field(default=3.0, ge=0)
    lead: float = Field(default=2.0, ge=0)
    lead_sentences: int = Field(default=3, ge=0)
    body: float = Field(default=1.0, ge=0)
    min_body_sentences: int = Field(default=2, ge=1)
    continued: float = Field(default=0.5, ge=0)
    keep_ratio: float = Field(default=0.5, ge=0, le=1)
    max_topics: int = Field(default=3, ge=1)


class _CueSpec(_Model):
    strong: list[str] = Field(default_factory=list)
    weak: list[str] = Field(default_factory=list)


class _StanceSpec(_Model):
    strong: float = Field(default=1.0, ge=0)
    weak: float = Field(default=0.4, ge=0)
    quoted: float = Field(default=0.5, ge=0, le=1)
    reported: float = Field(default=0.35, ge=0, le=1)
    reporting: list[str] = Field(default_factory=list)
    damping: float = Field(default=1.5, gt=0)
    threshold: float = Field(default=0.35, ge=0, le=1)
    min_margin: float = Field(default=1.2, ge=0)
    for_withdrawal: _CueSpec
    against_withdrawal: _CueSpec


class _ActorSpec(_Model):
    name: str = Field(min_length=1)
    kind: Literal["person", "organization", "group", "place"]
    aliases: list[str] = Field(min_length=1)
    locates: Literal["iraq", "elsewhere", ""] = ""
    base: bool = False
    entity: bool = True


class _TaxonomySpec(_Model):
    schema_: int = Field(default=1, alias="schema")
    relevance: _RelevanceSpec = _RelevanceSpec()
    lexicon: _LexiconSpec
    topics: dict[str, _TopicSpec] = Field(min_length=1)
    topic_ranking: _TopicRankSpec = _TopicRankSpec()
    stance: _StanceSpec
    actors: list[_ActorSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Actor:
    """A person, organisation, armed group or place, under its canonical name."""

    name: str
    kind: EntityKind
    locates: str
    base: bool
    entity: bool


@dataclass(frozen=True)
class TopicRule:
    """An event type: every term group must match in one sentence, in `min_sentences` of them."""

    name: str
    groups: tuple[tuple[str, ...], ...]
    min_sentences: int
    exclude: tuple[str, ...] = ()
    weight: float = 1.0
    continues: str = ""


@dataclass(frozen=True)
class Hit:
    """One match of a term or alias in the text (character offsets)."""

    start: int
    end: int
    text: str
    payload: int = -1


# Words: letters/digits with inner apostrophes ("Kata'ib"); initials ("U.S.") are one word, so
# "U.S." and "US" give the same key.
_TOKEN = re.compile(r"(?:[^\W\d_]\.){2,}|\w+(?:['’]\w+)*")


def _normalize_token(raw: str) -> str:
    low = raw.casefold()
    if "'" in low or "’" in low or "." in low:
        if low.endswith(("'s", "’s")):
            low = low[:-2]
        low = low.replace("'", "").replace("’", "").replace(".", "")
    return low


_NON_WORD = re.compile(r"[\W_]")
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")
_GAP_CHARS = " \t\r\n-\u2010\u2011\u2012\u2013\u2014\u2015'’."


def _tokenize(text: str) -> tuple[list[int], list[int], list[str], list[bool]]:
    """Start, end and normalized form of each word, and whether it may join the next word."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a rare character whose lower case is longer
        lowered = text
    # split() with a captured group alternates gap, word, gap, ...: offsets come from lengths,
    # all in C, which is much faster than a Python loop over match objects.
    parts = _TOKEN_SPLIT.split(lowered)
    offsets = list(accumulate(map(len, parts), initial=0))
    words = parts[1::2]
    starts = offsets[1::2]
    ends = offsets[2::2]
    norms = [
        _normalize_token(w) if ("'" in w or "’" in w or "." in w or lowered is text) else w
        for w in words
    ]
    joinable = [not gap.strip(_GAP_CHARS) for gap in parts[2:-1:2]]
    return starts, ends, norms, joinable


def _first_chars(items: Any) -> set[str] | None:
    """Characters a parsed regex can start with, or None when that cannot be told simply."""
    from re import _constants as c  # type: ignore[attr-defined]

    out: set[str] = set()
    for op, av in items:
        if op is c.LITERAL:
            out.add(chr(av))
            return out
        if op is c.IN:
            for sub_op, sub_av in av:
                if sub_op is c.LITERAL:
                    out.add(chr(sub_av))
                elif sub_op is c.RANGE and sub_av[1] - sub_av[0] < 64:
                    out.update(chr(x) for x in range(sub_av[0], sub_av[1] + 1))
                elif sub_op is c.CATEGORY and sub_av is c.CATEGORY_DIGIT:
                    out.update("0123456789")
                else:
                    return None
            return out
        if op is c.BRANCH:
            for branch in av[1]:
                first = _first_chars(branch)
                if first is None:
                    return None
                out |= first
            return out
        if op is c.SUBPATTERN:
            first = _first_chars(av[3])
            if first is None:
                return None
            return out | first
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            first = _first_chars(av[2])
            if first is None:
                return None
            out |= first
            if av[0] > 0:
                return out
            continue
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue  # zero-width: look at what follows
        return None
    return None  # the pattern can match the empty string


def _fast_prefix(pattern: str) -> str:
    """A cheap guard (word start + first-character class) that lets `re` skip most positions.

    Python's `re` tries a case-insensitive alternation at every position of the text; telling it
    the possible first characters makes the regex terms about ten times faster.
    """
    try:
        parser = importlib.import_module("re._parser")
        first = _first_chars(parser.parse(pattern, re.I))
    except Exception:  # a private module: any surprise only costs speed
        return ""
    if not first:
        return ""
    chars = {ch for f in first for ch in (f.lower(), f.upper())}
    klass = "".join(re.escape(ch) for ch in sorted(chars))
    word_start = "\\b" if all(ch.isalnum() or ch == "_" for ch in chars) else ""
    return f"{word_start}(?=[{klass}])"


class PhraseMatcher:
    """Literal phrases looked up word by word (fast); "re:" terms as one regex per category."""

    def __init__(self) -> None:
        self.table: dict[str, list[tuple[str, int, str | None]]] = {}
        self.firsts: set[str] = set()
        self.prefixes: set[str] = set()  # every proper word-prefix of a multi-word phrase
        self.regex_terms: dict[str, list[str]] = {}
        self.regexes: dict[str, re.Pattern[str]] = {}

    def add(self, category: str, term: str, payload: int = -1, *, where: str = "") -> None:
        """Register one term (a phrase, or "re:" + a regular expression) under a category."""
        if term.startswith("re:"):
            try:
                re.compile(term[3:])
            except re.error as exc:
                raise ConfigError(f"taxonomy {where}: bad pattern {term!r}: {exc}") from exc
            self.regex_terms.setdefault(category, []).append(term[3:])
            return
        norms = _tokenize(term)[2]
        if not norms:
            return
        key = " ".join(norms)
        case = _NON_WORD.sub("", term) if _case_sensitive(term) else None
        self.table.setdefault(key, []).append((category, payload, case))
        self.firsts.add(norms[0])
        for k in range(1, len(norms)):
            self.prefixes.add(" ".join(norms[:k]))

    def freeze(self) -> None:
        """Compile the regular-expression terms, longest first within each category."""
        for category, terms in self.regex_terms.items():
            parts = sorted(set(terms), key=len, reverse=True)
            body = "|".join(f"(?:{p})" for p in parts)
            self.regexes[category] = re.compile(_fast_prefix(body) + f"(?:{body})", re.I)

    def find(self, text: str) -> Found:
        """Every category's matches: longest first, not overlapping within a category."""
        starts, ends, norms, joinable = _tokenize(text)
        n = len(norms)
        found: dict[str, list[Hit]] = {}
        busy_until: dict[str, int] = {}
        table, firsts, prefixes = self.table, self.firsts, self.prefixes
        for i in [i for i, w in enumerate(norms) if w in firsts]:
            # Walk forward word by word while the words so far begin some phrase (a trie walk).
            key, j = norms[i], i
            matches: list[tuple[int, list[tuple[str, int, str | None]]]] = []
            while True:
                entries = table.get(key)
                if entries:
                    matches.append((j, entries))
                if j + 1 >= n or not joinable[j] or key not in prefixes:
                    break
                j += 1
                key = f"{key} {norms[j]}"
            for last, entries in reversed(matches):  # longest first
                length = last - i + 1
                start, end = starts[i], ends[last]
                for category, payload, case in entries:
                    if busy_until.get(category, -1) > i:
                        continue
                    if case is not None:
                        raw = text[start:end]
                        if raw != case and _NON_WORD.sub("", raw) != case:
                            continue
                    found.setdefault(category, []).append(Hit(start, end, text[start:end], payload))
                    busy_until[category] = i + length
        return Found(text, found, self.regexes)


class Found:
    """A text's matches by category; a category's regular expressions run on first use only."""

    def __init__(
        self, text: str, literal: dict[str, list[Hit]], regexes: dict[str, re.Pattern[str]]
    ) -> None:
        self.text = text
        self.hits = literal
        self.pending = set(regexes)
        self.regexes = regexes

    def get(self, category: str) -> list[Hit]:
        """The matches of one category, in text order."""
        if category in self.pending:
            self.pending.discard(category)
            extra = [
                Hit(m.start(), m.end(), m.group(0))
                for m in self.regexes[category].finditer(self.text)
            ]
            if extra:
                self.hits[category] = sorted(
                    self.hits.get(category, []) + extra, key=lambda h: h.start
                )
        return self.hits.get(category, [])


@dataclass(frozen=True)
class Taxonomy:
    """A compiled taxonomy: lexicons, actors, topic rules and stance cues."""

    source: str
    digest: str
    relevance: _RelevanceSpec
    stance: _StanceSpec
    topics: tuple[TopicRule, ...]
    topic_ranking: _TopicRankSpec
    actors: tuple[Actor, ...]
    matcher: PhraseMatcher

    @property
    def version(self) -> str:
        """Code version plus the taxonomy's content hash."""
        return f"{CODE_VERSION}+tax.{self.digest}"


def _case_sensitive(alias: str) -> bool:
    letters = alias.replace(".", "")
    return len(letters) <= 5 and letters.isalpha() and letters.isupper()


def _compile_taxonomy(spec: _TaxonomySpec, source: str, digest: str) -> Taxonomy:
    matcher = PhraseMatcher()
    lex = spec.lexicon
    for category, terms in (
        ("us_forces", lex.us_forces),
        ("troops_bare", lex.troops_bare),
        ("presence", lex.presence),
        ("attack", lex.attack),
        ("us_strike", lex.us_strike),
        ("support", lex.support),
        ("coalition_ref", lex.coalition_ref),
    ):
        for term in terms:
            matcher.add(category, term, where=f"lexicon.{category}")
    topics: list[TopicRule] = []
    lexicon_names = set(_LexiconSpec.model_fields)
    for name, topic in spec.topics.items():
        groups: list[tuple[str, ...]] = []
        for g, group in enumerate([*topic.all, topic.exclude]):
            last = g == len(topic.all)
            if not group and not last:
                raise ConfigError(f"taxonomy topics.{name}.all: an empty group")
            category = f"topic:{name}:{'exclude' if last else g}"
            categories = [category]
            for term in group:
                if term.startswith("@"):
                    if term[1:] not in lexicon_names:
                        raise ConfigError(f"taxonomy topics.{name}: no lexicon list {term[1:]!r}")
                    categories.append(term[1:])
                else:
                    matcher.add(category, term, where=f"topics.{name}")
            groups.append(tuple(categories))
        *required, excluded = groups
        continues = ""
        if topic.continues:
            continues = f"topic:{name}:continues"
            for term in topic.continues:
                matcher.add(continues, term, where=f"topics.{name}.continues")
        topics.append(
            TopicRule(name, tuple(required), topic.min_sentences, excluded, topic.weight, continues)
        )
    st = spec.stance
    for term in st.reporting:
        matcher.add("reporting", term, where="stance.reporting")
    for side, cues in (("for", st.for_withdrawal), ("against", st.against_withdrawal)):
        for strength in ("strong", "weak"):
            for term in getattr(cues, strength):
                matcher.add(f"cue:{side}:{strength}", term, where=f"stance.{side}.{strength}")
    actors: list[Actor] = []
    for spec_actor in spec.actors:
        actor = Actor(
            spec_actor.name, spec_actor.kind, spec_actor.locates, spec_actor.base, spec_actor.entity
        )
        actors.append(actor)
        for alias in spec_actor.aliases:
            if alias.startswith("re:"):
                raise ConfigError(f"taxonomy actors {spec_actor.name!r}: aliases are plain names")
            matcher.add("actor", alias, len(actors) - 1, where="actors")
    matcher.freeze()
    return Taxonomy(
        source=source,
        digest=digest,
        relevance=spec.relevance,
        stance=st,
        topics=tuple(topics),
        topic_ranking=spec.topic_ranking,
        actors=tuple(actors),
        matcher=matcher,
    )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:
            parts.append(f"{key}: {item['msg']}")
    return "; ".join(parts)


def parse_taxonomy(text: str, source: str = "<string>") -> Taxonomy:
    """Validate and compile taxonomy TOML text; raise ConfigError naming the bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"taxonomy {source}: not valid TOML: {exc}") from exc
    try:
        spec = _TaxonomySpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"taxonomy {source}: {_describe(exc)}") from exc
    # Hash the parsed content, not the bytes: comments and layout are not a taxonomy change.
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]
    return _compile_taxonomy(spec, source, digest)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> Taxonomy:
    del mtime_ns, size  # part of the cache key only: an edited file is read again
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"taxonomy {path}: cannot read: {exc}") from exc
    return parse_taxonomy(text, path)


@lru_cache(maxsize=1)
def _packaged() -> Taxonomy:
    text = resources.files("monitor.classify").joinpath("taxonomy.toml").read_text(encoding="utf-8")
    return parse_taxonomy(text, "packaged")


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The taxonomy at `path`, or the packaged one; cached, and re-read when the file changes."""
    if path is None:
        return _packaged()
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ConfigError(f"taxonomy file not found: {path}") from exc
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


def classifier_version(
    taxonomy: Taxonomy | None = None, relevance_threshold: float | None = None
) -> str:
    """The version string recorded with each classification (code + taxonomy [+ threshold])."""
    tax = taxonomy or load_taxonomy()
    version = tax.version
    if relevance_threshold is not None and relevance_threshold != tax.relevance.threshold:
        version += f"+t{relevance_threshold:g}"
    return version


def __getattr__(name: str) -> str:
    # CLASSIFIER_VERSION is computed on first use, never at import time.
    if name == "CLASSIFIER_VERSION":
        return classifier_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------
# Segmentation.


@dataclass(frozen=True)
class _Sentence:
    start: int
    end: int
    para: int
    title: bool


_SPLIT = re.compile(r"[.!?]+[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_ABBREV = re.compile(
    r"(?:\b(?:[A-Z]\.)+|\b(?:Mr|Mrs|Ms|Dr|Gen|Lt|Col|Sen|Rep|Gov|Maj|Sgt|Capt|Adm|Cmdr|St|No|Jan|"
    r"Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|vs|etc|Inc|Jr|Sr|Prof|Brig|Gens)\.)$"
)


def _segment(full: str, title_len: int) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    para = 0
    pos = 0
    for line in full.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        is_title = line_start < title_len
        cut = 0
        for match in _SPLIT.finditer(line):
            head = line[cut : match.start() + 1]
            if _ABBREV.search(head[-12:]):
                continue
            end = match.end()
            if line[cut:end].strip():
                sentences.append(_Sentence(line_start + cut, line_start + end, para, is_title))
            cut = end
        if line[cut:].strip():
            sentences.append(_Sentence(line_start + cut, line_start + len(line), para, is_title))
        para += 1
    return sentences


class _Index:
    """Maps character offsets to sentence numbers."""

    def __init__(self, sentences: Sequence[_Sentence]) -> None:
        self.starts = [s.start for s in sentences]

    def of(self, pos: int) -> int:
        return max(0, bisect.bisect_right(self.starts, pos) - 1)

    def group(self, hits: Sequence[Hit]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for h in hits:
            found.setdefault(self.of(h.start), []).append(h.text)
        return found


# "BAGHDAD, Jan. 25 (Xinhua) --", "QAMISHLI, Syria (North Press) –": where the reporter sits,
# not what the article is about, so places named there do not place the sentence.
_DATELINE = re.compile(
    r"^[ \t]*[A-Z][A-Z.'\- ]{2,40}(?:,[ \t]*[A-Z][\w.' ]{1,40})?(?:[ \t]*,[ \t]*[A-Z][a-z]{2,8}\.?"
    r"[ \t]*\d{1,2})?[ \t]*(?:\([^)\n]{1,40}\))?[ \t]*(?:--|[-–—:])[ \t]",
    re.MULTILINE,
)


def _dateline_ends(full: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _DATELINE.finditer(full)]


@dataclass(frozen=True)
class _ActorHit:
    start: int
    end: int
    actor: Actor


def _actor_hits(tax: Taxonomy, hits: Sequence[Hit]) -> list[_ActorHit]:
    return [_ActorHit(h.start, h.end, tax.actors[h.payload]) for h in hits]


# ------------------------------------------------------------------------------------------------
# Quotes.

_QUOTE = re.compile(r"“([^“”]{8,1500})”|\"([^\"]{8,1500})\"")
_SAY = (
    r"(?:said|says|say|told|tells|added|adds|wrote|writes|stated|states|tweeted|declared|warned|"
    r"warns|explained|insisted|stressed|noted|argued|asserted|continued|concluded|emphasized|"
    r"emphasised|claimed|claims|recalled|announced|commented|agreed|believes|posted|read|reads|"
    r"underlined|affirmed|confirmed|vowed|urged|acknowledged|pointed out|went on|cautioned)"
)
_AUX = r"(?:has\s+|had\s+|have\s+|also\s+|later\s+|then\s+)*"
_AFTER_WHO_VERB = re.compile(
    rf"^\s*[,.]?\s*[—–-]?\s*(?P<who>[^.;:“”\"\n]{{1,100}}?)\s+{_AUX}{_SAY}\b"
)
_AFTER_VERB_WHO = re.compile(
    rf"^\s*[,.]?\s*[—–-]?\s*{_SAY}\s+(?P<who>[^,.;:“”\"\n(]{{1,80}}?)\s*(?:[,.;:(]|$)"
)
# "Pompeo said on Fox News Sunday that “...”": the last speech verb before the quote, close to it,
# and who said it back to the start of the clause.
_BEFORE_VERB = re.compile(rf"\s+{_AUX}{_SAY}\b")
_BEFORE_TAIL = re.compile(r"[^.“”\"\n]{0,90}?\s*[:,]?\s*(?:that\s+)?")
_CLAUSE_START = re.compile(r"[.;:“”\"\n]")


def _before_who(before: str) -> tuple[int, str] | None:
    """(offset, who) of the attribution just before a quote, if there is one."""
    verbs = [m for m in _BEFORE_VERB.finditer(before, max(0, len(before) - 160))]
    for verb in reversed(verbs):
        if _BEFORE_TAIL.fullmatch(before, verb.end()) is None:
            continue
        head = before[max(0, verb.start() - 160) : verb.start()]
        cut = max((m.end() for m in _CLAUSE_START.finditer(head)), default=0)
        who = head[cut:]
        if who.strip():
            return verb.start() - len(head) + cut, who
    return None


_PRONOUN = re.compile(r"^(?:he|she)$", re.I)
# A short quote in title case is a programme or a slogan ("Face the Nation"), not a statement.
_TITLECASE_QUOTE = re.compile(
    r"^(?:[A-Z0-9][\w'’.-]*|of|the|and|a|in|on|to|for)(?:\s+(?:[A-Z0-9][\w'’.-]*|of|the|and|a|in|on|to|for))*[.!?,]?$"
)
_NAME = re.compile(
    r"(?:[A-Z][\w'’-]+|[A-Z]\.)(?:\s+(?:(?:al|el|bin|ibn|abu|de|van|von)[-\s])?"
    r"(?:[A-Z][\w'’-]+|[A-Z]\.(?:[A-Z]\.)*))*"
)
# Who says something anywhere in the text ("Davies explained", "Michael Maloof has warned",
# "Sarkawt Shams, a member of ..., said"): candidates for "he said".
_SPEAKER = re.compile(rf"(?P<who>{_NAME.pattern})(?:,[^,.;“”\"\n]{{1,100}},)?\s+{_AUX}{_SAY}\b")
# Words around a name that are not part of it ("Iraqi legal expert Tareq Harb").
_NOT_NAME_TEXT = """
the a an this that it one some many but and iraqi american iranian us u.s. secretary
president prime minister reuters ap afp twitter x sunday monday tuesday wednesday thursday
friday saturday statement spokesman spokesperson mr mrs ms dr gen general sen senator col
colonel lt former state defense foreign top senior speaker parliament in on at after before
he she they we i his her their cleric leader commander chief analyst expert official
ambassador when while as if meanwhile however also asked speaking envoy adviser advisor
"""
_NOT_NAME_WORDS = frozenset(_NOT_NAME_TEXT.split())


def _clean_name(name: str) -> str | None:
    words = name.split()
    while words and words[0].lower().strip(".") in _NOT_NAME_WORDS:
        words = words[1:]
    while words and words[-1].lower().strip(".") in _NOT_NAME_WORDS:
        words = words[:-1]
    cleaned = " ".join(words).strip(" ,'’")
    if cleaned.endswith(("'s", "’s")):
        cleaned = cleaned[:-2]
    return cleaned if len(cleaned) > 2 else None


# First names (and a particle) right before a surname: "Nicolas J.S. " + "Davies", "Zeidon al-".
_FIRST_NAMES = re.compile(r"(?:[A-Z][\w'’.-]+\s+){1,3}(?:(?:al|el|bin|abu)[-\s])?$")


class _Speakers:
    """Resolves a quote's attribution to a canonical actor or a person's full name."""

    def __init__(self, full: str, hits: Sequence[_ActorHit]) -> None:
        self.full = full
        self.hits = hits
        self.starts = [h.start for h in hits]
        self.persons: list[tuple[int, str]] = [
            (h.start, h.actor.name) for h in hits if h.actor.kind == "person" and h.actor.entity
        ]
        self._scanned = False
        self._expanded: dict[str, str] = {}

    def _actors_in(self, start: int, end: int) -> list[_ActorHit]:
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.hits) and self.hits[i].start < end:
            out.append(self.hits[i])
            i += 1
        return out

    def _scan(self) -> None:
        # Only needed for "he said": every "<Name> said" in the text is a speaker candidate.
        if self._scanned:
            return
        self._scanned = True
        for m in _SPEAKER.finditer(self.full):
            name = self._name_at(m.start("who"), m.end("who"), m.start())
            if name:
                self.persons.append((m.start("who"), name))
        self.persons.sort()

    def _name_at(self, start: int, end: int, pos: int) -> str | None:
        actors = [h.actor for h in self._actors_in(start, end) if h.actor.entity]
        people = [a for a in actors if a.kind == "person"]
        if people:
            return people[0].name
        others = [a for a in actors if a.kind in ("organization", "group")]
        places = [a for a in actors if a.kind == "place"]
        for segment in self.full[start:end].split(","):
            for raw in _NAME.findall(segment):
                name = _clean_name(raw)
                if name is None or any(_clean_name(p.name) == name for p in places):
                    continue
                if any(name in self.full[h.start : h.end] for h in self._actors_in(start, end)):
                    continue
                return self._expand(name, pos)
            if others:
                break
        return others[0].name if others else None

    def _expand(self, name: str, pos: int) -> str:
        """A surname alone ("Davies") becomes the full name used earlier ("Nicolas J.S. Davies")."""
        if " " in name:
            return name
        known = self._expanded.get(name)
        if known is not None:
            return known
        full = self.full
        found = name
        at = full.find(name, 0, pos)
        while at >= 0:
            after = full[at + len(name) : at + len(name) + 1]
            if not after.isalnum():
                m = _FIRST_NAMES.search(full, max(0, at - 60), at)
                if m:
                    found = _clean_name(m.group(0) + name) or name
                    break
            at = full.find(name, at + 1, pos)
        self._expanded[name] = found
        return found

    def resolve(self, who: str, start: int, pos: int) -> str | None:
        stripped = who.strip(" ,-—–")
        if not stripped:
            return None
        if _PRONOUN.match(stripped):
            self._scan()
            earlier = [p for p in self.persons if p[0] < pos]
            return earlier[-1][1] if earlier else None
        offset = who.find(stripped)
        return self._name_at(start + offset, start + offset + len(stripped), pos)

    def spoke(self, pos: int, name: str) -> None:
        self.persons.append((pos, name))
        self.persons.sort()


def _extract_quotes(full: str, hits: Sequence[_ActorHit]) -> list[tuple[int, int, Quote]]:
    speakers = _Speakers(full, hits)
    quotes: list[tuple[int, int, Quote]] = []
    para_start = 0
    for para in full.split("\n"):
        last_speaker: str | None = None
        for m in _QUOTE.finditer(para):
            body = (m.group(1) or m.group(2) or "").strip()
            start = para_start + m.start()
            words = body.split()
            if len(words) < 4 or (len(words) <= 6 and _TITLECASE_QUOTE.match(body)):
                continue
            after = para[m.end() : m.end() + 160]
            before_start = max(0, m.start() - 220)
            before = para[before_start : m.start()]
            speaker: str | None = None
            attributed = False
            found = _AFTER_WHO_VERB.match(after) or _AFTER_VERB_WHO.match(after)
            if found and not (
                body.endswith((",", "?", "!", "…")) or after.lstrip().startswith((",", "—", "–"))
            ):
                # After a full stop the attribution usually comes first ("X said: "...".") and
                # what follows is the next sentence, unless it is as short as "Pompeo said".
                found = found if len(found.group("who").split()) <= 3 else None
            if found:
                attributed = True
                who_start = para_start + m.end() + found.start("who")
                speaker = speakers.resolve(found.group("who"), who_start, start)
            else:
                pre = _before_who(before)
                if pre:
                    attributed = True
                    who_start = para_start + before_start + pre[0]
                    speaker = speakers.resolve(pre[1], who_start, start)
            if not attributed:
                speaker = last_speaker
            if speaker:
                speakers.spoke(start, speaker)
                last_speaker = speaker
            quotes.append((start, para_start + m.end(), Quote(quote=body, speaker=speaker)))
        para_start += len(para) + 1
    return quotes


# ------------------------------------------------------------------------------------------------
# Figures.

# Exact number words only: "dozens" or "hundreds" are not figures one can add up.
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_NUMBER_WORDS.update({"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20})
_NUM = (
    r"(?P<num>\d{1,3}(?:,\s?\d{3})+|\d+(?:\.\d+)?(?:\s?(?:thousand|million))?|"
    + "|".join(_NUMBER_WORDS)
    + ")"
)
_MOD = (
    r"(?:U\.?S\.?|US|American|additional|more|foreign|coalition|combat|Iraqi|international|NATO|"
    r"British|other|Western|military|remaining|extra|new|of the|of them|of its|troops?|troop|"
    r"Shiite|Sunni|Kurdish|present|about|approximately|some|nearly|around|roughly|estimated|"
    r"U\.S\.-led|US-led|of)"
)
_UNITS = {
    "troops": r"troops|soldiers|forces|personnel|service\s?members|servicemen|marines|advis[eo]rs|"
    r"trainers|military personnel|boots|contingent|troop contingent",
    "lawmakers": r"lawmakers|legislators|MPs|parliamentarians|deputies|members of parliament|"
    r"members|representatives",
    "votes": r"votes|ballots",
    "casualties": r"casualties|dead|deaths|killed|wounded|injured|injuries",
    "rockets": r"rockets|missiles|drones|mortars|projectiles",
    "attacks": r"attacks",
    "seats": r"seats",
}
_UNIT_RE = "|".join(f"(?P<{k}>{v})" for k, v in _UNITS.items())
_FIGURE = re.compile(
    rf"(?<![\w.,]){_NUM}(?:-strong)?(?:\s+{_MOD}){{0,3}}\s+(?:{_UNIT_RE})\b",
    re.IGNORECASE,
)
# "U.S. troops, 5000, in Iraq" and "troops numbering 5,000"
_FIGURE_AFTER = re.compile(
    r"\b(?P<troops>troops|soldiers|forces)(?:,|\s+numbering|\s+totalling|\s+totaling)\s+"
    r"(?:about\s+|some\s+|nearly\s+)?(?P<num>\d{1,3}(?:,\s?\d{3})+|\d{3,6})\b",
    re.IGNORECASE,
)
_PEOPLE_KILLED = re.compile(
    rf"(?<![\w.,]){_NUM}\s+(?:\w+\s+){{0,3}}?(?:people|soldiers|troops|civilians|servicemen|"
    rf"service members|contractors|fighters|militants|members)\s+(?:were\s+|was\s+|have been\s+)?"
    rf"(?P<casualties>killed|wounded|injured|dead)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _figure_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(
        re.compile(_fast_prefix(p.pattern) + p.pattern, p.flags)
        for p in (_PEOPLE_KILLED, _FIGURE, _FIGURE_AFTER)
    )


def _parse_number(raw: str) -> float | None:
    low = raw.lower().strip()
    if low in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[low])
    scale = 1.0
    if low.endswith("thousand"):
        scale, low = 1000.0, low[: -len("thousand")]
    elif low.endswith("million"):
        scale, low = 1e6, low[: -len("million")]
    digits = re.sub(r"[,\s]", "", low)
    try:
        return float(digits) * scale
    except ValueError:
        return None


def _extract_figures(full: str, sentences: Sequence[_Sentence], index: _Index) -> list[Figure]:
    seen: set[tuple[float, str, int]] = set()
    found: list[Figure] = []
    for pattern in _figure_patterns():
        for m in pattern.finditer(full):
            what = next((k for k in _UNITS if m.groupdict().get(k)), None)
            value = _parse_number(m.group("num"))
            if what is None or value is None:
                continue
            # Years are dates, not figures ("in 2014 troops arrived").
            if 1900 <= value <= 2100 and re.fullmatch(r"\d{4}", m.group("num").strip()):
                continue
            i = index.of(m.start())
            key = (value, what, i)
            if key in seen or any(k[0] == value and k[2] == i for k in seen):
                continue
            seen.add(key)
            s = sentences[i]
            found.append(Figure(value=value, what=what, sentence=full[s.start : s.end].strip()))
    return found


# ------------------------------------------------------------------------------------------------
# Classification.


@dataclass
class _Relevance:
    score: float
    iraq_mass: float
    elsewhere_mass: float
    focus: float
    sparse: float
    weights: list[float]


def _relevance(
    tax: Taxonomy,
    sentences: Sequence[_Sentence],
    places: list[set[str]],
    bases: set[int],
    forces: dict[int, list[str]],
    bare: dict[int, list[str]],
    presence: dict[int, list[str]],
    attack: dict[int, list[str]],
    strike: dict[int, list[str]],
    support: dict[int, list[str]],
) -> _Relevance:
    r = tax.relevance
    carry = ""
    iraq_mass = unplaced_mass = elsewhere_mass = 0.0
    weights: list[float] = []
    lead_seen = 0
    strong_lead = False
    body_count = 0
    for i, s in enumerate(sentences):
        here = places[i]
        explicit = bool(here)
        if explicit:
            loc = "mixed" if len(here) > 1 else next(iter(here))
            carry = loc
        else:
            loc = carry
        f, p, a = i in forces, i in presence, i in attack
        if a and not p and i in support:
            a = False  # the forces back someone else's fight: not an attack on them
        if f and (p or a):
            w = r.core
        elif i in bases and (a or p):
            w = r.base_attack
        elif i in strike:
            w = r.strike_only
        elif f or i in bases:
            w = r.forces_only
        else:
            w = 0.0
        factor = 1.0 if explicit else r.inherited
        if loc == "iraq":
            place_factor = factor
        elif loc == "mixed":
            place_factor = factor * r.mixed
        elif loc == "":
            place_factor = r.unplaced
        else:
            place_factor = 0.0
        if i in bases and a:
            place_factor = max(place_factor, 1.0)
        if s.title:
            pos_factor = r.title_factor
        else:
            body_count += 1
            pos_factor = r.lead_factor if lead_seen < r.lead_sentences else 1.0
            lead_seen += 1
        weight = w * place_factor * pos_factor
        weights.append(weight)
        if loc == "":
            unplaced_mass += weight
        else:
            iraq_mass += weight
        if weight >= 0.5 * r.core and (s.title or lead_seen <= r.lead_sentences):
            strong_lead = True
        if loc in ("elsewhere", "mixed") and (f or i in bare):
            ew = r.core if (p or a) else r.forces_only
            ew *= factor * (r.mixed if loc == "mixed" else 1.0)
            elsewhere_mass += ew * pos_factor
    # Sentences placed nowhere can at most double what is placed in Iraq: an article about
    # foreign troops in a country the taxonomy does not know must not add up to Iraq.
    iraq_mass += min(unplaced_mass, iraq_mass)
    focus = (
        (iraq_mass + r.elsewhere_prior) / (iraq_mass + elsewhere_mass + r.elsewhere_prior)
    ) ** r.focus_power
    coverage = sum(1 for w in weights if w > 0) / max(1, len(weights))
    sparse = 1.0 if strong_lead else min(1.0, r.sparse_floor + r.sparse_slope * coverage)
    score = (1.0 - math.exp(-iraq_mass / r.saturation)) * focus * sparse
    return _Relevance(round(score, 4), iraq_mass, elsewhere_mass, focus, sparse, weights)


def _inside(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def _stance(
    tax: Taxonomy,
    found: Found,
    quote_spans: Sequence[tuple[int, int]],
    index: _Index,
) -> tuple[Stance, float, dict[str, object]]:
    st = tax.stance
    reported = {index.of(h.start) for h in found.get("reporting")}
    totals = {"for": 0.0, "against": 0.0}
    cues: list[dict[str, object]] = []
    for side in ("for", "against"):
        for strength, weight in (("strong", st.strong), ("weak", st.weak)):
            for h in found.get(f"cue:{side}:{strength}"):
                # The article's own voice counts fully; quoted or reported speech much less.
                voice = "own"
                factor = 1.0
                if _inside(h.start, quote_spans):
                    voice, factor = "quoted", st.quoted
                if index.of(h.start) in reported and st.reported < factor:
                    voice, factor = "reported", st.reported
                w = weight * factor
                totals[side] += w
                cues.append({"side": side, "cue": h.text, "weight": round(w, 2), "voice": voice})
    pro, con = totals["for"], totals["against"]
    balance = (pro - con) / (pro + con + st.damping)
    stance: Stance = "neutral"
    if abs(balance) >= st.threshold and abs(pro - con) >= st.min_margin:
        stance = "for_withdrawal" if balance > 0 else "against_withdrawal"
    evidence: dict[str, object] = {
        "for": round(pro, 2),
        "against": round(con, 2),
        "balance": round(balance, 3),
        "cues": sorted(cues, key=lambda c: -float(str(c["weight"])))[:12],
    }
    return stance, round(balance, 4), evidence


def _topics(
    tax: Taxonomy, found: Found, index: _Index, sentences: Sequence[_Sentence]
) -> tuple[tuple[str, ...], dict[str, object]]:
    """The 1 to `max_topics` event types the article is about, best first, and their scores.

    Every sentence that matches a topic's rule adds its position weight (title > lead > body)
    times the topic's weight; a topic only seen in the body needs `min_body_sentences` sentences.
    Once a topic holds, sentences that only continue it ("the resolution", "the talks") add
    `continued` of their weight. The best topic is kept (even when it only holds in one body
    sentence), and the next ones that score at least `keep_ratio` of it.
    """
    rank = tax.topic_ranking
    titled = next((i for i, s in enumerate(sentences) if not s.title), len(sentences))
    lead_end = titled + rank.lead_sentences

    def position(i: int) -> float:
        return rank.title if i < titled else rank.lead if i < lead_end else rank.body

    # Lexicon lists ("@us_forces") serve several topics: locate each category's hits once.
    located: dict[str, set[int]] = {}

    def where(categories: Sequence[str]) -> set[int]:
        out: set[int] = set()
        for c in categories:
            if c not in located:
                located[c] = {index.of(h.start) for h in found.get(c)}
            out |= located[c]
        return out

    scored: list[tuple[float, bool, int, str]] = []
    evidence: dict[str, object] = {}
    for order, rule in enumerate(tax.topics):
        common: set[int] | None = None
        for categories in rule.groups:
            common = where(categories) if common is None else common & where(categories)
            if not common:
                break
        excluded = where(rule.exclude) if common and rule.exclude else set()
        common = (common or set()) - excluded
        if not common or len(common) < rule.min_sentences:
            continue
        qualified = len(common) >= rank.min_body_sentences or min(common) < lead_end
        score = sum(map(position, common))
        continued: set[int] = set()
        if rule.continues:
            continued = where((rule.continues,)) - common - excluded
            score += rank.continued * sum(map(position, continued))
        score *= rule.weight
        scored.append((score, qualified, order, rule.name))
        evidence[rule.name] = {
            "sentences": len(common),
            "continued": len(continued),
            "score": round(score, 2),
            "qualified": qualified,
        }
    if not scored:
        return (), evidence
    qualified_scores = [t for t in scored if t[1]]
    ranked = sorted(qualified_scores or scored, key=lambda t: (-t[0], t[2]))
    top = ranked[0][0]
    kept = [
        name for score, _, _, name in ranked[: rank.max_topics] if score >= rank.keep_ratio * top
    ]
    return tuple(kept), evidence


def classify(
    article_id: str,
    title: str | None,
    text: str,
    *,
    taxonomy: Taxonomy | None = None,
    relevance_threshold: float | None = None,
) -> Classification:
    """Classify one article: relevance, topics, stance, actors, quotes, figures and evidence."""
    tax = taxonomy or load_taxonomy()
    threshold = tax.relevance.threshold if relevance_threshold is None else relevance_threshold
    title_text = (title or "").strip().replace("\n", " ")
    full = f"{title_text}\n{text}" if title_text else text
    title_len = len(title_text) + 1 if title_text else 0
    sentences = _segment(full, title_len) or [_Sentence(0, len(full), 0, False)]
    index = _Index(sentences)

    found = tax.matcher.find(full)
    hits = _actor_hits(tax, found.get("actor"))
    places: list[set[str]] = [set() for _ in sentences]
    bases: set[int] = set()
    datelines = _dateline_ends(full)
    for h in hits:
        if h.actor.locates and not _inside(h.start, datelines):
            i = index.of(h.start)
            places[i].add(h.actor.locates)
            if h.actor.base:
                bases.add(i)
    forces: dict[int, list[str]] = {}
    bare: dict[int, list[str]] = {}
    presence: dict[int, list[str]] = {}
    attack: dict[int, list[str]] = {}
    strike: dict[int, list[str]] = {}
    support: dict[int, list[str]] = {}
    # An article that never names Iraq or an Iraqi place or actor scores 0 whatever else it says,
    # so the force, presence and attack terms are only looked for in the others.
    if any("iraq" in here for here in places):
        forces_hits = found.get("us_forces")
        if any("coalition" in h.text.lower() for h in forces_hits):
            # Once the article has named the US-led coalition, "the coalition" refers to it.
            forces_hits = forces_hits + found.get("coalition_ref")
        forces = index.group(forces_hits)
        bare = index.group(found.get("troops_bare"))
        presence = index.group(found.get("presence"))
        attack = index.group(found.get("attack"))
        strike = index.group(found.get("us_strike"))
        support = index.group(found.get("support"))
    rel = _relevance(tax, sentences, places, bases, forces, bare, presence, attack, strike, support)
    relevant = rel.score >= threshold

    quotes_found = _extract_quotes(full, hits)
    quote_spans = [(a, b) for a, b, _ in quotes_found]
    if relevant:
        stance, stance_score, stance_evidence = _stance(tax, found, quote_spans, index)
        topics, topic_counts = _topics(tax, found, index, sentences)
    else:
        stance, stance_score, stance_evidence = "neutral", 0.0, {}
        topics, topic_counts = (), {}

    mentions: Counter[Actor] = Counter(h.actor for h in hits if h.actor.entity)
    entities = tuple(
        Entity(name=a.name, kind=a.kind, mentions=n)
        for a, n in sorted(mentions.items(), key=lambda kv: (-kv[1], kv[0].name))
    )
    figures = tuple(_extract_figures(full, sentences, index))

    term_counts: Counter[str] = Counter()
    for i, w in enumerate(rel.weights):
        if w > 0:
            for per_sentence in (forces, presence, attack, strike):
                term_counts.update(t.lower() for t in per_sentence.get(i, ()))
    top = sorted(range(len(sentences)), key=lambda i: -rel.weights[i])[:5]
    evidence: dict[str, object] = {
        "relevance": {
            "iraq_mass": round(rel.iraq_mass, 3),
            "elsewhere_mass": round(rel.elsewhere_mass, 3),
            "focus": round(rel.focus, 3),
            "sparse_factor": round(rel.sparse, 3),
            "threshold": threshold,
        },
        "terms": dict(term_counts.most_common(15)),
        "actors": [e.name for e in entities[:10]],
        "sentences": [
            {
                "weight": round(rel.weights[i], 3),
                "text": full[sentences[i].start : sentences[i].end].strip()[:400],
            }
            for i in top
            if rel.weights[i] > 0
        ],
        "stance": stance_evidence,
        "topics": topic_counts,
        "taxonomy": tax.source,
    }
    return Classification(
        article_id=article_id,
        relevant=relevant,
        relevance_score=rel.score,
        stance=stance,
        stance_score=stance_score,
        topics=topics,
        entities=entities,
        quotes=tuple(q for _, _, q in quotes_found),
        figures=figures,
        evidence=evidence,
        version=classifier_version(tax, relevance_threshold),
    )


def classify_articles(
    articles: Sequence[StoredArticle], settings: Settings
) -> list[Classification]:
    """Classify stored articles with the configured taxonomy and relevance threshold."""
    tax = load_taxonomy(settings.classify.taxonomy)
    threshold = settings.classify.relevance_threshold
    return [
        classify(a.article_id, a.title, a.text, taxonomy=tax, relevance_threshold=threshold)
        for a in articles
    ]
