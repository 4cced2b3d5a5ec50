"""Relevance, sentence by sentence: what each sentence says about US / coalition forces and where,
the rules' score, and the general features the learned layer (`model.py`) weighs.

Each sentence is placed (Iraq, elsewhere, both, unknown) by the places and actors it names and
flagged by what it says (`Flags`):

* **US forces**: a `us_forces` term ("US troops", "the US-led coalition"); also a bare troop word
  ("its troops", "the troop presence") in a sentence that names the US (`us_named`) or right after
  one that names US forces ("the troops who remain"), unless a qualifier stands right before it
  ("Iraqi forces") or it belongs to a named group ("Popular Mobilization Forces"). NATO's own
  mission (`other_forces`) is a foreign force, not the US-led coalition.
* presence / withdrawal / troop-cut language, attacks (not those the forces merely back), US
  strikes, a base hosting US troops.
* **history**: a sentence naming the 2003 invasion or the Saddam era (`history`) is about the
  past, so its forces, strikes and bases do not count toward the current presence.
* **another conflict**: a sentence naming Turkey, the PKK or the SDF (`other_conflict`) is placed
  both in Iraq and elsewhere, like a sentence about troops in another country.

`score_rules` weighs the flagged sentences into the rules' score (docs/classification.md);
`features` turns the same flags into a handful of shares and scores — no vocabulary, so nothing
event-specific can be learned from them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.classify.matching import Found, Hit, Index, Sentence
from monitor.classify.stance import StanceResult
from monitor.classify.taxonomy import ActorHit, Taxonomy

# The learned layer's inputs, in the order the stored model lists them (model.py checks). The
# rules' score carries the rubric (forces and presence in the same sentences, placed in Iraq,
# the focus against troops elsewhere, the past and other conflicts); the others say what the
# score does not: whether the title itself is evidence, how hard the article argues in its own
# voice, and how much of it is about the past, another conflict, a non-US foreign force or troops
# elsewhere. Counts of evidence sentences are left out on purpose: the score already weighs them,
# and a fit on them overrides the focus for hard-negative types it has not seen (an anniversary
# of the 2003 invasion scored 0.18 by the rules, 0.80 by such a fit). So is length: the labelled
# texts are cut at about 2,000 characters, the articles it judges are not, so anything that grows
# with length would mean one thing in training and another in use; the others are shares.
FEATURES = (
    "rules_score",
    "core_title",
    "argue_iq",
    "hist_share",
    "conflict_share",
    "nonus_share",
    "elsewhere_share",
)
FEATURE_HELP = {
    "rules_score": "the rules' relevance score (0-1)",
    "core_title": "the title is a core sentence (US forces + presence or attack, in Iraq, current)",
    "argue_iq": "log(1 + own-voice stance cue weight in sentences placed in Iraq; 0 when the "
    "article names no troops)",
    "hist_share": "share of sentences on the 2003 war or the Saddam era",
    "conflict_share": "share of sentences naming Turkey, the PKK or the SDF",
    "nonus_share": "share of sentences in Iraq naming a foreign force that is not US-led (NATO)",
    "elsewhere_share": "share of sentences on troops placed elsewhere (Syria, Germany ...)",
}


@dataclass(frozen=True)
class Flags:
    """What each sentence says about US / coalition forces, and where it is placed."""

    places: list[set[str]]  # "iraq" / "elsewhere" named in the sentence (refined: R4)
    us: dict[int, list[str]]  # US / coalition forces, with the terms that say so
    foreign: set[int]  # a foreign force that is not the US-led coalition (NATO's mission)
    bare: set[int]  # any troop word
    bases: set[int]  # a base hosting US troops
    presence: dict[int, list[str]]
    attack: dict[int, list[str]]
    strike: dict[int, list[str]]
    support: set[int]
    history: set[int]
    conflict: set[int]

    @property
    def in_iraq(self) -> bool:
        """Some sentence names Iraq, an Iraqi place or an Iraqi actor."""
        return any("iraq" in here for here in self.places)


def _hit_sentences(index: Index, hits: Sequence[Hit]) -> set[int]:
    return {index.of(h.start) for h in hits}


def _in_proper_name(text: str, hit: Hit) -> bool:
    """A capitalised troop word after a capitalised word is part of a name ("Syrian Democratic
    Forces", "Iraqi Security Forces"), not US troops."""
    if not hit.text[:1].isupper():
        return False
    before = text[max(0, hit.start - 40) : hit.start].rstrip(" \t-").split()
    return bool(before) and before[-1][:1].isupper()


# Actors whose name after a troop word makes it US troops, not another force.
_US_ACTORS = frozenset({"United States", "Global Coalition to Defeat ISIS", "Pentagon"})


def _bare_us_troops(
    found: Found,
    index: Index,
    us_named: set[int],
    actors: Sequence[ActorHit],
) -> dict[int, list[str]]:
    """Bare troop words that mean US troops: in a sentence naming the US, not right after a
    qualifier of another force ("Iraqi forces"), not part of a named group ("... Forces")."""
    if not us_named:
        return {}
    qualifiers = found.get("not_us_qualifiers")
    qualifier_ends = {h.end for h in qualifiers}
    # Arabic puts the qualifier after the troop word ("القوات العراقية", "قوات الحشد الشعبي").
    followers = {h.start for h in qualifiers} | {
        a.start for a in actors if a.actor.name not in _US_ACTORS
    }
    named = sorted((a.start, a.end) for a in actors)
    starts = [start for start, _ in named]
    text = found.text
    out: dict[int, list[str]] = {}
    for h in found.get("troops_bare"):
        i = index.of(h.start)
        if i not in us_named:
            continue
        gap_start = h.start
        while gap_start > 0 and text[gap_start - 1] in " \t-":
            gap_start -= 1
        if gap_start in qualifier_ends:
            continue
        if h.text[:1] >= "\u0600":
            gap_end = h.end
            while gap_end < len(text) and text[gap_end] in " \t":
                gap_end += 1
            if gap_end in followers:
                continue
        k = bisect.bisect_right(starts, h.start) - 1
        if k >= 0 and any(h.start < end for _, end in named[max(0, k - 2) : k + 1]):
            continue  # inside an actor's name ("Popular Mobilization Forces")
        if _in_proper_name(text, h):
            continue
        out.setdefault(i, []).append(h.text)
    return out


def sentence_flags(
    tax: Taxonomy,
    found: Found,
    index: Index,
    places: list[set[str]],
    bases: set[int],
    actors: Sequence[ActorHit],
) -> Flags:
    """Flag every sentence (module doc). Call only when some sentence is placed in Iraq."""
    del tax  # the taxonomy is in `found`'s categories; kept for symmetry with the scorers
    forces_hits = found.get("us_forces")
    if any("coalition" in h.text.lower() for h in forces_hits):
        # Once the article has named the US-led coalition, "the coalition" refers to it.
        forces_hits = forces_hits + found.get("coalition_ref")
    us = index.group(forces_hits)
    named = _hit_sentences(index, found.get("us_named"))
    # A bare troop word means US troops in a sentence that names the US, or right after one
    # that names US forces ("... American soldiers back to Iraq. The troops who remain ...").
    referred = named | {i + 1 for i in us}
    for i, terms in _bare_us_troops(found, index, referred, actors).items():
        us.setdefault(i, []).extend(terms)
    history = _hit_sentences(index, found.get("history"))
    conflict = _hit_sentences(index, found.get("other_conflict"))
    refined = [set(here) for here in places]
    for i in conflict:
        refined[i] |= {"iraq", "elsewhere"}
    return Flags(
        places=refined,
        us=us,
        foreign=_hit_sentences(index, found.get("other_forces")),
        bare=_hit_sentences(index, found.get("troops_bare")),
        bases=set(bases),
        presence=index.group(found.get("presence")),
        attack=index.group(found.get("attack")),
        strike=index.group(found.get("us_strike")),
        support=_hit_sentences(index, found.get("support")),
        history=history,
        conflict=conflict,
    )


@dataclass
class Relevance:
    """The rules' relevance score and what went into it (for the evidence)."""

    score: float
    iraq_mass: float
    elsewhere_mass: float
    focus: float
    sparse: float
    weights: list[float]


def _located(places: Sequence[set[str]]) -> list[tuple[str, bool]]:
    """Each sentence's place ("iraq", "elsewhere", "mixed", "" unknown) and whether it names it
    (else it inherits the previous sentence's)."""
    out: list[tuple[str, bool]] = []
    carry = ""
    for here in places:
        if here:
            carry = "mixed" if len(here) > 1 else next(iter(here))
            out.append((carry, True))
        else:
            out.append((carry, False))
    return out


def score_rules(tax: Taxonomy, sentences: Sequence[Sentence], flags: Flags) -> Relevance:
    """The rules' relevance score from each sentence's place and flags (docs/classification.md)."""
    r = tax.relevance
    iraq_mass = unplaced_mass = elsewhere_mass = past_mass = 0.0
    weights: list[float] = []
    lead_seen = 0
    strong_lead = False
    located = _located(flags.places)
    for i, s in enumerate(sentences):
        loc, explicit = located[i]
        current = i not in flags.history
        f = i in flags.us and current
        base = i in flags.bases and current
        p, a = i in flags.presence, i in flags.attack
        if a and not p and i in flags.support:
            a = False  # the forces back someone else's fight: not an attack on them
        if f and (p or a):
            w = r.core
        elif base and (a or p):
            w = r.base_attack
        elif i in flags.strike and current:
            w = r.strike_only
        elif f or base:
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
        if base and a:
            place_factor = max(place_factor, 1.0)
        if s.title:
            pos_factor = r.title_factor
        else:
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
        if loc in ("elsewhere", "mixed") and (i in flags.us or i in flags.bare):
            ew = r.core if (p or a) else r.forces_only
            ew *= factor * (r.mixed if loc == "mixed" else 1.0)
            elsewhere_mass += ew * pos_factor
        # The 2003 war and another conflict on Iraqi soil pull the focus away from today's
        # troop presence as troops elsewhere do.
        if i in flags.history:
            past_mass += r.history * pos_factor
        if i in flags.conflict:
            past_mass += r.other_conflict * pos_factor
    # Sentences placed nowhere can at most double what is placed in Iraq: an article about
    # foreign troops in a country the taxonomy does not know must not add up to Iraq.
    iraq_mass += min(unplaced_mass, iraq_mass)
    away = elsewhere_mass + past_mass
    focus = (
        (iraq_mass + r.elsewhere_prior) / (iraq_mass + away + r.elsewhere_prior)
    ) ** r.focus_power
    evidence = [i for i, w in enumerate(weights) if w > 0]
    coverage = len(evidence) / max(1, len(weights))
    sparse = 1.0 if strong_lead else min(1.0, r.sparse_floor + r.sparse_slope * coverage)
    if (
        len(evidence) == 1
        and not sentences[evidence[0]].title
        and len(sentences) > r.single_mention_sentences
    ):
        sparse = min(sparse, r.single_mention)  # one passing sentence is context
    score = (1.0 - math.exp(-iraq_mass / r.saturation)) * focus * sparse
    return Relevance(round(score, 4), iraq_mass, away, focus, sparse, weights)


def features(
    tax: Taxonomy,
    sentences: Sequence[Sentence],
    flags: Flags,
    rules: Relevance,
    own_cues: StanceResult,
) -> list[float]:
    """The learned layer's inputs (`FEATURES`, in that order) from the sentence flags and the
    own-voice stance cues (those in sentences placed in Iraq: an op-ed on leaving Syria that
    names Iraq once does not argue about Iraq)."""
    located = _located(flags.places)
    core_title = nonus = troops_else = 0
    in_iraq: set[int] = set()
    for i, s in enumerate(sentences):
        loc = located[i][0]
        if loc in ("iraq", "mixed") or (loc == "" and s.title):
            in_iraq.add(i)
        us = i in flags.us
        if s.title and i not in flags.history and i not in flags.conflict:
            p = i in flags.presence
            att = i in flags.attack and not (not p and i in flags.support)
            if (us or i in flags.bases) and (p or att) and loc in ("iraq", "mixed", ""):
                core_title = 1
        if i in flags.foreign and not us and loc in ("iraq", "mixed"):
            nonus += 1
        if (us or i in flags.bare) and loc == "elsewhere":
            troops_else += 1
    n = max(1, len(sentences))
    del tax
    return [
        rules.score,
        float(core_title),
        math.log1p(own_cues.weight_in(in_iraq) if flags.us or flags.bare else 0.0),
        len(flags.history) / n,
        len(flags.conflict) / n,
        nonus / n,
        troops_else / n,
    ]
