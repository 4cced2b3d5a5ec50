"""Stance: what the article argues in its own voice about the troop presence.

The own voice is the text without quotations (double quotes, scare quotes around a word,
'single-quoted' headline quotes, «guillemets», a paragraph that opens a quotation and never closes
it), without sentences that report someone's words (the taxonomy's `stance.reporting` verbs, unless
the writer speaks: `own_speakers`, "I believe"), without a "Speaker: ..." headline (unless what
follows the colon is the writer's own answer: `own_headlines`), page-clutter lines ("Read next:
...") and everything after an end marker ("ALSO READ"). In it the taxonomy's cues are found in one
pass (`StanceCues`): argument forms such as a policy modal attached to a leave / stay verb, a
withdrawal called good or harmful, the presence called a burden or an asset. A negation just
before a cue turns it to the other side ("now is not the time to withdraw"). The headline and the
opening count double.

Whether the piece argues at all is weighed apart (`voice_evidence`, the `[stance.voice]` rules): a
section label ("Opinion"), a contributor line, the writer in the first person, "we" as a nation,
evaluative adverbs, policy modals, questions, an arguing headline. A report needs `min_side` of
cue weight on a side; an opinion piece (voice at `opinion_voice`) needs only `opinion_min_side`
from cues in the head or in paragraphs that name the troops, the US or Iraq (`stance.anchors`).
Either way the side must weigh `ratio` times the other; else neutral. A report that quotes both
sides has no own-voice cue; a swap needs a bar cleared the wrong way and the ratio as well.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from monitor.arabic import fold
from monitor.classify.matching import Found, Index, Sentence
from monitor.classify.taxonomy import StanceCues, Taxonomy
from monitor.models import Stance

# Quotations the quote finder leaves out (it wants four words): 'single-quoted' headline quotes
# and scare quotes around a word or two ("occupiers"), and «guillemets» (Arabic, French):
# someone else's words either way.
_OTHER_QUOTES = re.compile(
    r"(?<!\w)[‘'][^‘’'\n]{6,200}[’'](?!\w)|“[^“”\n]{1,300}”|(?<![\w\"])\"[^\"\n]{1,300}\"(?![\w\"])"
    r"|«[^«»\n]{1,300}»|‹[^‹›\n]{1,300}›"
)
_SPEAKER_HEADLINE = re.compile(r"^[^:\n]{2,60}:\s")  # "Sadr: US forces must leave Iraq"
# A paragraph that opens a quotation and never closes it: the English way of quoting over several
# paragraphs (each opens with a quote mark, only the last one closes).
_OPEN_QUOTE_PARAGRAPH = re.compile(r"(?m)^[ \t]*(?:“[^”\n]*|\"[^\"\n]*|«[^»\n]*)$")


class OwnSentence(NamedTuple):
    """A sentence of the article's own voice: its number, its text with quotations blanked,
    whether it is in the head, and whether its paragraph names the troops, the US or Iraq."""

    number: int
    text: str
    head: bool
    anchored: bool


@dataclass(frozen=True)
class StanceCue:
    """One cue found in the article's own voice."""

    side: str  # "for" / "against": the side it counts for (after any negation)
    text: str
    weight: float
    negated: bool
    head: bool
    sentence: int
    anchored: bool = True


@dataclass(frozen=True)
class StanceResult:
    """The own-voice cue weights per side, the decision and the cues behind it."""

    pro: float
    con: float
    own_sentences: int
    cues: tuple[StanceCue, ...]
    voice: float = 0.0
    voice_finds: tuple[tuple[str, int], ...] = ()

    def anchored(self, side: str) -> float:
        """The weight of one side's cues in the head or in paragraphs that name the troops, the
        US or Iraq (an op-ed's "we have to stay vigilant" argues nothing about the troops)."""
        return sum(c.weight for c in self.cues if c.side == side and (c.head or c.anchored))

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
) -> list[OwnSentence]:
    """The article's own voice: the sentences it keeps (module doc), quotations blanked; the
    head is the title and the first `head_chars` characters."""
    rules = tax.stance_cues
    spans = [
        *quote_spans,
        *((m.start(), m.end()) for m in _OTHER_QUOTES.finditer(full)),
        *((m.start(), m.end()) for m in _OPEN_QUOTE_PARAGRAPH.finditer(full)),
    ]
    reported = {
        index.of(h.start)
        for h in found.get("reporting")
        if rules.own_speaker is None
        or not rules.own_speaker.search(full, max(0, h.start - 60), h.start)
    }
    anchored = _anchored(tax, found, index)
    # A cue is tied to the troops by its paragraph: "It is time to go." follows the sentences
    # that say who should go.
    anchored_paras = {sentences[i].para for i in anchored}
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
    out: list[OwnSentence] = []
    for i, s in enumerate(sentences):
        if 0 <= cut <= s.start:
            break
        text = blank[s.start : s.end]
        if i in reported or (s.title and _speaker_headline(rules, text)):
            continue
        if rules.clutter is not None and rules.clutter.match(text):
            continue
        # Cues and voice rules read Arabic folded (أ = ا, ة = ه, no diacritics): fold() leaves
        # other scripts as they are.
        own = fold(text)
        out.append(OwnSentence(i, own, s.title or s.start < head_chars, s.para in anchored_paras))
    return out


