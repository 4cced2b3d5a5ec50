"""Finding the taxonomy's terms in a text, and cutting the text into sentences.

* `PhraseMatcher`: literal phrases are looked up word by word in a table (a trie walk over the
  normalized words, so "U.S." = "US", "Abdul-Mahdi" = "Abdul Mahdi", "Kata'ib" = "Kataib"), which
  keeps the cost flat as the taxonomy grows; "re:" terms are one regular expression per category,
  run only when that category is asked for (`Found.get`).
* `segment`: sentences (the title is one of them) with their paragraph; `Index` maps a character
  offset to its sentence, since the scores are counted per sentence.
* `dateline_spans`: "BAGHDAD, Jan. 25 (Xinhua) --" says where the reporter sits, so the places in
  it place nothing.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from monitor import arabic
from monitor.classify import wordlists
from monitor.errors import ConfigError


@dataclass(frozen=True)
class Hit:
    """One match of a term or alias in the text (character offsets)."""

    start: int
    end: int
    text: str
    payload: int = -1


# Words: letters/digits with inner apostrophes ("Kata'ib"); initials ("U.S.") are one word, so
# "U.S." and "US" give the same key. Arabic diacritics and tatweel stay inside a word.
_TOKEN = re.compile(rf"(?:[^\W\d_]\.){{2,}}|[\w{arabic.MARKS}]+(?:['’]\w+)*")


def _normalize_token(raw: str) -> str:
    low = raw.casefold()
    if "'" in low or "’" in low or "." in low:
        if low.endswith(("'s", "’s")):
            low = low[:-2]
        low = low.replace("'", "").replace("’", "").replace(".", "")
    return low


_NON_WORD = re.compile(r"[\W_]")
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")
# Quotation marks around a name ("قاعدة «فكتوريا»") do not break a phrase.
_GAP_CHARS = " \t\r\n-\u2010\u2011\u2012\u2013\u2014\u2015'’.«»‹›\"“”"


def _tokenize(text: str) -> tuple[list[int], list[int], list[str], list[bool], list[str]]:
    """Start, end and normalized form of each word, whether it may join the next word, and the
    words as written (lower-cased)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a rare character whose lower case is longer
        lowered = text
    # split() with a captured group alternates gap, word, gap, ...: offsets come from lengths,
    # all in C, which is much faster than a Python loop over match objects.
    parts = _TOKEN_SPLIT.split(lowered)
    offsets = list(accumulate(map(len, parts), initial=0))
    words = parts[1::2]
    starts = offsets[1::2]
    ends = offsets[2::2]
    norms = [
        _normalize_token(w) if ("'" in w or "’" in w or "." in w or lowered is text) else w
        for w in words
    ]
    if arabic.has_arabic(text):
        # An Arabic word's key: folded, without its article and ending (arabic.term_key).
        norms = [arabic.term_key(arabic.fold_keeping_ta(w)) if _is_arabic(w) else w for w in norms]
    joinable = [not gap.strip(_GAP_CHARS) for gap in parts[2:-1:2]]
    return starts, ends, norms, joinable, words


def _is_arabic(word: str) -> bool:
    return word[0] >= "\u0600" and arabic.has_arabic(word)


def _candidates(words: list[str], norms: list[str]) -> list[tuple[str, ...]]:
    """Each word's keys: an Arabic word's as written and with its clitics peeled off
    (arabic.candidate_keys), any other word's one key."""
    return [
        arabic.candidate_keys(arabic.fold_keeping_ta(w)) if _is_arabic(w) else (n,)
        for w, n in zip(words, norms, strict=True)
    ]


def _first_chars(items: Any) -> set[str] | None:
    """Characters a parsed regex can start with, or None when that cannot be told simply."""
    from re import _constants as c  # type: ignore[attr-defined]

    out: set[str] = set()
    for op, av in items:
        if op is c.LITERAL:
            out.add(chr(av))
            return out
        if op is c.IN:
            for sub_op, sub_av in av:
                if sub_op is c.LITERAL:
                    out.add(chr(sub_av))
                elif sub_op is c.RANGE and sub_av[1] - sub_av[0] < 64:
                    out.update(chr(x) for x in range(sub_av[0], sub_av[1] + 1))
                elif sub_op is c.CATEGORY and sub_av is c.CATEGORY_DIGIT:
                    out.update("0123456789")
                else:
                    return None
            return out
        if op is c.BRANCH:
            for branch in av[1]:
                first = _first_chars(branch)
                if first is None:
                    return None
                out |= first
            return out
        if op is c.SUBPATTERN:
            first = _first_chars(av[3])
            if first is None:
                return None
            return out | first
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            first = _first_chars(av[2])
            if first is None:
                return None
            out |= first
            if av[0] > 0:
                return out
            continue
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue  # zero-width: look at what follows
        return None
    return None  # the pattern can match the empty string


