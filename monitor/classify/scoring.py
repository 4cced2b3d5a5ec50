"""Scores: relevance, stance and event types (topics), each counted sentence by sentence.

* `score_relevance`: a sentence counts when it speaks of US / coalition forces (with presence,
  withdrawal or attack language, or a US strike) and is placed in Iraq by the places and actors it
  names (or the previous sentence's place); sentences about troops elsewhere pull the article's
  focus away from Iraq.
* `score_stance`: the article's own voice, not that of the people it quotes or reports.
* `rank_topics`: the one to three event types the article is about, best first.

The weights are the taxonomy's; docs/classification.md gives the rubric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.classify.matching import Found, Index, Sentence, inside
from monitor.classify.taxonomy import Taxonomy
from monitor.models import Stance


@dataclass
class Relevance:
    """An article's relevance score and what went into it (for the evidence)."""

    score: float
    iraq_mass: float
    elsewhere_mass: float
    focus: float
    sparse: float
    weights: list[float]


def score_relevance(
    tax: Taxonomy,
    sentences: Sequence[Sentence],
    places: list[set[str]],
    bases: set[int],
    forces: dict[int, list[str]],
    bare: dict[int, list[str]],
    presence: dict[int, list[str]],
    attack: dict[int, list[str]],
    strike: dict[int, list[str]],
    support: dict[int, list[str]],
) -> Relevance:
    """The relevance score from each sentence's place and force / presence / attack terms."""
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
    return Relevance(round(score, 4), iraq_mass, elsewhere_mass, focus, sparse, weights)


def score_stance(
    tax: Taxonomy,
    found: Found,
    quote_spans: Sequence[tuple[int, int]],
    index: Index,
) -> tuple[Stance, float, dict[str, object]]:
    """The article's stance, its balance (-1 … 1, positive = for withdrawal) and the cues."""
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
                if inside(h.start, quote_spans):
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
