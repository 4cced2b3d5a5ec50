"""What a report says about its event: weighted terms of title and lead, and event cues.

* Terms: the title and the lead (first `LEAD_WORDS` words), with names (capitalised words)
  counted double and pairs of adjacent names as extra terms, so actors, places and the specific
  event words ("vote", "rockets", "commission") carry the weight. An Arabic word is folded and
  light-stemmed (`arabic.light_stem`: القوات, والقوات and قواتها are one term). Stop words are a
  data file (`stopwords.txt`, English and Arabic).
* Cues: weekdays named in the lead ("wd:monday"), counts of things ("n:rocket=3") and the
  latest full date the text names ("day:2020-01-05"), in English or Arabic (يوم الخميس,
  ثلاثة صواريخ, صاروخين, 5 كانون الثاني 2020): the cue is the same whatever the language. They are
  evidence for the pair model (model.py): a different count of the same thing, disjoint
  weekdays, days named weeks apart.
* `Idf`: TF-IDF weights from document frequencies (stored ones plus the batch's).
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from importlib import resources

from monitor import arabic

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
    """Words that say nothing about the event (packaged `stopwords.txt`); Arabic ones as their
    folded light stems, as `term_counts` reads Arabic words."""
    text = resources.files("monitor.stories").joinpath("stopwords.txt").read_text("utf-8")
    words = (line.strip() for line in text.splitlines())
    return frozenset(
        arabic.light_stem(arabic.fold(w)) if arabic.has_arabic(w) else w
        for w in words
        if w and not w.startswith("#")
    )


_ARABIC_LETTERS = re.compile(r"[\u0621-\u064a]+")


def _arabic_key(raw: str) -> str:
    """The term of an Arabic word: its letters folded, light-stemmed (clitics off)."""
    letters = "".join(_ARABIC_LETTERS.findall(arabic.fold(raw)))
    return arabic.light_stem(letters) if letters else ""


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
    # Arabic folded first: its diacritics (صوّت, جنوداً) would otherwise cut words in two.
    return re.sub(r"\bU\.S\.(?=\W)", "US", arabic.fold(text)).replace("’", "'")


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
        word = _arabic_key(raw) if arabic.has_arabic(raw) else _norm(raw)
        if len(word) < 3 or word in stop or word[0].isdigit():
            prev = None
            continue
        name = raw[0].isupper()  # Arabic has no capitals: no Arabic word counts as a name
        counts[word] = counts.get(word, 0.0) + (2.0 if name and i > 0 else 1.0)
        if prev is not None and (BIGRAMS == "all" or (BIGRAMS == "names" and name and prev_name)):
            pair = prev + " " + word
            counts[pair] = counts.get(pair, 0.0) + 1.0
        prev, prev_name = word, name
    return counts


def _event_counts() -> list[tuple[str, str]]:
    """The lines of the packaged `event_counts.txt` with their section."""
    text = resources.files("monitor.stories").joinpath("event_counts.txt").read_text("utf-8")
    out = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        else:
            out.append((section, line))
    return out


@functools.cache
def count_nouns() -> dict[str, str]:
    """Nouns whose counts are event cues, and their kind: "things" or "tolls" (data file)."""
    return {line: section for section, line in _event_counts() if section != "arabic"}


@functools.cache
def arabic_count_nouns() -> dict[str, tuple[str, frozenset[str]]]:
    """Arabic words of counted things by their light stem: the English noun they count, and the
    word forms listed (a form ending in ين or ان that is listed is a plural, not a dual)."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for section, line in _event_counts():
        if section != "arabic":
            continue
        noun, _, words = line.partition(":")
        forms = frozenset(arabic.fold(w) for w in words.split())
        for form in forms:
            out[arabic.light_stem(form)] = (noun.strip(), forms)
    return out


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
    if arabic.has_arabic(head):
        cues |= _arabic_cues(head)
    cues |= concepts(title, text)
    day = day_cue(title, text)
    if day is not None:
        cues.add(day)
    return sorted(cues)


