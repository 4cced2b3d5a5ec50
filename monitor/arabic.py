"""Arabic handled as Arabic: pure functions the other stages call.

* `fold`: the spelling variants news text mixes, made one (docs/language.md): alef forms
  (أ إ آ ٱ → ا), alef maqsura (ى → ي), ta marbuta (ة → ه), hamza on waw / yeh (ؤ → و, ئ → ي),
  Persian kaf / yeh (ک ی → ك ي), without diacritics (tashkeel) and tatweel, Arabic-Indic digits as
  ASCII digits (٥٬٠٠٠ → 5,000). `Folded` keeps the way back to the original offsets.
* `term_key` / `candidate_keys`: how taxonomy phrases meet text. A taxonomy word's key is its
  form (folded, ta marbuta kept) without the article, a pronoun (ها هم ه) and one plural, nisba
  or accusative ending (ين ون ات يه يا ا), each only where three letters remain; a text word
  matches when it, or what is left after peeling a conjunction (و ف), a preposition (ب ل ك) and
  the article (والقوات, بالعراق, للبرلمان), has that key. A text word's own first letters are
  never taken for clitics unless that leaves a taxonomy word (بغداد is not غداد).
* `light_stem`: one key per word, every clitic letter off while three letters remain (the same
  for القوات / والقوات / للقوات / قواتها, and بغداد -> غداد too), for regular expressions over
  the words (`words:` terms) and for term features. After folding, أميركي and أمريكي stay two
  spellings: the taxonomy lists both. Snowball's and Tashaphyne's Arabic stemmers were measured
  and left out (docs/language.md): they give one word different stems with and without its
  clitics (Snowball: القوات, قوات, والقوات -> القو, قوا, والقوا) and cost ~90 µs a word
  against ~6 µs here, cached after.
* `numbers`: numbers written in digits (Arabic-Indic too, with ٬ ٫) or in words (ثلاثة صواريخ,
  خمسة آلاف جندي, مئتان وخمسون), with their spans.
* `find_dates`: dates with their spans: "5 كانون الثاني 2020", "5 يناير 2020", "18 حزيران/ يونيو
  1984", Maghrebi month names, numeric days (2020/1/5, 5-1-2020) and Hijri dates ("10 جمادى
  الأولى 1441 هـ", converted with hijridate's Umm al-Qura tables).
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from datetime import date

from hijridate import Hijri

ARABIC_CHAR = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
# Diacritics (tashkeel, Quranic marks, superscript alef) and tatweel: dropped by `fold`.
MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0640"
_MARKS = re.compile(f"[{MARKS}]")
_TABLE = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "و",
        "ئ": "ي",
        "ک": "ك",
        "ی": "ي",
        "٬": ",",  # Arabic thousands separator
        "٫": ".",  # Arabic decimal separator
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern (Persian) digits
        **{chr(c): None for c in range(0x064B, 0x0660)},
        **{chr(c): None for c in range(0x0610, 0x061B)},
        "\u0670": None,
        "\u0640": None,
        **{chr(c): None for c in range(0x06D6, 0x06DD)},
        **{chr(c): None for c in range(0x06DF, 0x06E9)},
        **{chr(c): None for c in range(0x06EA, 0x06EE)},
    }
)
# Arabic quotation marks (and the typographic ones Arabic outlets use), opening -> closing.
QUOTE_PAIRS = {"«": "»", "“": "”", "‹": "›", '"': '"', "„": "“"}
# Verbs that report speech (folded), past and present: the taxonomy's `stance.reporting` and
# quote attribution use these.
SPEECH_VERBS = (
    "قال",
    "يقول",
    "قالت",
    "تقول",
    "اكد",
    "اكدت",
    "يؤكد",
    "تؤكد",
    "اعلن",
    "اعلنت",
    "يعلن",
    "صرح",
    "صرحت",
    "اوضح",
    "اوضحت",
    "اضاف",
    "اضافت",
    "افاد",
    "افادت",
    "ذكر",
    "ذكرت",
    "اشار",
    "اشارت",
    "شدد",
    "شددت",
    "حذر",
    "حذرت",
    "نقل",
    "نقلت",
    "كتب",
    "كتبت",
    "غرد",
    "اعتبر",
    "اعتبرت",
    "طالب",
    "طالبت",
    "دعا",
    "دعت",
)


def has_arabic(text: str) -> bool:
    """Whether the text holds any Arabic-script letter."""
    return ARABIC_CHAR.search(text) is not None


def fold(text: str) -> str:
    """The text with Arabic spelling variants made one (module doc); other scripts unchanged."""
    return text.translate(_TABLE)


_KEY_TABLE = {**_TABLE, ord("ة"): "ة"}


def fold_keeping_ta(text: str) -> str:
    """`fold`, but ta marbuta stays ة: phrase keys tell بعثة (a mission) from البعث (the Baath
    party) and مهمة (a mission) from مهم (important)."""
    return text.translate(_KEY_TABLE)


@dataclass(frozen=True)
class Folded:
    """A folded text and the offsets of the characters folding dropped, to map back."""

    text: str
    dropped: tuple[int, ...]  # original offsets of dropped characters, in order

    @classmethod
    def of(cls, original: str) -> Folded:
        """Fold `original`, remembering where characters were dropped."""
        dropped = tuple(m.start() for m in _MARKS.finditer(original))
        return cls(fold(original), dropped)

    def original(self, pos: int) -> int:
        """The offset in the original text of folded offset `pos`."""
        if not self.dropped:
            return pos
        # The k-th kept character sits at pos + (number of dropped characters before it).
        lo, hi = pos, pos + len(self.dropped)
        while lo < hi:  # smallest o with o - dropped_before(o) == pos, o not dropped
            mid = (lo + hi) // 2
            if mid - bisect.bisect_left(self.dropped, mid) < pos:
                lo = mid + 1
            else:
                hi = mid
        while lo in self.dropped_set:
            lo += 1
        return lo

    @functools.cached_property
    def dropped_set(self) -> frozenset[int]:
        """The dropped offsets as a set."""
        return frozenset(self.dropped)


# Letters that may be clitics at a word's start (و ف conjunctions, ب ل ك prepositions) and the
# article ال; stripped in any order while three letters remain, so that a word and the same word
# with clitics always get one key (البرلمان, للبرلمان and برلمان alike), even where the first
# letter belongs to the word itself.
_CLITIC_LETTERS = frozenset("وفبلك")
# Suffixes: a pronoun (its forces: قواتها, قواته), then a plural, nisba or accusative ending.
_PRONOUNS = ("هما", "هم", "ها", "ه")
_SUFFIXES = (
    ("يين", "ي"), ("يون", "ي"), ("يه", "ي"), ("يا", "ي"), ("ين", ""), ("ون", ""), ("ات", ""),
    ("ا", ""),
)  # fmt: skip
_MIN_STEM = 3


def _ending_off(w: str) -> str:
    """The word without a pronoun, then without one plural, nisba or accusative ending."""
    for pronoun in _PRONOUNS:
        if w.endswith(pronoun) and len(w) - len(pronoun) >= _MIN_STEM:
            w = w[: -len(pronoun)]
            break
    for suffix, replacement in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) + len(replacement) >= _MIN_STEM:
            return w[: len(w) - len(suffix)] + replacement
    return w


@functools.lru_cache(maxsize=65536)
def light_stem(word: str) -> str:
    """The key of one folded Arabic word with every clitic letter off (module doc): for
    regular expressions over words, where each word has one key."""
    w = word
    while len(w) > _MIN_STEM:
        if w.startswith("ال") and len(w) - 2 >= _MIN_STEM:
            w = w[2:]
        elif w[0] in _CLITIC_LETTERS:
            w = w[1:]
        else:
            break
    return _ending_off(w)


# Endings of a phrase key (ta marbuta kept): a pronoun, then a construct ت back to ة, then one
# plural, nisba or accusative ending; a feminine plural becomes its singular (مسيرات -> مسيرة).
_KEY_ENDINGS = (
    ("يين", "ي"), ("يون", "ي"), ("ية", "ي"), ("يا", "ي"), ("ين", ""), ("ون", ""), ("ات", "ة"),
    ("ا", ""),
)  # fmt: skip


@functools.lru_cache(maxsize=65536)
def term_key(word: str) -> str:
    """The key of one word (folded, ta marbuta kept) as the taxonomy writes it: without its
    article, pronoun and ending, its first letter kept (بغداد stays بغداد, البرلمان is برلمان,
    حكومتها is حكومة)."""
    w = word
    if w.startswith("ال") and len(w) - 2 >= _MIN_STEM:
        w = w[2:]
    for pronoun in _PRONOUNS:
        if w.endswith(pronoun) and len(w) - len(pronoun) >= _MIN_STEM:
            w = w[: -len(pronoun)]
            if w.endswith("ت") and not w.endswith("ات"):
                w = w[:-1] + "ة"  # حكومتها: the ة of حكومة before a pronoun
            break
    for suffix, replacement in _KEY_ENDINGS:
        if w.endswith(suffix) and len(w) - len(suffix) >= _MIN_STEM:
            return w[: len(w) - len(suffix)] + replacement
    return w


@functools.lru_cache(maxsize=65536)
def candidate_keys(word: str) -> tuple[str, ...]:
    """The keys a folded word of a text may stand for: as written, and with a conjunction (و
    ف), then a preposition (ب ل ك), then the article peeled off (وبالعراق: وبالعراق, بالعراق,
    العراق -> عراق). A text word matches a taxonomy word when one of these is its `term_key`,
    so بغداد in a text is never taken for غداد, nor وجه for الفلوجة. `word` is folded with
    `fold_keeping_ta`."""
    out = [term_key(word)]
    rest = [word]
    if word[:1] in ("و", "ف") and len(word) - 1 >= 2:
        rest.append(word[1:])
    for w in list(rest):
        if w.startswith("لل") and len(w) - 2 >= 2:
            rest.append("ال" + w[2:])  # لل = ل + ال
        elif w[:1] in ("ب", "ل", "ك") and len(w) - 1 >= 2:
            rest.append(w[1:])
    for w in rest[1:]:
        key = term_key(w)
        if key not in out:
            out.append(key)
    return tuple(out)


_ARABIC_WORD = re.compile(r"[\u0621-\u064a]+")


def key_pattern(pattern: str) -> str:
    """A regular expression over words written as they are, rewritten over their keys: every
    Arabic word in it folded and light-stemmed ("القوات|الجنود" -> "قوات|جنود")."""
    return _ARABIC_WORD.sub(lambda m: light_stem(m.group(0)), fold(pattern))


_WORD = re.compile(rf"[\w{MARKS}]+")


def tokens(text: str) -> list[tuple[int, int, str]]:
    """Every word of `text` with its span and its key (`light_stem` of the folded word for Arabic
    words, the lower-cased word otherwise)."""
    out = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        key = light_stem(fold(word)) if has_arabic(word) else word.lower()
        out.append((m.start(), m.end(), key))
    return out


# -- numbers ----------------------------------------------------------------------------------

_UNITS = {
    "واحد": 1, "واحده": 1, "احد": 1, "احدي": 1,
    "اثنان": 2, "اثنين": 2, "اثنتان": 2, "اثنتين": 2, "اثنا": 2, "اثني": 2, "اثنتا": 2,
    "ثلاث": 3, "ثلاثه": 3, "اربع": 4, "اربعه": 4, "خمس": 5, "خمسه": 5, "ست": 6, "سته": 6,
    "سبع": 7, "سبعه": 7, "ثمان": 8, "ثماني": 8, "ثمانيه": 8, "تسع": 9, "تسعه": 9,
    "عشر": 10, "عشره": 10,
}  # fmt: skip
_TENS = {
    "عشرون": 20, "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "اربعون": 40, "اربعين": 40,
    "خمسون": 50, "خمسين": 50, "ستون": 60, "ستين": 60, "سبعون": 70, "سبعين": 70,
    "ثمانون": 80, "ثمانين": 80, "تسعون": 90, "تسعين": 90,
}  # fmt: skip
_HUNDREDS = {"ميه": 100, "مايه": 100, "ميتان": 200, "ميتين": 200, "مايتان": 200, "مايتين": 200}
_SCALES = {
    "الف": 1000, "الفا": 1000, "الاف": 1000, "الفان": 2000, "الفين": 2000, "الفي": 2000,
    "مليون": 10**6, "ملايين": 10**6, "مليونا": 10**6, "مليار": 10**9, "مليارات": 10**9,
}  # fmt: skip


def _word_value(word: str) -> tuple[str, int] | None:
    """(kind, value) of one folded number word: unit, ten, hundred or scale."""
    if word in _UNITS:
        return "unit", _UNITS[word]
    if word in _TENS:
        return "ten", _TENS[word]
    if word in _HUNDREDS:
        return "hundred", _HUNDREDS[word]
    if word in _SCALES:
        return "scale", _SCALES[word]
    for stem in ("ميه", "مايه"):  # ثلاثمئة, خمسمائة (folded)
        if word.endswith(stem) and word[: -len(stem)] in _UNITS:
            return "hundred", _UNITS[word[: -len(stem)]] * 100
    return None


_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER_TOKEN = re.compile(rf"(?P<digits>{_DIGITS})|(?P<word>[\u0621-\u064a]+)")
_DUALS = ("الفان", "الفين", "الفي")


@dataclass(frozen=True)
class Number:
    """A number found in a folded text: its span there and its value."""

    start: int
    end: int
    value: float


class _Reader:
    """Adds up one written number, word by word (ثلاثة آلاف وخمسمئة = 3500)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.current = 0.0
        self.last = ""

    def take(self, token: re.Match[str], first: bool) -> bool:
        """Add one token; False when it is not part of the number."""
        digits = token.group("digits")
        if digits is not None:
            if not first:
                return False
            self.current, self.last = float(digits.replace(",", "")), "digits"
            return True
        word = token.group("word")
        found = _word_value(word[1:] if not first and word.startswith("و") else word)
        if found is None and not first:
            found = _word_value(word)
        if found is None:
            return False
        kind, value = found
        if kind == "scale":
            if self.last == "scale":
                return False
            self.total += value if word in _DUALS else (self.current or 1) * value
            self.current = 0.0
        elif kind == "unit" and value == 10 and self.last == "unit" and self.current < 10:
            self.current += 10  # ثلاثة عشر
        elif kind == "hundred" and value == 100 and self.last == "unit" and self.current < 10:
            self.current *= 100  # ثلاث مئة
        elif self.last == "digits":
            return False
        else:
            self.current += value
        self.last = kind
        return True

    @property
    def value(self) -> float:
        """The number read so far."""
        return self.total + self.current


