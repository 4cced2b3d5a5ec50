"""Publication dates from the article's own evidence, with where each came from.

Two columns say where a date came from: `date_source`, the coarse kind users filter on, and
`date_evidence`, the exact place (docs/dates.md):

    date_source  date_evidence
    metadata     meta          a published-time meta tag (article:published_time, pubdate ...)
                 json-ld       JSON-LD datePublished (also inside @graph)
                 microdata     an element with itemprop="datePublished"
                 time          a <time> element of the article: one marked as the publication
                               time, else the first bare one outside lists, comments, asides
    url          url           a full date in the URL's path (/2024/01/26/, /2017/7/12/, 20240126)
    feed         feed          the date the feed, sitemap or news API gave for the link
    text         dateline      at the top of the text: a dateline, a line that is only a date,
                               a "Published ..." / "date ..." line
                 relative      "3 hours ago", "yesterday" at the top of the text, against the
                               time the page was fetched (the page said it then)
                 page          htmldate's search of the page's date elements (fast mode)
                 page-text     htmldate's extensive search, of the page without the article text
    story        copy          the date of the article this one is a copy of (same URL or text)
    unknown      (none)

Only a full day counts: a year or a month alone is never a day, and a first of the month (a
January 1 from metadata) is kept only where the page writes that day out. Modified dates are never
used. Relative words in the body ("on Sunday") are not resolved: they date the event from a
publication day nobody has written down, and the crawl day is no anchor for an old page.

This module parses dates and chooses among the evidence (`choose_date`); the page's markup and
htmldate's search are read in monitor/page_dates.py, the copies' dates filled in by
store.articles.fill_dates_of_copies.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from monitor.models import DateEvidence, DateSource, Link

log = logging.getLogger(__name__)

EARLIEST = datetime(1995, 1, 1)

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            # English, then German, French, Spanish and Italian where they differ.
            ("january", "jan", "januar", "jänner", "janvier", "enero", "gennaio"),
            ("february", "feb", "februar", "février", "fevrier", "febrero", "febbraio"),
            ("march", "mar", "märz", "mars", "marzo"),
            ("april", "apr", "avril", "abril", "aprile"),
            ("may", "mai", "mayo", "maggio"),
            ("june", "jun", "juni", "juin", "junio", "giugno"),
            ("july", "jul", "juli", "juillet", "julio", "luglio"),
            ("august", "aug", "août", "aout", "agosto"),
            ("september", "sep", "sept", "septembre", "septiembre", "settembre"),
            ("october", "oct", "oktober", "okt", "octobre", "octubre", "ottobre"),
            ("november", "nov", "novembre", "noviembre"),
            ("december", "dec", "dezember", "dez", "décembre", "decembre", "diciembre", "dicembre"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<{g}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
# "5 January 2020", "January 5, 2020", "Jan. 5 2020", "Monday 18 March 2024 - 21:00",
# "3. Dezember 2011", "1er juillet 2019", "3 de diciembre de 2011".
_FULL_DATE = re.compile(
    rf"\b{_WEEKDAY}(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?:de\s+)?{_MONTH.format(g='m1')}"
    rf"|{_MONTH.format(g='m2')}\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?)"
    rf",?\s+(?:de\s+)?(?P<y>(?:19|20)\d{{2}})\b"
    r"(?:\s*[-–,|@]?\s*(?:at\s+)?(?P<hh>\d{1,2}):(?P<mm>\d{2}))?",
    re.I,
)
# Arabic: "الخميس ٢٣ يوليو ٢٠٢٠ - ٠٨:٤٢ بتوقيت غرينتش", "13 أغسطس 2019 08:22 م",
# "5 كانون الثاني 2020" (digits read as ASCII first: `_DIGITS`). Egyptian/Gulf and Levantine
# month names.
_AR_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("يناير", "كانون الثاني"),
            ("فبراير", "شباط"),
            ("مارس", "آذار", "اذار"),
            ("أبريل", "ابريل", "إبريل", "نيسان"),
            ("مايو", "أيار", "ايار"),
            ("يونيو", "يونيه", "حزيران"),
            ("يوليو", "يوليه", "تموز"),
            ("أغسطس", "اغسطس", "آب", "اب"),
            ("سبتمبر", "أيلول", "ايلول"),
            ("أكتوبر", "اكتوبر", "تشرين الأول", "تشرين الاول"),
            ("نوفمبر", "تشرين الثاني"),
            ("ديسمبر", "كانون الأول", "كانون الاول"),
        ],
        start=1,
    )
    for name in names
}
_AR_WEEKDAY = (
    r"(?:(?:يوم\s+)?(?:الأحد|الاحد|الإثنين|الاثنين|الثلاثاء|الأربعاء|الاربعاء|الخميس|الجمعة|السبت)"
    r"\s*[،,]?\s*)?"
)
_ARABIC_DATE = re.compile(
    rf"{_AR_WEEKDAY}(?P<d1>\d{{1,2}})\s+(?P<am>"
    + "|".join(sorted(_AR_MONTHS, key=len, reverse=True))
    + r")\s*[،,]?\s+(?P<y>(?:19|20)\d{2})(?!\d)"
    r"(?:\s*[-–،,|]?\s*(?P<hh>\d{1,2}):(?P<mm>\d{2})(?:\s*(?P<pm>م|مساء)(?!\w))?)?"
)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_ZONE_WORDS = re.compile(
    r"^(?:(?:GMT|UTC|ET|EST|EDT|BST|CET|AST)|[مص]|بتوقيت(?:\s+\S+){1,2})$", re.I
)
_ISO_DATE = re.compile(
    r"\b(?P<y>(?:19|20)\d{2})-(?P<m>\d{2})-(?P<d>\d{2})(?:[T ](?P<hh>\d{2}):(?P<mm>\d{2}))?"
)
# "06.05.2018", "8.5.12", "2024/01/26": day.month.year with dots (never month first; a
# two-digit year is this century's), or year/month/day.
_NUMERIC_DATE = re.compile(
    r"\b(?:(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>(?:19|20)\d{2}|\d{2}(?!\d))"
    r"|(?P<ry>(?:19|20)\d{2})/(?P<rm>\d{1,2})/(?P<rd>\d{1,2}))\b"
    r"(?:\s*[-–,|@]?\s*(?P<hh>\d{1,2}):(?P<mm>\d{2}))?"
)
# "BAGHDAD, Feb. 14, 2026 (Reuters) -" / "Erbil, 5 January 2020:" — a place, then the date;
# "By Jane Arraf, 5 January 2020" / "von Klaus Beispiel, 8.5.12" — a byline, then the date.
_DATELINE = re.compile(
    r"^\s*(?:[\u0600-\u06FF][\u0600-\u06FF ]{1,30}?،\s+|"
    r"(?:(?:[Bb]y|[Vv]on|[Pp]ar|[Pp]or|[Dd]i)\s+)?[A-Z][\w'’.\- ]{1,40}?,\s+)(?=\S)"
)
_PUBLISHED_LINE = re.compile(
    r"^\s*(?:published|posted|first published|date|datum|veröffentlicht(?: am)?|publié le"
    r"|publicado|pubblicato)(?:\s+on)?\s*[:\-–]?\s*",
    re.I,
)
_TEXT_LINES = 4
# "3 hours ago", "Published 2 days ago", "Yesterday 10:32", "today at 9:15".
_RELATIVE = re.compile(
    r"^\s*(?:(?:published|posted)\s*:?\s*)?"
    r"(?:(?P<n>\d{1,2}|an?|one)\s+(?P<unit>min(?:ute)?s?|hours?|hrs?|days?)\s+ago"
    r"|(?P<word>today|yesterday)(?:\s*,?\s*(?:at\s+)?(?P<hh>\d{1,2}):(?P<mm>\d{2}))?)"
    r"\s*\.?\s*$",
    re.I,
)
_RELATIVE_DAYS = 6  # "a week ago" and more is not a day

_URL_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<sep>[/_.-]?)(?P<m>0[1-9]|1[0-2])(?P=sep)"
    r"(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"
)
# WordPress-style folders without zero padding: /2017/7/12/.
_URL_FOLDERS = re.compile(
    r"/(?P<y>(?:19|20)\d{2})/(?P<m>1[0-2]|0?[1-9])/(?P<d>3[01]|[12]\d|0?[1-9])/"
)


@dataclass(frozen=True)
class Dated:
    """A publication date and the evidence for it.

    `at` is naive UTC, as stored; `day` is the day as the evidence wrote it (a page in Baghdad
    that says 01:00+03:00 on the 26th was published on the 26th, 22:00 UTC on the 25th).
    """

    at: datetime
    day: date
    evidence: DateEvidence


def naive_utc(value: datetime) -> datetime:
    """A datetime as naive UTC, the form every TIMESTAMP column stores."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def parse_day(value: str | None) -> tuple[datetime, date] | None:
    """(naive UTC, the day as written) of a full date, ISO 8601 or with a month name."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d{4}(-\d{2})?", text):
        return None  # a year or a month alone is not a day
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    # "2019-06-17T18:28:00+0200": fromisoformat wants the offset's colon before Python 3.11.
    iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
    try:
        parsed = datetime.fromisoformat(iso)
        return naive_utc(parsed), parsed.date()
    except ValueError:
        pass
    match = _ISO_DATE.search(text) or _FULL_DATE.search(text)
    found = _from_match(match) if match else None
    return (found, found.date()) if found else None


def parse_date(value: str | None) -> datetime | None:
    """A full date (ISO 8601, or written out with a month name) as naive UTC; else None."""
    parsed = parse_day(value)
    return parsed[0] if parsed else None


def _from_match(match: re.Match[str]) -> datetime | None:
    groups = match.groupdict()
    if groups.get("ry") is not None:
        groups = {**groups, "y": groups["ry"], "m": groups["rm"], "d": groups["rd"]}
    if len(groups.get("y") or "") == 2:
        groups = {**groups, "y": f"20{groups['y']}"}
    try:
        if groups.get("m") is not None:
            month = int(groups["m"])
            day = int(groups["d"])
        elif groups.get("am") is not None:
            month = _AR_MONTHS[groups["am"]]
            day = int(groups["d1"])
        else:
            month = _MONTHS[(groups.get("m1") or groups.get("m2") or "").lower()]
            day = int(groups.get("d1") or groups.get("d2") or 0)
        hour = int(groups.get("hh") or 0)
        if groups.get("pm") and hour < 12:
            hour += 12
        return datetime(int(groups["y"]), month, day, hour, int(groups.get("mm") or 0))
    except (ValueError, KeyError):
        return None


def plausible(value: datetime | None, now: datetime) -> datetime | None:
    """The date, unless it lies in the future or before the web's news archives."""
    if value is None or value > now + timedelta(days=1) or value < EARLIEST:
        return None
    return value


