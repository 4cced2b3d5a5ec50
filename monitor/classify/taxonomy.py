"""The taxonomy: what the classifier looks for, read from a TOML file and compiled once.

The packaged `taxonomy.toml` (next to this module) or an analyst's copy named by
`settings.classify.taxonomy` is validated by the pydantic models below (an unknown key or a bad
value stops with a message naming the key), then compiled into a `Taxonomy`: a `PhraseMatcher`
holding every lexicon term, topic term, stance cue and actor alias, plus the topic rules and the
scoring parameters. Loading is cached and lazy: nothing is read until the first classification,
and an edited file is read again.

`Taxonomy.version` is `CODE_VERSION` plus a hash of the taxonomy's parsed *content* (comments
and layout do not count); the classification version adds the relevance model's fingerprint
(classifier.py), so a taxonomy edit marks stored classifications outdated.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.arabic import fold
from monitor.classify.datafile import loaders
from monitor.classify.matching import Hit, PhraseMatcher, fast_prefix
from monitor.errors import ConfigError
from monitor.models import EntityKind
from monitor.settings import describe

CODE_VERSION = "rules-3"
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
    single_mention: float = Field(default=0.5, ge=0, le=1)
    single_mention_sentences: int = Field(default=3, ge=0)
    history: float = Field(default=0.5, ge=0)
    other_conflict: float = Field(default=0.5, ge=0)


class _LexiconSpec(_Model):
    us_forces: list[str] = Field(min_length=1)
    troops_bare: list[str] = Field(default_factory=list)
    presence: list[str] = Field(min_length=1)
    attack: list[str] = Field(min_length=1)
    us_strike: list[str] = Field(default_factory=list)
    support: list[str] = Field(default_factory=list)
    coalition_ref: list[str] = Field(default_factory=list)
    us_named: list[str] = Field(default_factory=list)
    not_us_qualifiers: list[str] = Field(default_factory=list)
    other_forces: list[str] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)
    other_conflict: list[str] = Field(default_factory=list)


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
    cues: list[str] = Field(default_factory=list)
    fixed: list[str] = Field(default_factory=list)


class _VoiceSpec(_Model):
    terms: list[str] = Field(min_length=1)
    weight: float = Field(default=1.0, ge=0)
    most: int = Field(default=1, ge=1)
    line: bool = False
    head: bool = False
    case: bool = False


class _StanceSpec(_Model):
    min_side: float = Field(default=2.0, ge=0)
    ratio: float = Field(default=2.0, ge=1)
    opinion_voice: float = Field(default=2.0, gt=0)
    opinion_min_side: float = Field(default=1.0, ge=0)
    head_weight: float = Field(default=2.0, ge=0)
    head_chars: int = Field(default=300, ge=0)
    damping: float = Field(default=1.5, gt=0)
    negation_chars: int = Field(default=25, ge=0)
    reporting: list[str] = Field(default_factory=list)
    negations: list[str] = Field(default_factory=list)
    clutter: list[str] = Field(default_factory=list)
    end_markers: list[str] = Field(default_factory=list)
    own_headlines: list[str] = Field(default_factory=list)
    own_speakers: list[str] = Field(default_factory=list)
    anchors: list[str] = Field(default_factory=list)
    parts: dict[str, str] = Field(default_factory=dict)
    voice: dict[str, _VoiceSpec] = Field(default_factory=dict)
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
class VoiceRule:
    """One kind of evidence that a piece argues in its own voice (`[stance.voice.<name>]`):
    the terms as one pattern, what each find weighs, how many finds count at most, and whether
    a term must be a whole line ("Opinion") or in the head."""

    name: str
    pattern: re.Pattern[str]
    weight: float
    most: int
    line: bool
    head: bool


@dataclass(frozen=True)
class StanceCues:
    """The stance cues compiled into one alternation (one pass over the article's own voice).

    `cues` is the alternation, without capturing groups (naming them doubles the cost of the
    pass); `each[k]` is cue k alone, to tell which one matched (the first that matches there, as
    the alternation chose); `info[k]` says which side it argues, whether a negation before it
    turns it to the other side, and the taxonomy term it came from.
    """

    cues: re.Pattern[str]
    each: tuple[re.Pattern[str], ...]
    info: tuple[tuple[str, bool, str], ...]
    negation: re.Pattern[str]
    clutter: re.Pattern[str] | None
    end_markers: tuple[str, ...]
    own_headline: re.Pattern[str] | None
    own_speaker: re.Pattern[str] | None
    voice: tuple[VoiceRule, ...]


@dataclass(frozen=True)
class Taxonomy:
    """A compiled taxonomy: lexicons, actors, topic rules and stance cues."""

    source: str
    digest: str
    relevance: _RelevanceSpec
    stance: _StanceSpec
    stance_cues: StanceCues
    topics: tuple[TopicRule, ...]
    topic_ranking: _TopicRankSpec
    actors: tuple[Actor, ...]
    matcher: PhraseMatcher

    @property
    def version(self) -> str:
        """Code version plus the taxonomy's content hash."""
        return f"{CODE_VERSION}+tax.{self.digest}"


@dataclass(frozen=True)
class ActorHit:
    """One mention of an actor in the text (character offsets)."""

    start: int
    end: int
    actor: Actor


def actor_hits(tax: Taxonomy, hits: Sequence[Hit]) -> list[ActorHit]:
    """The matcher's "actor" hits with the actor each alias stands for."""
    return [ActorHit(h.start, h.end, tax.actors[h.payload]) for h in hits]


_PART = re.compile(r"\$\{(\w+)\}")


def _term_pattern(term: str, parts: dict[str, str], where: str) -> str:
    """A stance term as a regular expression: "re:" terms with their ${part}s filled in,
    phrases as words with any run of spaces between them. Arabic in it is folded, as the own
    voice it reads is (arabic.fold: أ = ا, ة = ه ...)."""
    term = fold(term)
    if not term.startswith("re:"):
        words = [re.escape(w) for w in term.split()]
        return r"\b" + r"\s+".join(words) + r"\b"
    pattern = term[3:]
    for _ in range(5):  # parts may use parts, a few levels deep
        missing = [name for name in _PART.findall(pattern) if name not in parts]
        if missing:
            raise ConfigError(f"taxonomy {where}: no stance.parts entry {missing[0]!r}")
        expanded = _PART.sub(lambda m: fold(parts[m.group(1)]), pattern)
        if expanded == pattern:
            break
        pattern = expanded
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"taxonomy {where}: bad pattern {term!r}: {exc}") from exc
    return pattern