def numbers(folded: str) -> list[Number]:
    """Every number of a folded text, in digits or in words (module doc), with its span."""
    out: list[Number] = []
    matches = list(_NUMBER_TOKEN.finditer(folded))
    i = 0
    while i < len(matches):
        reader = _Reader()
        if not reader.take(matches[i], True):
            i += 1
            continue
        j = i + 1
        while (
            j < len(matches)
            and not folded[matches[j - 1].end() : matches[j].start()].strip()
            and reader.take(matches[j], False)
        ):
            j += 1
        if reader.value:
            out.append(Number(matches[i].start(), matches[j - 1].end(), reader.value))
        i = j
    return out


# -- dates ------------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _n, _names in enumerate(
    (
        ("يناير", "كانون الثاني", "جانفي"),
        ("فبراير", "شباط", "فيفري"),
        ("مارس", "اذار"),
        ("ابريل", "نيسان", "افريل"),
        ("مايو", "ايار", "ماي"),
        ("يونيو", "يونيه", "حزيران", "جوان"),
        ("يوليو", "يوليه", "تموز", "جويليه", "يوليوز"),
        ("اغسطس", "اب", "اوت", "غشت"),
        ("سبتمبر", "ايلول", "شتنبر"),
        ("اكتوبر", "تشرين الاول"),
        ("نوفمبر", "تشرين الثاني", "نونبر"),
        ("ديسمبر", "كانون الاول", "دجنبر"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _n
_HIJRI_MONTHS = {
    "محرم": 1, "صفر": 2, "ربيع الاول": 3, "ربيع الثاني": 4, "ربيع الاخر": 4,
    "جمادي الاولي": 5, "جمادي الاول": 5, "جمادي الثانيه": 6, "جمادي الاخره": 6,
    "جمادي الثاني": 6, "جمادي الاخر": 6, "رجب": 7, "شعبان": 8, "رمضان": 9, "شوال": 10,
    "ذو القعده": 11, "ذي القعده": 11, "ذو الحجه": 12, "ذي الحجه": 12,
}  # fmt: skip


def _alternation(names: list[str]) -> str:
    ordered = sorted(names, key=len, reverse=True)
    return "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in ordered)


_GREG = _alternation(list(_MONTHS))
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d)(?P<day>\d{{1,2}})\s*(?:من\s+)?(?:شهر\s+)?(?P<month>{_GREG})"
    rf"(?:\s*[/(\-–]\s*(?P<month2>{_GREG})\s*\)?)?\s*(?:(?:من\s+)?(?:عام|سنه)\s+)?,?\s*"
    r"(?P<year>(?:19|20)\d{2})(?!\d)"
)
_HIJRI = re.compile(
    rf"(?<!\d)(?P<day>\d{{1,2}})\s*(?:من\s+)?(?P<month>{_alternation(list(_HIJRI_MONTHS))})"
    r"\s*(?:(?:من\s+)?(?:عام|سنه)\s+)?(?P<year>1[345]\d{2})\s*(?:ه\b|هـ|هجري|للهجره)"
)
_NUMERIC = re.compile(
    r"(?<![\d/.\-])(?:(?P<y1>(?:19|20)\d{2})[/.\-](?P<m1>\d{1,2})[/.\-](?P<d1>\d{1,2})"
    r"|(?P<d2>\d{1,2})[/.\-](?P<m2>\d{1,2})[/.\-](?P<y2>(?:19|20)\d{2}))(?![\d/.\-])"
)


