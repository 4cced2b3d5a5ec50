"""One article in, one `Classification` out: the stages of classification put together.

The text (title line first) is matched against the taxonomy once (`matching`), cut into
sentences, and each part reads what it needs from the matches: relevance, stance and topics
(`scoring`), quotes (`quotes`), figures (`figures`) and the actors named. Every classification
carries the evidence that moved its scores and the version of code and taxonomy that made it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from monitor.classify.figures import extract_figures
from monitor.classify.matching import Index, Sentence, dateline_spans, inside, segment
from monitor.classify.quotes import extract_quotes
from monitor.classify.scoring import rank_topics, score_relevance, score_stance
from monitor.classify.taxonomy import (
    Actor,
    Taxonomy,
    actor_hits,
    classifier_version,
    load_taxonomy,
)
from monitor.models import Classification, Entity, StoredArticle
from monitor.settings import Settings


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
    rel = score_relevance(
        tax, sentences, places, bases, forces, bare, presence, attack, strike, support
    )
    relevant = rel.score >= threshold

    quotes_found = extract_quotes(full, hits)
    quote_spans = [(a, b) for a, b, _ in quotes_found]
    if relevant:
        stance, stance_score, stance_evidence = score_stance(tax, found, quote_spans, index)
        topics, topic_counts = rank_topics(tax, found, index, sentences)
    else:
        stance, stance_score, stance_evidence = "neutral", 0.0, {}
        topics, topic_counts = (), {}

    mentions: Counter[Actor] = Counter(h.actor for h in hits if h.actor.entity)
    entities = tuple(
        Entity(name=a.name, kind=a.kind, mentions=n)
        for a, n in sorted(mentions.items(), key=lambda kv: (-kv[1], kv[0].name))
    )
    figures = tuple(extract_figures(full, sentences, index))

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