def _anchored(tax: Taxonomy, found: Found, index: Index) -> set[int]:
    """Sentences that name the troops, the US or Iraq (`stance.anchors` lexicon lists, and
    actors that place a sentence in Iraq)."""
    out = {index.of(h.start) for name in tax.stance.anchors for h in found.get(name)}
    out.update(
        index.of(h.start) for h in found.get("actor") if tax.actors[h.payload].locates == "iraq"
    )
    return out


def _speaker_headline(rules: StanceCues, title: str) -> bool:
    """ "Sadr: US forces must leave" gives a speaker's words; "Iraq wants US troops out: why
    that's a good thing" opens the writer's own answer after the colon (`own_headlines`), and
    "Column: ..." names a section (a `line` rule of `[stance.voice]`)."""
    m = _SPEAKER_HEADLINE.match(title)
    if m is None:
        return False
    if any(r.line and r.pattern.fullmatch(title.strip()) for r in rules.voice):
        return False  # "Column: ..." names the page's section, not a speaker
    return rules.own_headline is None or rules.own_headline.match(title, m.end()) is None


def voice_evidence(
    tax: Taxonomy, own: Sequence[OwnSentence]
) -> tuple[float, tuple[tuple[str, int], ...]]:
    """How much the own voice reads as a piece that argues (an op-ed, a column, a blog post):
    the weighed finds of each `[stance.voice]` rule, and the finds per rule."""
    total = 0.0
    finds: list[tuple[str, int]] = []
    for rule in tax.stance_cues.voice:
        n = 0
        for o in own:
            if rule.head and not o.head:
                continue
            if rule.line:
                n += rule.pattern.fullmatch(o.text.strip()) is not None
            else:
                n += sum(1 for _ in rule.pattern.finditer(o.text))
            if n >= rule.most:
                break
        n = min(n, rule.most)
        if n:
            total += n * rule.weight
            finds.append((rule.name, n))
    return total, tuple(finds)


def stance_cues(tax: Taxonomy, own: Sequence[OwnSentence]) -> StanceResult:
    """Own-voice cue weights per side (module doc)."""
    rules = tax.stance_cues
    st = tax.stance
    starts: list[int] = []
    pos = 0
    for o in own:
        starts.append(pos)
        pos += len(o.text) + 1
    joined = "\n".join(o.text for o in own)
    totals = {"for": 0.0, "against": 0.0}
    cues: list[StanceCue] = []
    for m in rules.cues.finditer(joined):
        which = next(k for k, cue in enumerate(rules.each) if cue.match(joined, m.start()))
        side, negatable, _ = rules.info[which]
        k = bisect.bisect_right(starts, m.start()) - 1
        sentence, _, head, anchored = own[k]
        weight = st.head_weight if head else 1.0
        before = joined[max(starts[k], m.start() - st.negation_chars) : m.start()]
        negated = negatable and bool(
            rules.negation.search(m.group(0)) or rules.negation.search(before)
        )
        if negated:
            side = "against" if side == "for" else "for"
        totals[side] += weight
        cues.append(StanceCue(side, m.group(0), weight, negated, head, sentence, anchored))
    voice, finds = voice_evidence(tax, own)
    return StanceResult(totals["for"], totals["against"], len(own), tuple(cues), voice, finds)


def decide_stance(tax: Taxonomy, result: StanceResult) -> tuple[Stance, float, dict[str, object]]:
    """The stance, its balance (-1 … 1, positive = for withdrawal) and the evidence."""
    st = tax.stance
    pro, con = result.pro, result.con
    opinion = result.voice >= st.opinion_voice

    def clears(side: str, weight: float) -> bool:
        # An opinion piece's side may rest on less, but only on cues about the troops.
        low_bar = opinion and result.anchored(side) >= st.opinion_min_side
        return weight >= st.min_side or low_bar

    stance: Stance = "neutral"
    if clears("for", pro) and pro >= st.ratio * con:
        stance = "for_withdrawal"
    elif clears("against", con) and con >= st.ratio * pro:
        stance = "against_withdrawal"
    balance = (pro - con) / (pro + con + st.damping)
    evidence: dict[str, object] = {
        "for": round(pro, 2),
        "against": round(con, 2),
        "balance": round(balance, 3),
        "own_sentences": result.own_sentences,
        "voice": round(result.voice, 2),
        "opinion": opinion,
        "voice_finds": dict(result.voice_finds),
        "cues": [
            {
                "side": c.side,
                "cue": c.text[:120],
                "weight": c.weight,
                "negated": c.negated,
                "head": c.head,
                "anchored": c.anchored,
            }
            for c in result.cues[:12]
        ],
    }
    return stance, round(balance, 4), evidence