@dataclass(frozen=True)
class DateSpan:
    """A date written in the text: its span in the original text, the day, and its calendar."""

    start: int
    end: int
    day: date
    calendar: str  # "gregorian" or "hijri"


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def find_dates(text: str) -> list[DateSpan]:
    """Every full date (day, month, year) written in an Arabic text, with its span (module
    doc); Hijri dates converted to the Gregorian day."""
    f = Folded.of(text)
    out: list[DateSpan] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, day: date | None, calendar: str) -> None:
        """Keep a date unless it overlaps one kept before (a Hijri date and its Gregorian twin)."""
        if day is None or any(a < end and start < b for a, b in taken):
            return
        taken.append((start, end))
        out.append(DateSpan(f.original(start), f.original(end - 1) + 1, day, calendar))

    for m in _HIJRI.finditer(f.text):
        month = _HIJRI_MONTHS[" ".join(m.group("month").split())]
        try:
            day = Hijri(int(m.group("year")), month, int(m.group("day"))).to_gregorian()
            add(m.start(), m.end(), date(day.year, day.month, day.day), "hijri")
        except (ValueError, OverflowError):
            continue
    for m in _DAY_MONTH_YEAR.finditer(f.text):
        month = _MONTHS[" ".join(m.group("month").split())]
        add(m.start(), m.end(), _day(int(m.group("year")), month, int(m.group("day"))), "gregorian")
    for m in _NUMERIC.finditer(f.text):
        if m.group("y1"):
            y, mo, d = m.group("y1"), m.group("m1"), m.group("d1")
        else:
            y, mo, d = m.group("y2"), m.group("m2"), m.group("d2")
        add(m.start(), m.end(), _day(int(y), int(mo), int(d)), "gregorian")
    return sorted(out, key=lambda s: s.start)


