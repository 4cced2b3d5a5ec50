"""Words as the search index sees them, the same for texts, queries and highlights.

A word is folded to its index term in three steps:

1. **Arabic orthography is normalised** (`normalise_arabic`): diacritics (tashkeel, the dagger
   alef, Quranic marks) and tatweel are dropped; alef forms with hamza or madda and alef wasla
   become a bare alef, alef maksura becomes ya, ta marbuta becomes ha, hamza on waw or ya
   becomes the bare letter. Writers and outlets differ on all of these, so a query in one
   spelling finds a text in another.
2. **Case is folded.**
3. **The word is stemmed** by the stemmer of its script. Arabic words lose one article or
   conjunction prefix and then their suffixes, by Light10 (Larkey, Ballesteros and Connell,
   2007; Lucene's `ArabicStemmer` is the same): `الانسحاب`, `بالانسحاب` -> `انسحاب`;
   `القوات`, `للقوات`, `والقوات` -> `قو`. Snowball's own Arabic stemmer was tried and left
   out: it stems `القوات` and `قوات` (or `الأمريكية` and `أمريكية`) differently. Latin words
   go through Snowball's English stemmer (`withdrawal`, `withdrawing` -> `withdraw`). Other
   scripts are kept folded, unstemmed.

Texts are indexed as their terms; a query is parsed into terms and phrases the same way
(`parse_query`), and snippets highlight the words of the original text whose terms match
(`snippet`), so what is shown is the article as written, never its folded form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

# Letters, digits and the marks that live inside words (combining marks, Arabic harakat and
# Quranic marks, tatweel): a diacritic must not split the word it sits on.
_MARKS = (
    "\u0300-\u036f\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
)
WORD = re.compile(rf"[{_MARKS}_]*[^\W_][\w{_MARKS}]*")
_ARABIC_DROP = re.compile(f"[{_MARKS}]")
_ARABIC_FOLD = str.maketrans(
    {
        "\u0622": "\u0627",  # alef with madda above
        "\u0623": "\u0627",  # alef with hamza above
        "\u0625": "\u0627",  # alef with hamza below
        "\u0671": "\u0627",  # alef wasla
        "\u0649": "\u064a",  # alef maksura -> ya
        "\u0629": "\u0647",  # ta marbuta -> ha
        "\u0624": "\u0648",  # waw with hamza above
        "\u0626": "\u064a",  # ya with hamza above
        "\u06cc": "\u064a",  # Farsi ya
        "\u06a9": "\u0643",  # keheh -> kaf
    }
)
_ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff]")
_LATIN_LETTER = re.compile("[a-z\u00c0-\u024f]", re.IGNORECASE)
# Arabic-Indic and Persian digits are the same numbers as ASCII ones.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

#: Bumped whenever a term would come out differently: an index of another version is rebuilt.
TERMS_VERSION = "1"


def normalise_arabic(word: str) -> str:
    """Arabic spelling variants folded to one form (see the module docstring)."""
    return _ARABIC_DROP.sub("", word).translate(_ARABIC_FOLD)


# Light10's prefixes (one is removed, the longest listed first) and suffixes (each removed in
# turn), after normalisation: so ta marbuta endings are already ha.
_AR_PREFIXES = ("وال", "بال", "كال", "فال", "ال", "لل", "و")
_AR_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")


def light_stem(word: str) -> str:
    """An Arabic word (normalised) without its article or conjunction prefix and suffixes."""
    for prefix in _AR_PREFIXES:
        room = 4 if len(prefix) == 1 else len(prefix) + 2  # what must be left to strip it
        if word.startswith(prefix) and len(word) >= room:
            word = word[len(prefix) :]
            break
    for suffix in _AR_SUFFIXES:
        if word.endswith(suffix) and len(word) >= len(suffix) + 2:
            word = word[: -len(suffix)]
    return word


@lru_cache(maxsize=1)
def _english() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=500_000)
def term(word: str) -> str:
    """The index term of one word (normalised, folded, stemmed); '' for none."""
    if _ARABIC_LETTER.search(word):
        folded = normalise_arabic(word)
        return light_stem(folded)
    folded = word.casefold().translate(_DIGITS)
    if _LATIN_LETTER.search(folded):
        return str(_english().stemWord(folded))
    return folded


def terms(text: str) -> list[str]:
    """The index terms of a text, in order."""
    found = (term(w) for w in WORD.findall(text))
    return [t for t in found if t]


def indexed_text(text: str | None) -> str:
    """A text as the index stores it: its terms joined by spaces."""
    return " ".join(terms(text or ""))


# ------------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Clause:
    """One part of a query: a word, a "phrase" (several terms in a row) or a prefix (`word*`)."""

    terms: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: groups joined by OR, each group's clauses all required."""

    groups: tuple[tuple[Clause, ...], ...]

    @property
    def highlight_terms(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """Terms to highlight, and prefixes to highlight (negated clauses excluded)."""
        whole: set[str] = set()
        prefixes: list[str] = []
        for group in self.groups:
            for clause in group:
                if clause.negated:
                    continue
                if clause.prefix:
                    prefixes.append(clause.terms[-1])
                    whole.update(clause.terms[:-1])
                else:
                    whole.update(clause.terms)
        return frozenset(whole), tuple(prefixes)


_QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str) -> Query:
    """Words (all required), "phrases", `OR` between alternatives, `-word` to exclude, and
    `word*` for a prefix. Punctuation is ignored; no text of the user's reaches a query parser
    (monitor/search/index.py builds the engine's query objects from these clauses)."""
    groups: list[list[Clause]] = [[]]
    for match in _QUERY_PART.finditer(text):
        minus, phrase, bare = match.groups()
        if bare is not None and bare == "OR":
            if groups[-1]:
                groups.append([])
            continue
        negated = bool(minus)
        raw = phrase if phrase is not None else bare
        if phrase is None and raw.startswith("-") and len(raw) > 1:
            negated, raw = True, raw[1:]
        prefix = phrase is None and raw.endswith("*")
        words = WORD.findall(raw)
        if prefix and words:
            # A prefix is matched against terms, so it is folded but not stemmed.
            last = normalise_arabic(words[-1]).casefold()
            found = (*tuple(t for t in (term(w) for w in words[:-1]) if t), last)
        else:
            found = tuple(t for t in (term(w) for w in words) if t)
        if found:
            groups[-1].append(Clause(found, prefix=prefix and bool(words), negated=negated))
    return Query(tuple(tuple(g) for g in groups if g))


