"""Stance: what the article argues in its own voice about the troop presence.

The own voice is the text without quotations (double quotes, scare quotes around a word, and
'single-quoted' headline quotes), without sentences that report someone's words (the taxonomy's
`stance.reporting` verbs), without a "Speaker: ..." headline, page-clutter lines ("Read next: ...")
and everything after an end marker ("ALSO READ"). In it the taxonomy's cues are found in one
pass (`StanceCues`): op-ed English such as a policy modal attached to a leave / stay verb, a
warning that a withdrawal would hand gains to someone. A negation just before a cue turns it to
the other side ("now is not the time to withdraw"). The headline and the opening count double.

For when the for-weight clears `min_side` and is `ratio` times the against-weight; against the same
way round; else neutral. A straight report (cues mostly in reported speech) stays neutral; an
op-ed that argues one side in its own voice does not; a swap needs both bars cleared the wrong way.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.classify.matching import Found, Index, Sentence
from monitor.classify.taxonomy import Taxonomy
from monitor.models import Stance

# Quotations the quote finder leaves out (it wants four words): 'single-quoted' headline quotes
# and scare quotes around a word or two ("occupiers"): someone else's words either way.
_OTHER_QUOTES = re.compile(
    r"(?<!\w)[‘'][^‘’'\n]{6,200}[’'](?!\w)|“[^“”\n]{1,300}”|(?<![\w\"])\"[^\"\n]{1,300}\"(?![\w\"])"
)
_SPEAKER_HEADLINE = re.compile(r"^[^:\n]{2,60}:\s")  # "Sadr: US forces must leave Iraq"


@dataclass(frozen=True)
class StanceCue:
    """One cue found in the article's own voice."""

    side: str  # "for" / "against": the side it counts for (after any negation)
    text: str
    weight: float
    negated: bool
    head: bool
    sentence: int


@dataclass(frozen=True)
class StanceResult:
    """The own-voice cue weights per side, the decision and the cues behind it."""

    pro: float
    con: float
    own_sentences: int
    cues: tuple[StanceCue, ...]

    @property
    def weight(self) -> float:
        """All own-voice cue weight, either side."""
        return self.pro + self.con

    def weight_in(self, sentences: set[int]) -> float:
        """The own-voice cue weight, either side, of cues in these sentences."""
        return sum(c.weight for c in self.cues if c.sentence in sentences)


def own_voice(
    tax: Taxonomy,
    full: str,
    sentences: Sequence[Sentence],
    found: Found,
    index: Index,
    quote_spans: Sequence[tuple[int, int]],
) -> list[tuple[int, str, bool]]:
    """The article's own voice: each kept sentence's number, its text (quotations blanked) and
    whether it is in the head (the title or the first `head_chars` characters)."""
    rules = tax.stance_cues
    spans = [*quote_spans, *((m.start(), m.end()) for m in _OTHER_QUOTES.finditer(full))]
    reported = {index.of(h.start) for h in found.get("reporting")}
    cut = min((p for m in rules.end_markers if (p := full.find(m)) >= 0), default=-1)
    pieces: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        start = max(start, pos)
        if end > start:
            pieces += [full[pos:start], " " * (end - start)]
            pos = end
    pieces.append(full[pos:])
    blank = "".join(pieces)
    head_chars = tax.stance.head_chars
    out: list[tuple[int, str, bool]] = []
    for i, s in enumerate(sentences):
        if 0 <= cut <= s.start:
            break
        text = blank[s.start : s.end]
        if i in reported or (s.title and _SPEAKER_HEADLINE.match(text)):
            continue
        if rules.clutter is not None and rules.clutter.match(text):
            continue
        out.append((i, text, s.title or s.start < head_chars))
    return out


def stance_cues(tax: Taxonomy, own: Sequence[tuple[int, str, bool]]) -> StanceResult:
    """Own-voice cue weights per side (module doc)."""
    rules = tax.stance_cues
    st = tax.stance
    starts: list[int] = []
    pos = 0
    for _, text, _ in own:
        starts.append(pos)
        pos += len(text) + 1
    joined = "\n".join(text for _, text, _ in own)
    totals = {"for": 0.0, "against": 0.0}
    cues: list[StanceCue] = []
    for m in rules.cues.finditer(joined):
        which = next(k for k, cue in enumerate(rules.each) if cue.match(joined, m.start()))
        side, negatable, _ = rules.info[which]
        k = bisect.bisect_right(starts, m.start()) - 1
        sentence, _, head = own[k]
        weight = st.head_weight if head else 1.0
        before = joined[max(starts[k], m.start() - st.negation_chars) : m.start()]
        negated = negatable and bool(
            rules.negation.search(m.group(0)) or rules.negation.search(before)
        )
        if negated:
            side = "against" if side == "for" else "for"
        totals[side] += weight
        cues.append(StanceCue(side, m.group(0), weight, negated, head, sentence))
    return StanceResult(totals["for"], totals["against"], len(own), tuple(cues))


def decide_stance(tax: Taxonomy, result: StanceResult) -> tuple[Stance, float, dict[str, object]]:
    """The stance, its balance (-1 … 1, positive = for withdrawal) and the evidence."""
    st = tax.stance
    pro, con = result.pro, result.con
    stance: Stance = "neutral"
    if pro >= st.min_side and pro >= st.ratio * con:
        stance = "for_withdrawal"
    elif con >= st.min_side and con >= st.ratio * pro:
        stance = "against_withdrawal"
    balance = (pro - con) / (pro + con + st.damping)
    evidence: dict[str, object] = {
        "for": round(pro, 2),
        "against": round(con, 2),
        "balance": round(balance, 3),
        "own_sentences": result.own_sentences,
        "cues": [
            {
                "side": c.side,
                "cue": c.text[:120],
                "weight": c.weight,
                "negated": c.negated,
                "head": c.head,
            }
            for c in result.cues[:12]
        ],
    }
    return stance, round(balance, 4), evidence