def fast_prefix(pattern: str) -> str:
    """A cheap guard (word start + first-character class) that lets `re` skip most positions.

    Python's `re` tries a case-insensitive alternation at every position of the text; telling it
    the possible first characters makes the regex terms about ten times faster.
    """
    try:
        parser = importlib.import_module("re._parser")
        first = _first_chars(parser.parse(pattern, re.I))
    except Exception:  # a private module: any surprise only costs speed
        return ""
    if not first:
        return ""
    chars = {ch for f in first for ch in (f.lower(), f.upper())}
    klass = "".join(re.escape(ch) for ch in sorted(chars))
    word_start = "\\b" if all(ch.isalnum() or ch == "_" for ch in chars) else ""
    return f"{word_start}(?=[{klass}])"


class PhraseMatcher:
    """Literal phrases looked up word by word (fast); "re:" terms as one regex per category."""

    def __init__(self) -> None:
        self.table: dict[str, list[tuple[str, int, str | None]]] = {}
        self.firsts: set[str] = set()
        self.prefixes: set[str] = set()  # every proper word-prefix of a multi-word phrase
        self.regex_terms: dict[str, list[str]] = {}
        self.regexes: dict[str, re.Pattern[str]] = {}
        self.word_terms: dict[str, list[str]] = {}
        self.word_regexes: dict[str, re.Pattern[str]] = {}

    def add(self, category: str, term: str, payload: int = -1, *, where: str = "") -> None:
        """Register one term (a phrase, "re:" + a regular expression, or "words:" + a regular
        expression over the words' keys) under a category."""
        if term.startswith("words:"):
            pattern = _words_pattern(term[6:])
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"taxonomy {where}: bad pattern {term!r}: {exc}") from exc
            self.word_terms.setdefault(category, []).append(pattern)
            return
        if term.startswith("re:"):
            try:
                re.compile(term[3:])
            except re.error as exc:
                raise ConfigError(f"taxonomy {where}: bad pattern {term!r}: {exc}") from exc
            self.regex_terms.setdefault(category, []).append(term[3:])
            return
        norms = _tokenize(term)[2]
        if not norms:
            return
        key = " ".join(norms)
        case = _NON_WORD.sub("", term) if _case_sensitive(term) else None
        self.table.setdefault(key, []).append((category, payload, case))
        self.firsts.add(norms[0])
        for k in range(1, len(norms)):
            self.prefixes.add(" ".join(norms[:k]))

    def freeze(self) -> None:
        """Compile the regular-expression terms, longest first within each category."""
        for category, terms in self.regex_terms.items():
            parts = sorted(set(terms), key=len, reverse=True)
            body = "|".join(f"(?:{p})" for p in parts)
            self.regexes[category] = re.compile(fast_prefix(body) + f"(?:{body})", re.I)
        for category, terms in self.word_terms.items():
            parts = sorted(set(terms), key=len, reverse=True)
            body = "|".join(f"(?:{p})" for p in parts)
            # Whole words only: a match starts and ends at the space between two keys.
            self.word_regexes[category] = re.compile(f"(?<![^ ])(?:{body})(?![^ ])")

    def find(self, text: str) -> Found:
        """Every category's matches: longest first, not overlapping within a category."""
        starts, ends, norms, joinable, written = _tokenize(text)
        has_arabic = arabic.has_arabic(text)
        found: dict[str, list[Hit]] = {}
        busy_until: dict[str, int] = {}
        if has_arabic:
            walks = self._walks_candidates(_candidates(written, norms), joinable)
        else:
            walks = self._walks(norms, joinable)
        for i, matches in walks:
            for last, entries in sorted(matches, key=lambda m: -m[0]):  # longest first
                length = last - i + 1
                start, end = starts[i], ends[last]
                for category, payload, case in entries:
                    if busy_until.get(category, -1) > i:
                        continue
                    if case is not None:
                        raw = text[start:end]
                        if raw != case and _NON_WORD.sub("", raw) != case:
                            continue
                    found.setdefault(category, []).append(Hit(start, end, text[start:end], payload))
                    busy_until[category] = i + length
        words = None
        if self.word_regexes and has_arabic:
            stems = [
                arabic.light_stem(arabic.fold(w)) if _is_arabic(w) else n
                for w, n in zip(written, norms, strict=True)
            ]
            words = _Words(starts, ends, stems)
        return Found(text, found, self.regexes, self.word_regexes if words else {}, words)

    def _walks(self, norms: list[str], joinable: list[bool]) -> Iterator[_Walk]:
        """From each word that begins some phrase, the phrases found walking forward word by
        word while the words so far begin some phrase (a trie walk)."""
        table, firsts, prefixes = self.table, self.firsts, self.prefixes
        n = len(norms)
        for i in [i for i, w in enumerate(norms) if w in firsts]:
            key, j = norms[i], i
            matches: list[tuple[int, list[tuple[str, int, str | None]]]] = []
            while True:
                entries = table.get(key)
                if entries:
                    matches.append((j, entries))
                if j + 1 >= n or not joinable[j] or key not in prefixes:
                    break
                j += 1
                key = f"{key} {norms[j]}"
            yield i, matches

    def _walks_candidates(
        self, candidates: list[tuple[str, ...]], joinable: list[bool]
    ) -> Iterator[_Walk]:
        """The same walk where a word may stand for several keys (Arabic clitics)."""
        table, firsts, prefixes = self.table, self.firsts, self.prefixes
        n = len(candidates)
        for i, keys in enumerate(candidates):
            frontier = [k for k in keys if k in firsts]
            if not frontier:
                continue
            matches: list[tuple[int, list[tuple[str, int, str | None]]]] = []
            j = i
            while frontier:
                following: list[str] = []
                for key in frontier:
                    entries = table.get(key)
                    if entries:
                        matches.append((j, entries))
                    if j + 1 < n and joinable[j] and key in prefixes:
                        following += [f"{key} {c}" for c in candidates[j + 1]]
                frontier = [k for k in following if k in table or k in prefixes]
                j += 1
            yield i, matches