def dated(value: str | None, evidence: DateEvidence, now: datetime) -> Dated | None:
    """The evidence of a full, plausible date in `value`, or None."""
    parsed = parse_day(value)
    if parsed is None or plausible(parsed[0], now) is None:
        return None
    return Dated(parsed[0], parsed[1], evidence)


def written_out(day: date, text: str) -> bool:
    """Whether a text writes this day out in full: ISO, day.month.year, or with a month name."""
    forms = (
        day.isoformat(),
        f"{day.day:02d}.{day.month:02d}.{day.year}",
        f"{day.day}.{day.month}.{day.year}",
        f"{day.year}/{day.month:02d}/{day.day:02d}",
    )
    if any(form in text for form in forms):
        return True
    for match in _FULL_DATE.finditer(text):
        found = _from_match(match)
        if found is not None and found.date() == day:
            return True
    return False


def written_anywhere(day: date, markup: str) -> bool:
    """Whether a page's HTML or text writes this day out, in any common form or language: as
    numbers (2017-01-12, 20170112, 12.01.2017, 1/12/17), or with a month name next to the day
    and the year ("12 January 2017", "12. Januar 2017", "janvier 12, 2017")."""
    y, m, d = day.year, day.month, day.day
    years = rf"(?:{y}|{y % 100:02d})"
    word = r"[^\W\d_]{3,}\.?"
    forms = (
        rf"{y}[-/.]0?{m}[-/.]0?{d}(?!\d)",
        rf"(?<!\d){y}{m:02d}{d:02d}(?!\d)",
        rf"(?<!\d)0?{d}[./-]0?{m}[./-]{years}(?!\d)",
        rf"(?<!\d)0?{m}/0?{d}/{years}(?!\d)",
        rf"(?<!\d)0?{d}(?:st|nd|rd|th|er|\.)?\s+{word},?\s+{y}(?!\d)",
        rf"{word}\s+0?{d}(?:st|nd|rd|th)?,?\s+{y}(?!\d)",
    )
    # Every form holds the year, or two digits of it after a separator: search only around
    # those (a page's HTML runs to 200 KB, and the month-name forms are slow over all of it).
    spans: list[str] = []
    for needle in (str(y), f".{y % 100:02d}", f"/{y % 100:02d}", f"-{y % 100:02d}"):
        at = markup.find(needle)
        while at >= 0 and len(spans) < _WINDOWS:
            spans.append(markup[max(0, at - 40) : at + 24])
            at = markup.find(needle, at + 1)
    near = "\n".join(spans)
    return any(re.search(form, near) for form in forms)


