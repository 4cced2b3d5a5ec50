"""One article in, one `Classification` out: the stages of classification put together.

The text (title line first) is matched against the taxonomy once (`matching`) and cut into
sentences (`analyse`). An article that names no Iraqi place or actor is not relevant, and nothing
more is weighed. Otherwise each sentence is flagged (`relevance.sentence_flags`), the rules weigh
the flags into their score, the own-voice stance cues are found (`stance`), and the learned layer
(`model`) turns the flags, the rules' score and the cue weight into P(on-topic): the relevance
score. Relevant articles get topics (`topics`) and a stance; every article gets its actors,
quotes (`quotes`) and figures (`figures`). Every classification carries the evidence that moved
its scores — the features and the model's probability included — and the version of code,
taxonomy and model that made it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

from monitor.classify.figures import extract_figures
from monitor.classify.matching import Found, Index, Sentence, dateline_spans, inside, segment
from monitor.classify.model import RelevanceModel, load_model, warn_if_trained_elsewhere
from monitor.classify.quotes import extract_quotes
from monitor.classify.relevance import Flags, Relevance, features, score_rules, sentence_flags
from monitor.classify.stance import StanceResult, decide_stance, own_voice, stance_cues
from monitor.classify.taxonomy import Actor, ActorHit, Taxonomy, actor_hits, load_taxonomy
from monitor.classify.topics import rank_topics
from monitor.models import Classification, Entity, Quote, StoredArticle
from monitor.settings import Settings


@dataclass
class Analysis:
    """What every part of classification reads: the text, its sentences and the matches."""

    full: str
    sentences: list[Sentence]
    index: Index
    found: Found
    hits: list[ActorHit]
    places: list[set[str]]
    bases: set[int]
    quotes: list[tuple[int, int, Quote]]

    @property
    def in_iraq(self) -> bool:
        """Some sentence names Iraq, an Iraqi place or an Iraqi actor (outside a dateline)."""
        return any("iraq" in here for here in self.places)


def _without_title(title: str, text: str) -> str:
    """The text without its first line when that line repeats the title (pages often do)."""
    head, _, rest = text.lstrip().partition("\n")
    if title and " ".join(head.split()).rstrip(" .") == " ".join(title.split()).rstrip(" ."):
        return rest
    return text


def analyse(tax: Taxonomy, title: str | None, text: str) -> Analysis:
    """Match the taxonomy, cut sentences, place them by the actors they name, find quotes."""
    title_text = (title or "").strip().replace("\n", " ")
    text = _without_title(title_text, text)
    full = f"{title_text}\n{text}" if title_text else text
    title_len = len(title_text) + 1 if title_text else 0
    sentences = segment(full, title_len) or [Sentence(0, len(full), 0, False)]
    index = Index(sentences)
    found = tax.matcher.find(full)
    hits = actor_hits(tax, found.get("actor"))
    places: list[set[str]] = [set() for _ in sentences]
    bases: set[int] = set()
    datelines = dateline_spans(full)
    for h in hits:
        if h.actor.locates and not inside(h.start, datelines):
            i = index.of(h.start)
            places[i].add(h.actor.locates)
            if h.actor.base:
                bases.add(i)
    return Analysis(full, sentences, index, found, hits, places, bases, extract_quotes(full, hits))


@dataclass
class RelevanceInputs:
    """The flags, rules' score, own-voice stance cues and features of an article in Iraq."""

    flags: Flags
    rules: Relevance
    stance: StanceResult
    vector: list[float]


def _own_voice_cues(tax: Taxonomy, a: Analysis) -> StanceResult:
    spans = [(x, y) for x, y, _ in a.quotes]
    return stance_cues(tax, own_voice(tax, a.full, a.sentences, a.found, a.index, spans))


def relevance_inputs(tax: Taxonomy, a: Analysis) -> RelevanceInputs | None:
    """What the learned layer weighs; None for an article that names no Iraqi place or actor."""
    if not a.in_iraq:
        return None
    flags = sentence_flags(tax, a.found, a.index, a.places, a.bases, a.hits)
    rules = score_rules(tax, a.sentences, flags)
    cues = _own_voice_cues(tax, a)
    return RelevanceInputs(flags, rules, cues, features(tax, a.sentences, flags, rules, cues))


def _version(tax: Taxonomy, model: RelevanceModel, threshold: float | None) -> str:
    version = f"{tax.version}+rel.{model.digest}"
    if threshold is not None and threshold != model.threshold:
        version += f"+t{threshold:g}"
    return version


def classifier_version(
    taxonomy: Taxonomy | None = None,
    relevance_threshold: float | None = None,
    model: RelevanceModel | None = None,
) -> str:
    """The version recorded with each classification: code, taxonomy and model [+ threshold]."""
    return _version(taxonomy or load_taxonomy(), model or load_model(), relevance_threshold)


