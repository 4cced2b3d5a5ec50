"""Figures: the numbers an article reports, next to what they count.

Troops (with up to three modifiers: "5,000 U.S. troops", "2,500 more soldiers"), lawmakers,
votes, seats, casualties ("three American soldiers were killed"), rockets / drones / missiles and
attacks. Digits ("5,000", "5, 000", "5000", "36,000-strong"), "thousand" / "million" and exact
number words are read; vague ones ("dozens") and years are not figures. Each figure keeps the
sentence it was found in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from monitor.classify.matching import Index, Sentence, fast_prefix
from monitor.models import Figure

# Exact number words only: "dozens" or "hundreds" are not figures one can add up.
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_NUMBER_WORDS.update({"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20})
_NUM = (
    r"(?P<num>\d{1,3}(?:,\s?\d{3})+|\d+(?:\.\d+)?(?:\s?(?:thousand|million))?|"
    + "|".join(_NUMBER_WORDS)
    + ")"
)
_MOD = (
    r"(?:U\.?S\.?|US|American|additional|more|foreign|coalition|combat|Iraqi|international|NATO|"
    r"British|other|Western|military|remaining|extra|new|of the|of them|of its|troops?|troop|"
    r"Shiite|Sunni|Kurdish|present|about|approximately|some|nearly|around|roughly|estimated|"
    r"U\.S\.-led|US-led|of)"
)
_UNITS = {
    "troops": r"troops|soldiers|forces|personnel|service\s?members|servicemen|marines|advis[eo]rs|"
    r"trainers|military personnel|boots|contingent|troop contingent",
    "lawmakers": r"lawmakers|legislators|MPs|parliamentarians|deputies|members of parliament|"
    r"members|representatives",
    "votes": r"votes|ballots",
    "casualties": r"casualties|dead|deaths|killed|wounded|injured|injuries",
    "rockets": r"rockets|missiles|drones|mortars|projectiles",
    "attacks": r"attacks",
    "seats": r"seats",
}
_UNIT_RE = "|".join(f"(?P<{k}>{v})" for k, v in _UNITS.items())
_FIGURE = re.compile(
    rf"(?<![\w.,]){_NUM}(?:-strong)?(?:\s+{_MOD}){{0,3}}\s+(?:{_UNIT_RE})\b",
    re.IGNORECASE,
)
# "U.S. troops, 5000, in Iraq" and "troops numbering 5,000"
_FIGURE_AFTER = re.compile(
    r"\b(?P<troops>troops|soldiers|forces)(?:,|\s+numbering|\s+totalling|\s+totaling)\s+"
    r"(?:about\s+|some\s+|nearly\s+)?(?P<num>\d{1,3}(?:,\s?\d{3})+|\d{3,6})\b",
    re.IGNORECASE,
)
_PEOPLE_KILLED = re.compile(
    rf"(?<![\w.,]){_NUM}\s+(?:\w+\s+){{0,3}}?(?:people|soldiers|troops|civilians|servicemen|"
    rf"service members|contractors|fighters|militants|members)\s+(?:were\s+|was\s+|have been\s+)?"
    rf"(?P<casualties>killed|wounded|injured|dead)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _figure_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(
        re.compile(fast_prefix(p.pattern) + p.pattern, p.flags)
        for p in (_PEOPLE_KILLED, _FIGURE, _FIGURE_AFTER)
    )


def _parse_number(raw: str) -> float | None:
    low = raw.lower().strip()
    if low in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[low])
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
    for pattern in _figure_patterns():
        for m in pattern.finditer(full):
            what = next((k for k in _UNITS if m.groupdict().get(k)), None)
            value = _parse_number(m.group("num"))
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
    return found