_Walk = tuple[int, list[tuple[int, list[tuple[str, int, str | None]]]]]


def _words_pattern(pattern: str) -> str:
    """A "words:" pattern over the words' keys: its Arabic words become keys too."""
    return arabic.key_pattern(pattern)


class _Words:
    """A text's word keys joined by single spaces, to run "words:" patterns on."""

    def __init__(self, starts: list[int], ends: list[int], norms: list[str]) -> None:
        self.starts = starts
        self.ends = ends
        self.keys = " ".join(norms)
        self.offsets = list(accumulate((len(n) + 1 for n in norms), initial=0))[:-1]

    def hits(self, pattern: re.Pattern[str], text: str) -> list[Hit]:
        """The pattern's matches, as spans of the original text."""
        out = []
        for m in pattern.finditer(self.keys):
            first = bisect.bisect_right(self.offsets, m.start()) - 1
            last = bisect.bisect_right(self.offsets, max(m.start(), m.end() - 1)) - 1
            start, end = self.starts[first], self.ends[last]
            out.append(Hit(start, end, text[start:end]))
        return out


class Found:
    """A text's matches by category; a category's regular expressions run on first use only."""

    def __init__(
        self,
        text: str,
        literal: dict[str, list[Hit]],
        regexes: dict[str, re.Pattern[str]],
        word_regexes: dict[str, re.Pattern[str]] | None = None,
        words: _Words | None = None,
    ) -> None:
        self.text = text
        self.hits = literal
        self.regexes = regexes
        self.word_regexes = word_regexes or {}
        self.words = words
        self.pending = set(regexes) | set(self.word_regexes)

    def get(self, category: str) -> list[Hit]:
        """The matches of one category, in text order."""
        if category in self.pending:
            self.pending.discard(category)
            extra = []
            if category in self.regexes:
                extra = [
                    Hit(m.start(), m.end(), m.group(0))
                    for m in self.regexes[category].finditer(self.text)
                ]
            if self.words is not None and category in self.word_regexes:
                extra += self.words.hits(self.word_regexes[category], self.text)
            if extra:
                self.hits[category] = sorted(
                    self.hits.get(category, []) + extra, key=lambda h: h.start
                )
        return self.hits.get(category, [])