@dataclass(frozen=True)
class Classifier:
    """What classification runs with: a taxonomy, the relevance model and the threshold
    (None: the model's)."""

    taxonomy: Taxonomy
    model: RelevanceModel
    threshold: float | None = None

    @classmethod
    def configured(cls, settings: Settings) -> Classifier:
        """The classifier the settings name (taxonomy, model, threshold)."""
        c = settings.classify
        return cls(load_taxonomy(c.taxonomy), load_model(c.model), c.relevance_threshold)

    @cached_property
    def version(self) -> str:
        """Code, taxonomy and model versions [+ a threshold other than the model's]."""
        return _version(self.taxonomy, self.model, self.threshold)

    def vector(self, title: str | None, text: str) -> list[float] | None:
        """The learned layer's inputs for one text (None when it names nothing in Iraq)."""
        inputs = relevance_inputs(self.taxonomy, analyse(self.taxonomy, title, text))
        return None if inputs is None else inputs.vector

    def classify(
        self,
        article_id: str,
        title: str | None,
        text: str,
        *,
        labelled_relevant: bool = False,
    ) -> Classification:
        """Classify one article. `labelled_relevant`: an analyst says it is relevant, so it gets
        topics and a stance even where the model says no (its own call is still recorded)."""
        tax, model = self.taxonomy, self.model
        warn_if_trained_elsewhere(model.digest, str(model.meta.get("taxonomy", "")), tax.digest)
        threshold = model.threshold if self.threshold is None else self.threshold
        a = analyse(tax, title, text)
        inputs = relevance_inputs(tax, a)
        relevance: dict[str, object] = {"threshold": threshold, "model": model.digest}
        if inputs is None:
            probability = 0.0
            relevance["probability"] = 0.0
            relevance["gate"] = "names no Iraqi place or actor"
        else:
            probability = model.probability(inputs.vector)
            rules = inputs.rules
            relevance.update(
                {
                    "probability": round(probability, 4),
                    "rules_score": rules.score,
                    "rules_relevant": rules.score >= tax.relevance.threshold,
                    "iraq_mass": round(rules.iraq_mass, 3),
                    "elsewhere_mass": round(rules.elsewhere_mass, 3),
                    "focus": round(rules.focus, 3),
                    "sparse_factor": round(rules.sparse, 3),
                    "features": dict(
                        zip(model.features, (round(v, 4) for v in inputs.vector), strict=True)
                    ),
                    "contributions": model.contributions(inputs.vector),
                    "intercept": model.intercept,
                }
            )
        relevant = probability >= threshold
        if labelled_relevant:
            relevance["labelled_relevant"] = True
        if relevant or labelled_relevant:
            # Labelled relevant, though it names nothing in Iraq: its cues were not looked for.
            cues = inputs.stance if inputs is not None else _own_voice_cues(tax, a)
            stance, stance_score, stance_evidence = decide_stance(tax, cues)
            topics, topic_counts = rank_topics(tax, a.found, a.index, a.sentences)
        else:
            stance, stance_score, stance_evidence = "neutral", 0.0, {}
            topics, topic_counts = (), {}

        mentions: Counter[Actor] = Counter(h.actor for h in a.hits if h.actor.entity)
        entities = tuple(
            Entity(name=actor.name, kind=actor.kind, mentions=n)
            for actor, n in sorted(mentions.items(), key=lambda kv: (-kv[1], kv[0].name))
        )
        figures = tuple(extract_figures(a.full, a.sentences, a.index))
        evidence: dict[str, object] = {
            "relevance": relevance,
            "terms": {},
            "actors": [e.name for e in entities[:10]],
            "sentences": [],
            "stance": stance_evidence,
            "topics": topic_counts,
            "taxonomy": tax.source,
            "model": model.source,
        }
        if inputs is not None:
            evidence["terms"], evidence["sentences"] = _sentence_evidence(a, inputs)
        return Classification(
            article_id=article_id,
            relevant=relevant,
            relevance_score=round(probability, 4),
            stance=stance,
            stance_score=stance_score,
            topics=topics,
            entities=entities,
            quotes=tuple(q for _, _, q in a.quotes),
            figures=figures,
            evidence=evidence,
            version=self.version,
        )


def _sentence_evidence(
    a: Analysis, inputs: RelevanceInputs
) -> tuple[dict[str, int], list[dict[str, object]]]:
    """The force / presence / attack / strike terms of the weighed sentences, and the (up to
    five) sentences that weighed most in the rules' score."""
    weights = inputs.rules.weights
    flags = inputs.flags
    term_counts: Counter[str] = Counter()
    for i, w in enumerate(weights):
        if w > 0:
            for per_sentence in (flags.us, flags.presence, flags.attack, flags.strike):
                term_counts.update(t.lower() for t in per_sentence.get(i, ()))
    top = sorted(range(len(a.sentences)), key=lambda i: -weights[i])[:5]
    sentences: list[dict[str, object]] = [
        {
            "weight": round(weights[i], 3),
            "text": a.full[a.sentences[i].start : a.sentences[i].end].strip()[:400],
        }
        for i in top
        if weights[i] > 0
    ]
    return dict(term_counts.most_common(15)), sentences


def classify(
    article_id: str,
    title: str | None,
    text: str,
    *,
    taxonomy: Taxonomy | None = None,
    relevance_threshold: float | None = None,
    model: RelevanceModel | None = None,
    labelled_relevant: bool = False,
) -> Classification:
    """Classify one article: relevance, topics, stance, actors, quotes, figures and evidence."""
    classifier = Classifier(taxonomy or load_taxonomy(), model or load_model(), relevance_threshold)
    return classifier.classify(article_id, title, text, labelled_relevant=labelled_relevant)


def classify_articles(
    articles: Sequence[StoredArticle],
    settings: Settings,
    labelled_relevant: Collection[str] = (),
) -> list[Classification]:
    """Classify stored articles with the configured taxonomy, model and threshold; the ids in
    `labelled_relevant` are relevant by an analyst's label."""
    classifier = Classifier.configured(settings)
    return [
        classifier.classify(
            a.article_id, a.title, a.text, labelled_relevant=a.article_id in labelled_relevant
        )
        for a in articles
    ]
