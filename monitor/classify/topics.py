"""Event types (`topics`): the one to three events an article is about, best first.

A sentence supports a topic when it matches one term of every group of the topic's rule; a topic
is a candidate when it is in the title or lead or in enough body sentences; candidates are
scored by where their sentences stand (title > lead > body), plus the sentences that refer back
to them ("the resolution", "the talks"), times the topic's weight. The rules and parameters are
the taxonomy's; docs/classification.md gives the rubric.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.classify.matching import Found, Index, Sentence
from monitor.classify.taxonomy import Taxonomy


def rank_topics(
    tax: Taxonomy, found: Found, index: Index, sentences: Sequence[Sentence]
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