# ------------------------------------------------------------------------------ snippets


@dataclass(frozen=True)
class Piece:
    """A stretch of original text, highlighted where it matched the query."""

    text: str
    hit: bool = False


def _matches(word: str, whole: frozenset[str], prefixes: Sequence[str]) -> bool:
    t = term(word)
    return bool(t) and (t in whole or any(t.startswith(p) for p in prefixes))


def highlight(text: str, query: Query) -> tuple[Piece, ...]:
    """The whole text, with the words that match the query marked."""
    whole, prefixes = query.highlight_terms
    return tuple(_pieces(text, 0, len(text), _hits(text, whole, prefixes)))


def _hits(text: str, whole: frozenset[str], prefixes: Sequence[str]) -> list[tuple[int, int]]:
    # Stemming every word of a long text is slow (Snowball is pure Python): a word is stemmed
    # only if it holds the start of a wanted term (a stem is a prefix of the English word, and
    # inside the Arabic one once its prefix is gone).
    needles = {t[:3] for t in whole} | {p[:3] for p in prefixes}
    hits = []
    for m in WORD.finditer(text):
        folded = normalise_arabic(m.group()).casefold()
        if any(n in folded for n in needles) and _matches(m.group(), whole, prefixes):
            hits.append((m.start(), m.end()))
    return hits


def _pieces(text: str, start: int, end: int, hits: Iterable[tuple[int, int]]) -> Iterator[Piece]:
    at = start
    for a, b in hits:
        if a < start or b > end:
            continue
        if a > at:
            yield Piece(text[at:a])
        yield Piece(text[a:b], True)
        at = b
    if at < end:
        yield Piece(text[at:end])


def snippet(text: str, query: Query, *, width: int = 240) -> tuple[Piece, ...]:
    """About `width` characters of the text around its densest run of matching words, with
    those words marked, and an ellipsis where the text was cut."""
    flat = " ".join(text.split())
    whole, prefixes = query.highlight_terms
    hits = _hits(flat, whole, prefixes)
    if len(flat) <= width:
        return tuple(_pieces(flat, 0, len(flat), hits))
    # The window of `width` characters with the most distinct matching terms (then the most
    # matches), found in one pass: `ahead` is the first hit past the window starting at hit i.
    found = [term(flat[a:b]) for a, b in hits]
    best, best_score, ahead = 0, -1, 0
    inside: dict[str, int] = {}
    for i, (a, _) in enumerate(hits):
        while ahead < len(hits) and hits[ahead][1] <= a + width:
            inside[found[ahead]] = inside.get(found[ahead], 0) + 1
            ahead += 1
        score = len(inside) * 100 + (ahead - i)
        if score > best_score:
            best, best_score = a, score
        if ahead > i:
            inside[found[i]] -= 1
            if not inside[found[i]]:
                del inside[found[i]]
    start = max(0, best - width // 4) if hits else 0
    if start:
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < best else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start else end
    pieces = list(_pieces(flat, start, end, hits))
    if start > 0:
        pieces.insert(0, Piece("… "))
    if end < len(flat):
        pieces.append(Piece(" …"))
    return tuple(pieces)