def _compile_stance(st: _StanceSpec) -> StanceCues:
    terms: list[tuple[str, bool, str, str]] = []  # side, negatable, term, pattern
    for side, spec in (("for", st.for_withdrawal), ("against", st.against_withdrawal)):
        key = f"stance.{side}_withdrawal"
        terms += [(side, False, t, _term_pattern(t, st.parts, f"{key}.fixed")) for t in spec.fixed]
        terms += [(side, True, t, _term_pattern(t, st.parts, f"{key}.cues")) for t in spec.cues]
    # Cues that state their own negation come first: "should not withdraw" is one cue, read as
    # it stands, not "withdraw" turned around by the "not" before it.
    terms.sort(key=lambda t: t[1])
    body = "|".join(f"(?:{pattern})" for _, _, _, pattern in terms)
    cues = re.compile(fast_prefix(body) + f"(?:{body})" if body else r"(?!x)x", re.I)
    each = tuple(re.compile(pattern, re.I) for _, _, _, pattern in terms)
    negations = [_term_pattern(t, {}, "stance.negations") for t in st.negations]
    negation = re.compile("|".join(negations) if negations else r"(?!x)x", re.I)
    clutter = None
    if st.clutter:
        starts = "|".join(_term_pattern(t, {}, "stance.clutter") for t in st.clutter)
        clutter = re.compile(rf"^\s*(?:{starts}).*$", re.I | re.M)
    own_headline = None
    if st.own_headlines:
        openers = "|".join(
            _term_pattern(t, st.parts, "stance.own_headlines") for t in st.own_headlines
        )
        own_headline = re.compile(rf"\s*(?:{openers})", re.I)
    own_speaker = None
    if st.own_speakers:
        who = "|".join(_term_pattern(t, st.parts, "stance.own_speakers") for t in st.own_speakers)
        own_speaker = re.compile(rf"(?:{who})[ \t,]*$", re.I)
    return StanceCues(
        cues=cues,
        each=each,
        info=tuple((side, negatable, term) for side, negatable, term, _ in terms),
        negation=negation,
        clutter=clutter,
        end_markers=tuple(st.end_markers),
        own_headline=own_headline,
        own_speaker=own_speaker,
        voice=tuple(_compile_voice(name, v, st.parts) for name, v in st.voice.items()),
    )


def _compile_voice(name: str, spec: _VoiceSpec, parts: dict[str, str]) -> VoiceRule:
    where = f"stance.voice.{name}"
    body = "|".join(_term_pattern(t, parts, where) for t in spec.terms)
    # A label line may carry a date or time after it ("Opinions 06:02 PM - 2024-04-16").
    if spec.line:
        pattern = rf"\s*(?:{body})(?:[\s.:|,/\-–—]|\d|[AaPp]\.?[Mm]\b\.?)*"
    else:  # a guard on the first character, as for the cues (fast_prefix)
        pattern = fast_prefix(body) + f"(?:{body})"
    try:
        compiled = re.compile(pattern, 0 if spec.case else re.I)
    except re.error as exc:  # each term compiles alone; together they still may not
        raise ConfigError(f"taxonomy {where}: bad pattern: {exc}") from exc
    return VoiceRule(name, compiled, spec.weight, spec.most, spec.line, spec.head)


def _compile_taxonomy(spec: _TaxonomySpec, source: str, digest: str) -> Taxonomy:
    matcher = PhraseMatcher()
    lex = spec.lexicon
    for category in _LexiconSpec.model_fields:
        for term in getattr(lex, category):
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
    for name in st.anchors:
        if name not in lexicon_names:
            raise ConfigError(f"taxonomy stance.anchors: no lexicon list {name!r}")
    for term in st.reporting:
        matcher.add("reporting", term, where="stance.reporting")
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
        stance_cues=_compile_stance(st),
        topics=tuple(topics),
        topic_ranking=spec.topic_ranking,
        actors=tuple(actors),
        matcher=matcher,
    )


def parse_taxonomy(text: str, source: str = "<string>") -> Taxonomy:
    """Validate and compile taxonomy TOML text; raise ConfigError naming the bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"taxonomy {source}: not valid TOML: {exc}") from exc
    try:
        spec = _TaxonomySpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"taxonomy {source}: {describe(exc)}") from exc
    # Hash the parsed content, not the bytes: comments and layout are not a taxonomy change.
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]
    return _compile_taxonomy(spec, source, digest)


#: The packaged taxonomy (cached), and `load_taxonomy(path)`: the file at `path`, or the
#: packaged one; cached, and read again when the file changes.
_packaged, load_taxonomy = loaders("taxonomy", "taxonomy.toml", parse_taxonomy)
