"""What a report says about its event: weighted terms of title and lead, and event cues.

* Terms: the title and the lead (first `LEAD_WORDS` words), with names (capitalised words)
  counted double and pairs of adjacent names as extra terms, so actors, places and the specific
  event words ("vote", "rockets", "commission") carry the weight. Stop words are a data file
  (`stopwords.txt`).
* Cues: weekdays named in the lead ("wd:monday"), counts of things ("n:rocket=3") and the
  latest full date the text names ("day:2020-01-05"). They are evidence for the pair model
  (model.py): a different count of the same thing, disjoint weekdays, days named weeks apart.
* `Idf`: TF-IDF weights from document frequencies (stored ones plus the batch's).
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections.abc import Iterable
from datetime import date
from importlib import resources

# Parameters (see docs/dedup.md).
LEAD_WORDS = 400
BIGRAMS = "none"  # "all", "names" (pairs of capitalised words) or "none"
CUE_WORDS = 90
# Terms no other document has cannot match anything; they only dilute the vector's norm.
UNIQUE_WEIGHT = 0.3
MAX_COUNT = 999  # larger figures are rounded differently from one report to the next

_WORD = re.compile(r"[^\W\d_][\w'’.\-]*|\d[\d,.]*", re.UNICODE)


@functools.cache
def stopwords() -> frozenset[str]:
    """Words that say nothing about the event (packaged `stopwords.txt`)."""
    text = resources.files("monitor.stories").joinpath("stopwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_RE = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}
_ORDINALS = {
    w: i + 1
    for i, w in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
        ]
    )
}
_COUNT_RE = re.compile(
    r"\b(\d{1,3}(?:,\d{3})*|" + "|".join(list(_NUMBER_WORDS) + list(_ORDINALS)) + r")"
    r"\s+(?:(?:us|american|iraqi|more|new|other|additional|separate)\s+)?([a-z]{3,})\b"
)
_PLURAL_NOUNS = frozenset(["people", "personnel", "police", "staff", "children", "women", "men"])


@functools.lru_cache(maxsize=200_000)
def _norm(word: str) -> str:
    word = word.casefold().replace("’", "'").strip("'.-,")
    if word.endswith("'s"):
        word = word[:-2]
    word = word.replace(".", "")
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


def _prepare(text: str) -> str:
    return re.sub(r"\bU\.S\.(?=\W)", "US", text).replace("’", "'")


def term_counts(title: str | None, text: str) -> dict[str, float]:
    """Weighted terms of title + lead: words, names counted double, adjacent pairs."""
    stop = stopwords()
    # ~12 characters a word is far more than the lead needs; the rest is never read.
    full = _prepare(((title or "") + " .\n" if title else "") + text[: LEAD_WORDS * 12])
    counts: dict[str, float] = {}
    prev: str | None = None
    prev_name = False
    for i, match in enumerate(_WORD.finditer(full)):
        if i >= LEAD_WORDS:
            break
        raw = match.group(0)
        word = _norm(raw)
        if len(word) < 3 or word in stop or word[0].isdigit():
            prev = None
            continue
        name = raw[0].isupper()
        counts[word] = counts.get(word, 0.0) + (2.0 if name and i > 0 else 1.0)
        if prev is not None and (BIGRAMS == "all" or (BIGRAMS == "names" and name and prev_name)):
            pair = prev + " " + word
            counts[pair] = counts.get(pair, 0.0) + 1.0
        prev, prev_name = word, name
    return counts


@functools.cache
def count_nouns() -> dict[str, str]:
    """Nouns whose counts are event cues, and their kind: "things" or "tolls" (data file)."""
    text = resources.files("monitor.stories").joinpath("event_counts.txt").read_text("utf-8")
    kinds: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        else:
            kinds[line] = section
    return kinds


def event_cues(title: str | None, text: str) -> list[str]:
    """Event cues: weekdays ('wd:monday') and counts of things ('n:rocket=3') in the lead, and
    the latest day the text names ('day:2020-01-05')."""
    nouns = count_nouns()
    head = (title or "") + " . " + text[: CUE_WORDS * 12]
    lead = " ".join(_prepare(head).split()[:CUE_WORDS]).casefold()
    cues = {f"wd:{m.group(1)}" for m in _WEEKDAY_RE.finditer(lead)}
    for m in _COUNT_RE.finditer(lead):
        number, raw_noun = m.group(1), m.group(2)
        noun = _norm(raw_noun)
        if noun not in nouns:
            continue  # "29 http", "20 negotiations", "two nations": not a count of event things
        if number in _ORDINALS:
            value = _ORDINALS[number]  # "sixth round", "first meeting"
        else:
            if not (raw_noun.endswith("s") or raw_noun in _PLURAL_NOUNS):
                continue  # "two striking", "5,000 from": not a count of things
            value = _NUMBER_WORDS.get(number, 0) or int(number.replace(",", "") or 0)
            if not 1 < value <= MAX_COUNT:
                continue
        cues.add(f"n:{noun}={value}")
    day = day_cue(title, text)
    if day is not None:
        cues.add(day)
    return sorted(cues)


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
# "5 January 2020", "5th Jan. 2020", "January 5, 2020", "2020-01-05": a day, month and year.
_NAMED_DAY = re.compile(
    rf"\b(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m1>{_MONTH_RE})\.?"
    rf"|(?P<m2>{_MONTH_RE})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?),?\s+(?P<y>(?:19|20)\d{{2}})\b"
    r"|(?<!\d)(?P<iy>(?:19|20)\d{2})-(?P<im>\d{2})-(?P<id>\d{2})(?!\d)",
    re.I,
)
MENTION_CHARS = 4000


def named_days(text: str) -> list[date]:
    """Every full date (day, month and year) written in the first `MENTION_CHARS` of a text."""
    out = []
    for m in _NAMED_DAY.finditer(text[:MENTION_CHARS]):
        if m.group("iy"):
            parts = (m.group("iy"), m.group("im"), m.group("id"))
            year, month, day = (int(p) for p in parts)
        else:
            year = int(m.group("y"))
            month = _MONTHS[(m.group("m1") or m.group("m2")).casefold()]
            day = int(m.group("d1") or m.group("d2"))
        try:
            out.append(date(year, month, day))
        except ValueError:
            continue  # "31 February": not a day
    return out


def day_cue(title: str | None, text: str) -> str | None:
    """The latest full date the title and text name, as a cue ('day:2020-01-05'), or None.

    Not the article's published date (dates.py decides that, from the top of the page): the day
    the report's text names last is evidence of which event it reports, dated or not."""
    days = named_days(((title or "") + "\n" + text) if title else text)
    return f"day:{max(days).isoformat()}" if days else None