_WINDOWS = 400


# -- the URL and the text -------------------------------------------------------------------------


def url_date(url: str) -> datetime | None:
    """A full publication date written in the URL's path, or None (a year/month alone is not)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    path = "/" + path.split("://", 1)[-1].partition("/")[2]
    match = _URL_DATE.search(path) or _URL_FOLDERS.search(path)
    if match is None:
        return None
    try:
        return datetime(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def date_line(line: str) -> datetime | None:
    """The date when a line is nothing but a date ("Monday 18 March 2024 - 21:00", "2020-01-05")."""
    text = line.strip().translate(_DIGITS)
    match = (
        _FULL_DATE.match(text)
        or _ISO_DATE.match(text)
        or _NUMERIC_DATE.match(text)
        or _ARABIC_DATE.match(text)
    )
    if match is None:
        return None
    rest = text[match.end() :].strip(" .,|-–،")
    if rest and not _ZONE_WORDS.match(rest):
        return None
    return _from_match(match)


_AR_RELATIVE = re.compile(r"^\s*منذ\s+(?P<n>\d{1,2}\s+)?(?P<unit>\S+)\s*$")
_AR_UNITS = {
    "دقيقة": ("minutes", 1),
    "دقائق": ("minutes", 1),
    "دقيقتين": ("minutes", 2),
    "ساعة": ("hours", 1),
    "ساعات": ("hours", 1),
    "ساعتين": ("hours", 2),
    "يوم": ("days", 1),
    "أيام": ("days", 1),
    "ايام": ("days", 1),
    "يومين": ("days", 2),
}


def _in_english(line: str) -> str:
    """An Arabic relative date ("منذ 6 ساعات", "أمس") in the English `_RELATIVE` reads."""
    words = {"أمس": "yesterday", "امس": "yesterday", "اليوم": "today"}
    if line.strip() in words:
        return words[line.strip()]
    match = _AR_RELATIVE.match(line)
    if match is None or match["unit"] not in _AR_UNITS:
        return line
    unit, dual = _AR_UNITS[match["unit"]]
    return f"{int(match['n']) if match['n'] else dual} {unit} ago"


def relative_date(line: str, anchor: datetime) -> datetime | None:
    """A line that is only "3 hours ago" / "yesterday" (or "منذ 3 ساعات" / "أمس"), as a time
    before `anchor`; else None."""
    match = _RELATIVE.match(_in_english(line.translate(_DIGITS)))
    if match is None:
        return None
    if match["word"]:
        back = timedelta(days=1 if match["word"].lower() == "yesterday" else 0)
        day = (anchor - back).replace(hour=0, minute=0, second=0, microsecond=0)
        if match["hh"]:
            return day.replace(hour=int(match["hh"]) % 24, minute=int(match["mm"]) % 60)
        return day
    count = 1 if match["n"].lower() in ("a", "an", "one") else int(match["n"])
    unit = match["unit"].lower()
    if unit.startswith("d"):
        if count > _RELATIVE_DAYS:
            return None
        return (anchor - timedelta(days=count)).replace(hour=0, minute=0, second=0, microsecond=0)
    return anchor - (timedelta(minutes=count) if unit.startswith("m") else timedelta(hours=count))


def text_dated(text: str, anchor: datetime | None = None) -> Dated | None:
    """A full date at the top of a text (a dateline, a date line, a "Published ..." or "date
    ..." line), or with an anchor (the fetch time) a relative one ("2 hours ago").

    A date elsewhere in the lead is not taken: measured on the labelled folder, six of the seven
    such dates were photo captions of file pictures ("... in Baghdad, March 7, 2023") or
    background ("the term began on January 9, 2022"), months or years before the report.
    """
    lines = [ln.strip().translate(_DIGITS) for ln in text.split("\n") if ln.strip()]
    for line in lines[:_TEXT_LINES]:
        found = date_line(line)
        if found is None:
            head = _DATELINE.match(line) or _PUBLISHED_LINE.match(line)
            rest = line[head.end() :] if head else ""
            labelled = head is not None and head.re is _PUBLISHED_LINE
            match = (
                _FULL_DATE.match(rest)
                or _NUMERIC_DATE.match(rest)
                or _ARABIC_DATE.match(rest)
                or (_ISO_DATE.match(rest) if labelled else None)
            )
            found = _from_match(match) if match else None
        if found is None and _ARABIC_LETTER.search(line):
            found = _arabic_line_date(line)
        if found is not None:
            return Dated(found, found.date(), "dateline")
        if anchor is not None:
            relative = relative_date(line, anchor)
            if relative is not None:
                return Dated(relative, relative.date(), "relative")
    return None


_ARABIC_LETTER = re.compile(r"[\u0600-\u06ff]")
_HEAD_END = "-–—،,:|("


def _arabic_line_date(line: str) -> datetime | None:
    """A full date heading an Arabic line, in any of the calendars and month names
    `arabic.find_dates` reads (Levantine, Egyptian and Maghrebi months, Hijri dates): the date
    opens the line, or follows a one- or two-word head set off by punctuation ("بغداد - ")
    or a weekday. A date inside a sentence is background, as in English."""
    from monitor.arabic import find_dates

    for span in find_dates(line)[:1]:
        head = line[: span.start].strip()
        words = head.split()
        if (
            not head
            or (len(words) <= 2 and head[-1] in _HEAD_END)
            or (len(words) == 1 and words[0] in _AR_WEEKDAY_WORDS)
        ):
            return datetime(span.day.year, span.day.month, span.day.day)
    return None


_AR_WEEKDAY_WORDS = frozenset(
    ["الأحد", "الاثنين", "الإثنين", "الثلاثاء", "الأربعاء", "الاربعاء", "الخميس", "الجمعة", "السبت"]
)


def text_date(text: str) -> datetime | None:
    """A full date at the top of a text (`text_dated` without relative dates), or None."""
    found = text_dated(text)
    return found.at if found else None


# -- what sources say ----------------------------------------------------------------------------

_STAMPED = 3  # items of one document sharing one time, from which on it is the document's


def without_generation_stamp(links: list[Link]) -> list[Link]:
    """The links, without their dates when every one of them carries the very same time.

    Some feeds and sitemaps stamp every item with the moment the document was made: that
    says nothing of when each article was published, and would give old articles today's date.
    """
    stamps = {link.published_at for link in links}
    if len(links) < _STAMPED or len(stamps) != 1 or None in stamps:
        return links
    log.info("%d links share one date, %s: taken as the document's, not theirs", len(links), stamps)
    return [replace(link, published_at=None) for link in links]


# -- the choice -----------------------------------------------------------------------------------

Search = Callable[[bool], "Dated | None"]
Choice = tuple[datetime | None, DateSource, DateEvidence | None]


def _same_day_time(day: Dated, feed: datetime | None) -> datetime:
    """The date, with the feed's time of day when the feed gives the same day and `day` none."""
    if feed is not None and feed.date() == day.day and day.at.time() == datetime.min.time():
        return feed
    return day.at


def choose_date(
    page: Dated | None,
    feed: datetime | None,
    url: str,
    text: str,
    now: datetime,
    *,
    fetched_at: datetime | None = None,
    search: Search | None = None,
) -> Choice:
    """Publication date, its date_source and its date_evidence (docs/dates.md has the order).

    `search(extensive)` is htmldate's search of the page, called only when nothing surer holds.
    """
    feed = plausible(feed, now)
    if page is not None and plausible(page.at, now) is None:
        page = None
    at_url = plausible(url_date(url), now)
    if page is not None:
        if at_url is not None and at_url.date() != page.day:
            # The URL is fixed when an article first goes up; a "published" mark that
            # disagrees is as often the last edit (htmldate trusts the URL first too).
            return _same_day_time(Dated(at_url, at_url.date(), "url"), feed), "url", "url"
        return _same_day_time(page, feed), "metadata", page.evidence
    if at_url is not None:
        if feed is not None and feed.date() == at_url.date():
            return feed, "feed", "feed"
        return at_url, "url", "url"
    own = plausible_dated(text_dated(text, fetched_at), now)
    if own is None and search is not None:
        own = search(feed is None)
    if feed is not None:
        # Feeds re-date what they re-publish (and some stamp every item with the day they
        # were made): the page's own earlier date wins; never its extensive search's.
        if own is not None and own.evidence != "page-text" and own.day < feed.date() - _ONE_DAY:
            return own.at, "text", own.evidence
        return feed, "feed", "feed"
    if own is not None:
        return own.at, "text", own.evidence
    return None, "unknown", None


_ONE_DAY = timedelta(days=1)


def plausible_dated(found: Dated | None, now: datetime) -> Dated | None:
    """The evidence, unless its date lies in the future or before the web's news archives."""
    return found if found is not None and plausible(found.at, now) is not None else None


EVIDENCE_SOURCE: dict[str, DateSource] = {
    "meta": "metadata",
    "json-ld": "metadata",
    "microdata": "metadata",
    "time": "metadata",
    "url": "url",
    "feed": "feed",
    "dateline": "text",
    "relative": "text",
    "page": "text",
    "page-text": "text",
    "copy": "story",
}