def _case_sensitive(alias: str) -> bool:
    # "IS", "PMF", "US" in capitals only, so "is" is never the Islamic State.
    letters = alias.replace(".", "")
    return len(letters) <= 5 and letters.isalpha() and letters.isupper()


# ------------------------------------------------------------------------------------------------
# Segmentation.


@dataclass(frozen=True)
class Sentence:
    """A sentence's character span, its paragraph number, and whether it is the title."""

    start: int
    end: int
    para: int
    title: bool


# A sentence ends at . ! ? or the Arabic ؟ before a capital, a digit or an Arabic letter (Arabic
# has no capitals: its sentences start with any letter).
_SPLIT = re.compile(
    r"[.!?؟]+[\"”’»)\]]*\s+(?=[\"“‘«(\[]?[A-Z0-9\u0621-\u064a\u0660-\u0669])|؟+[\"”’»)\]]*\s*"
    r"(?=[\u0621-\u064a])"
)


@functools.cache
def _abbreviation() -> re.Pattern[str]:
    # A full stop after initials ("U.S.") or an abbreviation (words/abbreviations.txt: "Gen.",
    # "Jan.") does not end the sentence.
    names = "|".join(map(re.escape, wordlists.words("abbreviations")))
    # One Arabic letter and a dot is an abbreviation too ("د." a doctor, "م." an engineer).
    return re.compile(rf"(?:\b(?:[A-Z]\.)+|\b(?:{names})\.|(?<!\w)[\u0621-\u064a]\.)$")


def segment(full: str, title_len: int) -> list[Sentence]:
    """The sentences of `full`, whose first `title_len` characters are the title line."""
    abbreviation = _abbreviation()
    sentences: list[Sentence] = []
    para = 0
    pos = 0
    for line in full.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        is_title = line_start < title_len
        cut = 0
        for match in _SPLIT.finditer(line):
            head = line[cut : match.start() + 1]
            if abbreviation.search(head[-12:]):
                continue
            end = match.end()
            if line[cut:end].strip():
                sentences.append(Sentence(line_start + cut, line_start + end, para, is_title))
            cut = end
        if line[cut:].strip():
            sentences.append(Sentence(line_start + cut, line_start + len(line), para, is_title))
        para += 1
    return sentences


class Index:
    """Maps character offsets to sentence numbers."""

    def __init__(self, sentences: Sequence[Sentence]) -> None:
        self.starts = [s.start for s in sentences]

    def of(self, pos: int) -> int:
        """The number of the sentence that holds character `pos`."""
        return max(0, bisect.bisect_right(self.starts, pos) - 1)

    def group(self, hits: Sequence[Hit]) -> dict[int, list[str]]:
        """The hits' texts by sentence number."""
        found: dict[int, list[str]] = {}
        for h in hits:
            found.setdefault(self.of(h.start), []).append(h.text)
        return found


# "BAGHDAD, Jan. 25 (Xinhua) --", "QAMISHLI, Syria (North Press) –": where the reporter sits,
# not what the article is about, so places named there do not place the sentence.
_DATELINE = re.compile(
    r"^[ \t]*[A-Z][A-Z.'\- ]{2,40}(?:,[ \t]*[A-Z][\w.' ]{1,40})?(?:[ \t]*,[ \t]*[A-Z][a-z]{2,8}\.?"
    r"[ \t]*\d{1,2})?[ \t]*(?:\([^)\n]{1,40}\))?[ \t]*(?:--|[-–—:])[ \t]"
    # Arabic: "بغداد - ", "أربيل/ ", "بغداد (أ ف ب) -": one or two words, then a dash or slash.
    r"|^[ \t]*[\u0621-\u064a]+(?:[ \t][\u0621-\u064a]+)?[ \t]*(?:\([^)\n]{1,40}\))?"
    r"[ \t]*[-–—/][ \t]",
    re.MULTILINE,
)


def dateline_spans(full: str) -> list[tuple[int, int]]:
    """Character spans of the datelines that open a line of `full`."""
    return [(m.start(), m.end()) for m in _DATELINE.finditer(full)]


def inside(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether `pos` lies in one of the half-open spans."""
    return any(a <= pos < b for a, b in spans)