def cue_day(cues: Iterable[str]) -> date | None:
    """The day of a 'day:' cue, if there is one."""
    for c in cues:
        if c.startswith("day:"):
            try:
                return date.fromisoformat(c[4:])
            except ValueError:
                return None
    return None


def encode_counts(counts: dict[str, float]) -> str:
    """Term counts as one compact string ("term<TAB>count" lines) for storage."""
    return "\n".join(f"{t}\t{c:g}" for t, c in counts.items())


def decode_counts(encoded: str) -> dict[str, float]:
    """The inverse of encode_counts."""
    out: dict[str, float] = {}
    for line in encoded.split("\n"):
        term, _, count = line.rpartition("\t")
        if term:
            out[term] = float(count)
    return out


def _weekdays(cues: Iterable[str]) -> set[str]:
    return {c for c in cues if c.startswith("wd:")}


def _counts(cues: Iterable[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in cues:
        if c.startswith("n:"):
            noun, _, value = c[2:].partition("=")
            out.setdefault(noun, set()).add(value)
    return out


def _apart(noun: str, a: set[str], b: set[str]) -> bool:
    if a & b:
        return False
    if count_nouns().get(noun) != "tolls":
        return True
    low = min(int(v) for v in a | b)
    return max(int(v) for v in a | b) > 2 * low  # a toll revised upwards is the same event


def cues_conflict(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two cue sets count the same thing differently ('three rockets' / 'ten rockets');
    tolls (casualties, crowds) only when more than twice apart."""
    counts_b = _counts(b)
    return any(
        noun in counts_b and _apart(noun, values, counts_b[noun])
        for noun, values in _counts(a).items()
    )


def weekdays_differ(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether both name weekdays in their leads and none in common (a soft sign of two events)."""
    wa, wb = _weekdays(a), _weekdays(b)
    return bool(wa and wb and not wa & wb)


class Idf:
    """Inverse document frequencies over `n_docs` documents, and TF-IDF vectors."""

    def __init__(self, df: dict[str, int], n_docs: int) -> None:
        self.df = df
        self.n = n_docs
        self._cache: dict[str, float] = {}

    def __call__(self, term: str) -> float:
        value = self._cache.get(term)
        if value is None:
            value = self._cache[term] = math.log((self.n + 1) / (self.df.get(term, 0) + 0.5))
        return value

    def weights(self, counts: dict[str, float]) -> dict[str, float]:
        """TF-IDF weight of each term (not normalised, not damped)."""
        return {t: (1 + math.log(c)) * self(t) for t, c in counts.items() if c > 0}

    def vector(
        self, counts: dict[str, float], weights: dict[str, float] | None = None
    ) -> dict[str, float]:
        """Unit-length TF-IDF vector; terms no other document has are damped."""
        df = self.df
        w = weights if weights is not None else self.weights(counts)
        vec = {t: v * (1.0 if df.get(t, 0) > 1 else UNIQUE_WEIGHT) for t, v in w.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def top_terms(self, weights: dict[str, float], k: int, min_df: int = 1) -> list[str]:
        """The k terms of highest TF-IDF weight among those in at least min_df documents."""
        df = self.df
        terms = (t for t in weights if df.get(t, 0) >= min_df) if min_df > 1 else iter(weights)
        return heapq.nlargest(k, terms, key=lambda t: (weights[t], t))


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine similarity of two unit vectors held as dicts."""
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())