@functools.cache
def concept_phrases() -> dict[tuple[str, ...], str]:
    """The packaged concepts (`concepts.txt`): each phrase as its word keys -> its concept."""
    text = resources.files("monitor.stories").joinpath("concepts.txt").read_text("utf-8")
    out: dict[tuple[str, ...], str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        concept, _, phrases = line.partition(":")
        for phrase in phrases.replace("|", ",").split(","):
            keys = tuple(_concept_keys(phrase))
            if keys:
                out.setdefault(keys, concept.strip())
    return out


# Function words left out of concept phrases and texts alike ("the end of the mission" is
# "end mission"); the stop words of the terms are not, as some of them belong to phrases.
_CONCEPT_SKIP = frozenset(
    {"a", "an", "the", "of", "in", "on", "at", "for", "to", "by", "with", "and", "its", "their"}
    | {"his", "her", "from", "into", "over", "في", "من", "علي", "الي", "عن", "مع", "او", "ان"}
)


def _concept_keys(text: str) -> list[str]:
    """The words of a text as concepts are matched: normalised, function words left out."""
    keys = []
    for match in _WORD.finditer(_prepare(text)):
        raw = match.group(0)
        key = _arabic_key(raw) if arabic.has_arabic(raw) else _norm(raw)
        if len(key) >= 2 and key not in _CONCEPT_SKIP and not key[0].isdigit():
            keys.append(key)
    return keys


CONCEPT_SPAN = 3  # words in the longest phrase
CONCEPT = "k:"  # the prefix of concept cues (and of their document frequencies)


def concepts(title: str | None, text: str) -> set[str]:
    """The concepts title and lead name, as cues ('k:vote'): the same whatever the language."""
    full = ((title or "") + " .\n" if title else "") + text[: LEAD_WORDS * 12]
    keys = _concept_keys(full)[:LEAD_WORDS]
    phrases = concept_phrases()
    found = set()
    for i in range(len(keys)):
        for n in range(1, CONCEPT_SPAN + 1):
            concept = phrases.get(tuple(keys[i : i + n]))
            if concept is not None:
                found.add(CONCEPT + concept)
    return found


_AR_WEEKDAYS = {
    "الاحد": "sunday",
    "الاثنين": "monday",
    "الثلاثاء": "tuesday",
    "الاربعاء": "wednesday",
    "الخميس": "thursday",
    "الجمعه": "friday",
    "السبت": "saturday",
}
# Also "the one", "the two", "the assembly": a weekday only after a time word or before
# "last" / "next" (اليوم الأحد, مساء الجمعة, الاثنين الماضي).
_AR_AMBIGUOUS_DAYS = frozenset(["الاحد", "الاثنين", "الجمعه"])
_AR_TIME_WORDS = frozenset(
    ["اليوم", "يوم", "مساء", "صباح", "ليله", "ليل", "فجر", "ظهر", "عصر", "امس", "ظهيره", "منذ"]
)
_AR_AFTER_DAY = frozenset(["الماضي", "المقبل", "الفايت", "القادم"])
_AR_NUMBER_NEXT = re.compile(r"\s*(?:من\s+)?([\u0621-\u064a]+)")
_AR_YEAR = re.compile(r"(?:19|20)\d{2}")


def _arabic_cues(head: str) -> set[str]:
    """Weekdays and counts of things in the first `CUE_WORDS` words of an Arabic lead, as the
    same cues an English lead gives ('wd:thursday', 'n:rocket=3')."""
    folded = arabic.fold(" ".join(head.split()[:CUE_WORDS]))
    words = [w[1:] if w[:1] in ("و", "ف") and w[1:] in _AR_WEEKDAYS else w for w in
             _ARABIC_LETTERS.findall(folded)]  # fmt: skip
    cues = set()
    for i, word in enumerate(words):
        day = _AR_WEEKDAYS.get(word)
        if day is None:
            continue
        before = words[i - 1] if i else ""
        after = words[i + 1] if i + 1 < len(words) else ""
        if word not in _AR_AMBIGUOUS_DAYS or before in _AR_TIME_WORDS or after in _AR_AFTER_DAY:
            cues.add(f"wd:{day}")
    nouns = arabic_count_nouns()
    counted_at: set[int] = set()
    for n in arabic.numbers(folded):
        if _AR_YEAR.fullmatch(folded[n.start : n.end]):
            continue
        m = _AR_NUMBER_NEXT.match(folded, n.end)
        found = nouns.get(arabic.light_stem(m.group(1))) if m else None
        if m is None or found is None:
            continue
        counted_at.add(m.start(1))
        if 1 < n.value <= MAX_COUNT and n.value == int(n.value):
            cues.add(f"n:{found[0]}={int(n.value)}")
    for m in _ARABIC_LETTERS.finditer(folded):
        noun = _arabic_dual(m.group(0), nouns)
        if noun is not None and m.start() not in counted_at:
            cues.add(f"n:{noun}=2")
    return cues


def _arabic_dual(word: str, nouns: dict[str, tuple[str, frozenset[str]]]) -> str | None:
    """The noun a dual counts (صاروخين, طائرتين: two), or None."""
    if len(word) < 5 or not word.endswith(("ين", "ان")):
        return None
    base = word[:-2]
    if base.endswith("ت"):
        base = base[:-1] + "ه"  # طائرتين: the ة of طائرة before the ending
    found = nouns.get(arabic.light_stem(base))
    if found is None or any(word.endswith(f) for f in found[1] if f.endswith(("ين", "ان"))):
        return None  # a listed plural (مصابين), not two of a thing
    return found[0]


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
    whole = ((title or "") + "\n" + text) if title else text
    days = named_days(whole)
    if arabic.has_arabic(whole[:MENTION_CHARS]):
        days += [span.day for span in arabic.find_dates(whole[:MENTION_CHARS])]
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


DOCUMENTS = "#documents:"  # pseudo-terms counting the documents of each writing system


def term_script(term: str) -> str:
    """The writing system of a term: "arabic" or "latin"."""
    return "arabic" if term and "\u0600" <= term[0] <= "\u06ff" else "latin"


def script_of_counts(counts: Mapping[str, float]) -> str:
    """The writing system most of a report's terms are in ("" with no terms)."""
    if not counts:
        return ""
    arabic_terms = sum(1 for t in counts if term_script(t) == "arabic")
    return "arabic" if arabic_terms > len(counts) - arabic_terms else "latin"


class Idf:
    """Inverse document frequencies over `n_docs` documents, and TF-IDF vectors.

    With `per_script`, a word's frequency is taken among the documents of its writing system
    (an Arabic word among Arabic reports): English weights do not move when Arabic reports come
    in, nor the other way round. Concepts (`CONCEPT`) are counted over all documents."""

    def __init__(
        self, df: dict[str, int], n_docs: int, per_script: Mapping[str, int] | None = None
    ) -> None:
        self.df = df
        self.n = n_docs
        self.per_script = dict(per_script or {})
        self._cache: dict[str, float] = {}

    def __call__(self, term: str) -> float:
        value = self._cache.get(term)
        if value is None:
            n = self.n
            if self.per_script and not term.startswith(CONCEPT):
                n = self.per_script.get(term_script(term), n)
            value = self._cache[term] = math.log((n + 1) / (self.df.get(term, 0) + 0.5))
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