# -- figures ----------------------------------------------------------------------------------

# What a number counts when one of these words follows it (as `figures.py` kinds).
_UNIT_WORDS = {
    "troops": "جندي جنود جنديا عسكري عسكريين عسكريا مستشار مستشارين مدرب مدربين عنصر عناصر",
    "lawmakers": "نائب نائبا نواب عضو أعضاء برلماني برلمانيا",
    "votes": "صوت أصوات صوتا",
    "casualties": "قتيل قتلى جريح جرحى مصاب مصابين مصابا",
    "rockets": "صاروخ صواريخ صاروخا قذيفة قذائف مسيرة مسيرات طائرة طائرات",
    "attacks": "هجوم هجمات هجوما",
    "seats": "مقعد مقاعد مقعدا",
}


@functools.cache
def _unit_keys() -> dict[str, str]:
    return {
        light_stem(fold(word)): kind
        for kind, words in _UNIT_WORDS.items()
        for word in words.split()
    }


_NEXT_WORD = re.compile(r"\s*(?:من\s+)?([\u0621-\u064a]+)")


@dataclass(frozen=True)
class Counted:
    """A figure in an Arabic text: its span in the original text, its value and what it counts."""

    start: int
    end: int
    value: float
    what: str


def counted(text: str) -> list[Counted]:
    """Every number followed by what it counts (جندي, نائبا, صواريخ ...), in digits or words."""
    f = Folded.of(text)
    units = _unit_keys()
    out = []
    for n in numbers(f.text):
        raw = f.text[n.start : n.end]
        if re.fullmatch(r"(?:19|20)\d{2}", raw):
            continue  # a year
        m = _NEXT_WORD.match(f.text, n.end)
        if m is None:
            continue
        what = units.get(light_stem(m.group(1)))
        if what is None:
            continue
        out.append(Counted(f.original(n.start), f.original(m.end() - 1) + 1, n.value, what))
    return out
