"""Quotes and who said them.

A quote is text in curly or straight double quotes, «guillemets» or ‹single guillemets› (as
Arabic outlets quote) of at least four words (a short title-case
string such as "Face the Nation" is a programme, not a statement). Its speaker is looked for right
after it (`"…," Sadr said`, `"…," said Kadhim`) or right before it (`Pompeo told Fox News: "…"`),
then resolved to a canonical actor or to a person's full name as first written ("Davies" →
"Nicolas J.S. Davies"); "he said" is the last person named or quoted before. An Arabic quote's
speaker follows an Arabic speech verb before it (وقال رئيس الوزراء عادل عبد المهدي: «…») or after
it («…»، قال المتحدث / بحسب …), and is resolved to the actors named there. A quote with no
attribution right after an attributed one in the same paragraph keeps that speaker.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor import arabic
from monitor.classify import wordlists
from monitor.classify.taxonomy import ActorHit
from monitor.models import Quote

_QUOTE = re.compile(
    # A straight quote mark right after a letter (لـ"الكاظمي") closes, never opens, a quote.
    r"“([^“”]{8,1500})”|(?<!\w)\"([^\"]{8,1500})\"|«([^«»]{8,1500})»|‹([^‹›]{8,1500})›"
)
# Arabic attribution, on folded text: a speech verb (with و / ف before it) and who follows it.
_AR_VERB = "(?:" + "|".join(arabic.SPEECH_VERBS) + ")"
_AR_BEFORE = re.compile(rf"(?<![\w])[وف]?{_AR_VERB}(?![\w])")
_AR_AFTER = re.compile(
    rf"^\s*[،,.\-–—]?\s*(?:[وف]?{_AR_VERB}|بحسب|حسب|وفق|وفقا ل|على حد (?:تعبير|قول))"
    r"(?![\w])\s*(?P<who>[^.،,:؛«»“”\"\n]{1,100})"
)
_AUX = r"(?:has\s+|had\s+|have\s+|also\s+|later\s+|then\s+)*"
_BEFORE_TAIL = re.compile(r"[^.“”\"\n]{0,90}?\s*[:,]?\s*(?:that\s+)?")
_CLAUSE_START = re.compile(r"[.;:“”\"\n]")
_PRONOUN = re.compile(r"^(?:he|she)$", re.I)
# A short quote in title case is a programme or a slogan ("Face the Nation"), not a statement.
_TITLECASE_QUOTE = re.compile(
    r"^(?:[A-Z0-9][\w'’.-]*|of|the|and|a|in|on|to|for)(?:\s+(?:[A-Z0-9][\w'’.-]*|of|the|and|a|in|on|to|for))*[.!?,]?$"
)
_NAME = re.compile(
    r"(?:[A-Z][\w'’-]+|[A-Z]\.)(?:\s+(?:(?:al|el|bin|ibn|abu|de|van|von)[-\s])?"
    r"(?:[A-Z][\w'’-]+|[A-Z]\.(?:[A-Z]\.)*))*"
)
# First names (and a particle) right before a surname: "Nicolas J.S. " + "Davies", "Zeidon al-".
_FIRST_NAMES = re.compile(r"(?:[A-Z][\w'’.-]+\s+){1,3}(?:(?:al|el|bin|abu)[-\s])?$")


@dataclass(frozen=True)
class _Patterns:
    """The attribution patterns, built around the speech verbs (`words/speech_verbs.txt`)."""

    after_who_verb: re.Pattern[str]
    after_verb_who: re.Pattern[str]
    before_verb: re.Pattern[str]
    speaker: re.Pattern[str]


@functools.cache
def _patterns() -> _Patterns:
    say = "(?:" + "|".join(re.escape(verb) for verb in wordlists.words("speech_verbs")) + ")"
    return _Patterns(
        after_who_verb=re.compile(
            rf"^\s*[,.]?\s*[—–-]?\s*(?P<who>[^.;:“”\"\n]{{1,100}}?)\s+{_AUX}{say}\b"
        ),
        after_verb_who=re.compile(
            rf"^\s*[,.]?\s*[—–-]?\s*{say}\s+(?P<who>[^,.;:“”\"\n(]{{1,80}}?)\s*(?:[,.;:(]|$)"
        ),
        # "Pompeo said on Fox News Sunday that “...”": the last speech verb before the quote,
        # close to it, and who said it back to the start of the clause.
        before_verb=re.compile(rf"\s+{_AUX}{say}\b"),
        # Who says something anywhere in the text ("Davies explained", "Michael Maloof has
        # warned", "Sarkawt Shams, a member of ..., said"): candidates for "he said".
        speaker=re.compile(
            rf"(?P<who>{_NAME.pattern})(?:,[^,.;“”\"\n]{{1,100}},)?\s+{_AUX}{say}\b"
        ),
    )


@functools.cache
def _not_name_words() -> frozenset[str]:
    # Words around a name that are not part of it ("Iraqi legal expert Tareq Harb").
    return frozenset(wordlists.words("not_name"))


def _before_who(before: str) -> tuple[int, str] | None:
    """(offset, who) of the attribution just before a quote, if there is one."""
    before_verb = _patterns().before_verb
    verbs = [m for m in before_verb.finditer(before, max(0, len(before) - 160))]
    for verb in reversed(verbs):
        if _BEFORE_TAIL.fullmatch(before, verb.end()) is None:
            continue
        head = before[max(0, verb.start() - 160) : verb.start()]
        cut = max((m.end() for m in _CLAUSE_START.finditer(head)), default=0)
        who = head[cut:]
        if who.strip():
            return verb.start() - len(head) + cut, who
    return None


def _arabic_who(before: str, after: str) -> tuple[bool, int, str] | None:
    """An Arabic attribution: (after the quote?, offset in `before` or `after`, who). The
    last speech verb before the quote and what follows it up to the quote, else a speech verb
    (or "بحسب") right after the quote and who follows it."""
    if not arabic.has_arabic(before + after):
        return None
    folded = arabic.Folded.of(before)
    verbs = list(_AR_BEFORE.finditer(folded.text, max(0, len(folded.text) - 200)))
    if verbs and verbs[-1].end() < len(folded.text):
        start = folded.original(verbs[-1].end())
        who = before[start:].split(":")[0]
        if who.strip():
            return False, start, who
    folded_after = arabic.fold(after)
    m = _AR_AFTER.match(folded_after)
    if m is not None and len(folded_after) == len(after):
        return True, m.start("who"), after[m.start("who") : m.end("who")]
    return None


def _clean_name(name: str) -> str | None:
    not_name = _not_name_words()
    words = name.split()
    while words and words[0].lower().strip(".") in not_name:
        words = words[1:]
    while words and words[-1].lower().strip(".") in not_name:
        words = words[:-1]
    cleaned = " ".join(words).strip(" ,'’")
    if cleaned.endswith(("'s", "’s")):
        cleaned = cleaned[:-2]
    return cleaned if len(cleaned) > 2 else None


class _Speakers:
    """Resolves a quote's attribution to a canonical actor or a person's full name."""

    def __init__(self, full: str, hits: Sequence[ActorHit]) -> None:
        self.full = full
        self.hits = hits
        self.starts = [h.start for h in hits]
        self.persons: list[tuple[int, str]] = [
            (h.start, h.actor.name) for h in hits if h.actor.kind == "person" and h.actor.entity
        ]
        self._scanned = False
        self._expanded: dict[str, str] = {}

    def _actors_in(self, start: int, end: int) -> list[ActorHit]:
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
        for m in _patterns().speaker.finditer(self.full):
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
        """The speaker named by attribution text `who` (at `start`) of the quote at `pos`."""
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
        """Record that `name` spoke at `pos`: a later "he said" may refer back to them."""
        self.persons.append((pos, name))
        self.persons.sort()


def extract_quotes(full: str, hits: Sequence[ActorHit]) -> list[tuple[int, int, Quote]]:
    """Every quote of `full` with its speaker (or None) and its character span."""
    patterns = _patterns()
    speakers = _Speakers(full, hits)
    quotes: list[tuple[int, int, Quote]] = []
    para_start = 0
    for para in full.split("\n"):
        last_speaker: str | None = None
        for m in _QUOTE.finditer(para):
            body = next((g for g in m.groups() if g), "").strip()
            start = para_start + m.start()
            words = body.split()
            if len(words) < 4 or (len(words) <= 6 and _TITLECASE_QUOTE.match(body)):
                continue
            after = para[m.end() : m.end() + 160]
            before_start = max(0, m.start() - 220)
            before = para[before_start : m.start()]
            speaker: str | None = None
            attributed = False
            found = patterns.after_who_verb.match(after) or patterns.after_verb_who.match(after)
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
                ar = None if pre else _arabic_who(before, after)
                if pre:
                    attributed = True
                    who_start = para_start + before_start + pre[0]
                    speaker = speakers.resolve(pre[1], who_start, start)
                elif ar:
                    attributed = True
                    is_after, offset, who = ar
                    who_start = para_start + (m.end() if is_after else before_start) + offset
                    speaker = speakers.resolve(who, who_start, start)
            if not attributed:
                speaker = last_speaker
            if speaker:
                speakers.spoke(start, speaker)
                last_speaker = speaker
            quotes.append((start, para_start + m.end(), Quote(quote=body, speaker=speaker)))
        para_start += len(para) + 1
    return quotes
