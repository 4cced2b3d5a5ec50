"""Figures: the numbers an article reports, next to what they count.

Troops (with up to three modifiers: "5,000 U.S. troops", "2,500 more soldiers"), lawmakers,
votes, seats, casualties ("three American soldiers were killed"), rockets / drones / missiles and
attacks. Digits ("5,000", "5, 000", "5000", "36,000-strong"), "thousand" / "million" and exact
number words are read; vague ones ("dozens") and years are not figures. Arabic figures are read
by `arabic.counted` (ثلاثة صواريخ, خمسة آلاف جندي, ٥٬٠٠٠ جندي). Each figure keeps the sentence it
was found in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor import arabic
from monitor.classify import wordlists
from monitor.classify.matching import Index, Sentence, fast_prefix
from monitor.models import Figure

# "U.S. troops, 5000, in Iraq" and "troops numbering 5,000"
_FIGURE_AFTER = (
    r"\b(?P<troops>troops|soldiers|forces)(?:,|\s+numbering|\s+totalling|\s+totaling)\s+"
    r"(?:about\s+|some\s+|nearly\s+)?(?P<num>\d{1,3}(?:,\s?\d{3})+|\d{3,6})\b"
)


@dataclass(frozen=True)
class _Rules:
    """The figure patterns and what they read, built from the word lists in `words/`."""

    patterns: tuple[re.Pattern[str], ...]
    kinds: tuple[str, ...]  # what a figure counts, in the order its groups are looked at
    number_words: dict[str, int]


@functools.cache
def _rules() -> _Rules:
    # Exact number words only (number_words.txt): "dozens" or "hundreds" are not figures one can
    # add up.
    number_words = {
        word: int(value) for word, value in map(str.split, wordlists.words("number_words"))
    }
    num = (
        r"(?P<num>\d{1,3}(?:,\s?\d{3})+|\d+(?:\.\d+)?(?:\s?(?:thousand|million))?|"
        + "|".join(map(re.escape, number_words))
        + ")"
    )
    mod = "(?:" + "|".join(wordlists.words("figure_modifiers")) + ")"
    units = wordlists.sections("figure_units")
    unit_re = "|".join(f"(?P<{kind}>{'|'.join(terms)})" for kind, terms in units)
    figure = rf"(?<![\w.,]){num}(?:-strong)?(?:\s+{mod}){{0,3}}\s+(?:{unit_re})\b"
    victims = "|".join(map(re.escape, wordlists.words("casualty_nouns")))
    people_killed = (
        rf"(?<![\w.,]){num}\s+(?:\w+\s+){{0,3}}?(?:{victims})\s+(?:were\s+|was\s+|have been\s+)?"
        rf"(?P<casualties>killed|wounded|injured|dead)\b"
    )
    patterns = tuple(
        re.compile(fast_prefix(p) + p, re.IGNORECASE)
        for p in (people_killed, figure, _FIGURE_AFTER)
    )
    return _Rules(patterns, tuple(kind for kind, _ in units), number_words)


def _parse_number(raw: str, number_words: dict[str, int]) -> float | None:
    low = raw.lower().strip()
    if low in number_words:
        return float(number_words[low])
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


def extract_figures(full: str, sentences: Sequence[Sentence], index: Index) -> list[Figure]:
    """Every figure of `full`, once per value and sentence, with its sentence's text."""
    seen: set[tuple[float, str, int]] = set()
    found: list[Figure] = []
    rules = _rules()
    for pattern in rules.patterns:
        for m in pattern.finditer(full):
            what = next((k for k in rules.kinds if m.groupdict().get(k)), None)
            value = _parse_number(m.group("num"), rules.number_words)
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
    if arabic.has_arabic(full):
        for c in arabic.counted(full):
            i = index.of(c.start)
            if any(k[0] == c.value and k[2] == i for k in seen):
                continue
            seen.add((c.value, c.what, i))
            s = sentences[i]
            found.append(Figure(c.value, c.what, full[s.start : s.end].strip()))
    return found
