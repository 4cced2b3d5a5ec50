"""Publication dates, in order of trust, and never a day that is not written down.

    metadata  the page's structured metadata: meta tags, JSON-LD, <time datetime> marked as the
              publication time (published, never modified)
    feed      the date the feed, sitemap or news API gave for the link
    url       a full date written in the URL (/2024/01/26/, 20240126, 2024-01-26)
    text      a full date written at the top of the text: a dateline ("BAGHDAD, Feb. 14, 2026"),
              a line that is only a date ("January 5, 2020"), or a "Published ..." line
    unknown   none of these

Only a full date (day, month and year) counts: a year or a month alone is never stored as a day,
and a January 1 date is kept only where the page spells that day out. When the page's metadata
and the feed disagree, the page wins: it is the publisher's own statement about that article,
while feeds re-date items they re-publish. A feed time on the same day is kept for its time of
day (feeds give hours, meta tags often only a date).

htmldate is not used for the page's own date: with no published date in the header it falls back
to modified dates and copyright years (turned into January 1), and its fast mode still reads dates
out of element text. The three structured places are read here, with lxml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.models import DateSource

EARLIEST = datetime(1995, 1, 1)

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
_MONTH = r"(?P<{g}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
# "5 January 2020", "January 5, 2020", "Jan. 5 2020", "Monday 18 March 2024 - 21:00".
_FULL_DATE = re.compile(
    rf"\b{_WEEKDAY}(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH.format(g='m1')}"
    rf"|{_MONTH.format(g='m2')}\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?,?)"
    rf",?\s+(?P<y>(?:19|20)\d{{2}})\b"
    r"(?:\s*[-–,|@]?\s*(?P<hh>\d{1,2}):(?P<mm>\d{2}))?",
    re.I,
)
_ISO_DATE = re.compile(
    r"\b(?P<y>(?:19|20)\d{2})-(?P<m>\d{2})-(?P<d>\d{2})(?:[T ](?P<hh>\d{2}):(?P<mm>\d{2}))?"
)
# "BAGHDAD, Feb. 14, 2026 (Reuters) -" / "Erbil, 5 January 2020:" — a place, then the date.
_DATELINE = re.compile(r"^\s*[A-Z][\w'’.\- ]{1,40}?,\s+(?=\S)")
_PUBLISHED_LINE = re.compile(
    r"^\s*(?:published|posted|updated|first published|date)(?:\s+on)?\s*[:\-–]?\s*", re.I
)
_TEXT_LINES = 4

_URL_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})(?P<sep>[/_.-]?)(?P<m>0[1-9]|1[0-2])(?P=sep)"
    r"(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"
)

_PUBLISHED_META = frozenset(
    {
        "article:published_time",
        "article:published",
        "og:published_time",
        "og:article:published_time",
        "article.published",
        "datepublished",
        "date_published",
        "publishdate",
        "publish_date",
        "publish-date",
        "published_time",
        "published-date",
        "publication_date",
        "pubdate",
        "date",
        "dc.date",
        "dc.date.issued",
        "dc.date.created",
        "dcterms.date",
        "dcterms.issued",
        "dcterms.created",
        "sailthru.date",
        "parsely-pub-date",
        "article_date_original",
        "original-publish-date",
        "cxenseparse:recs:publishtime",
        "ga-publish-datetime",
        "dc.date.published",
    }
)
_PUBLISHED_CLASSES = ("published", "entry-date", "publish-date", "pubdate", "date-published")


def naive_utc(value: datetime) -> datetime:
    """A datetime as naive UTC, the form every TIMESTAMP column stores."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def parse_date(value: str | None) -> datetime | None:
    """A full date (ISO 8601, or written out with a month name) as naive UTC; else None."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d{4}(-\d{2})?", text):
        return None  # a year or a month alone is not a day
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        return naive_utc(datetime.fromisoformat(iso))
    except ValueError:
        pass
    match = _ISO_DATE.search(text) or _FULL_DATE.search(text)
    return _from_match(match) if match else None


def _from_match(match: re.Match[str]) -> datetime | None:
    groups = match.groupdict()
    try:
        if groups.get("m") is not None:
            month = int(groups["m"])
            day = int(groups["d"])
        else:
            month = _MONTHS[(groups.get("m1") or groups.get("m2") or "").lower()]
            day = int(groups.get("d1") or groups.get("d2") or 0)
        return datetime(
            int(groups["y"]), month, day, int(groups.get("hh") or 0), int(groups.get("mm") or 0)
        )
    except (ValueError, KeyError):
        return None


def plausible(value: datetime | None, now: datetime) -> datetime | None:
    """The date, unless it lies in the future or before the web's news archives."""
    if value is None or value > now + timedelta(days=1) or value < EARLIEST:
        return None
    return value


# -- the page's own metadata ----------------------------------------------------------------------


def _json_dates(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datePublished" and isinstance(value, str):
                yield value
            elif isinstance(value, dict | list):
                yield from _json_dates(value)
    elif isinstance(node, list):
        for item in node:
            yield from _json_dates(item)


def _candidates(tree: Any) -> Iterator[str]:
    for meta in tree.iterfind(".//meta"):
        key = (
            (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        )
        if key in _PUBLISHED_META:
            yield meta.get("content") or meta.get("datetime") or ""
    for script in tree.iterfind(".//script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            yield from _json_dates(json.loads(script.text))
        except ValueError:
            continue
    for elem in tree.xpath(".//*[@itemprop='datePublished']"):
        yield elem.get("datetime") or elem.get("content") or ""
    for elem in tree.iterfind(".//time"):
        classes = (elem.get("class") or "").lower()
        if elem.get("pubdate") is not None or any(c in classes for c in _PUBLISHED_CLASSES):
            yield elem.get("datetime") or ""


def _visible_text(tree: Any) -> str:
    return " ".join(tree.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"))


def _spelled_out(day: datetime, text: str) -> bool:
    """Whether a text writes this day out in full (guards January 1 against year-only dates)."""
    if day.strftime("%Y-%m-%d") in text:
        return True
    for match in _FULL_DATE.finditer(text):
        found = _from_match(match)
        if found is not None and found.date() == day.date():
            return True
    return False


def metadata_date(tree: Any, now: datetime) -> datetime | None:
    """The publication date the page's structured metadata gives, or None."""
    for raw in _candidates(tree):
        found = plausible(parse_date(raw), now)
        if found is None:
            continue
        if (found.month, found.day) == (1, 1) and not _spelled_out(found, _visible_text(tree)):
            continue  # a year-only date dressed up as January 1, until the page says otherwise
        return found
    return None


# -- the URL and the text -------------------------------------------------------------------------


def url_date(url: str) -> datetime | None:
    """A full publication date written in the URL's path, or None (a year/month alone is not)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    path = path.split("://", 1)[-1].partition("/")[2]
    match = _URL_DATE.search(path)
    if match is None:
        return None
    try:
        return datetime(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def date_line(line: str) -> datetime | None:
    """The date when a line is nothing but a date ("Monday 18 March 2024 - 21:00", "2020-01-05")."""
    text = line.strip()
    match = _FULL_DATE.match(text) or _ISO_DATE.match(text)
    if match is None:
        return None
    rest = text[match.end() :].strip(" .,|-–")
    if rest and rest.upper() not in ("GMT", "UTC", "ET", "EST", "EDT", "BST", "CET", "AST"):
        return None
    return _from_match(match)


def text_date(text: str) -> datetime | None:
    """A full date at the top of a text: a dateline, a date line or a "Published ..." line.

    A date elsewhere in the lead is not taken: measured on the labelled folder, six of the seven
    such dates were photo captions of file pictures ("... in Baghdad, March 7, 2023") or
    background ("the term began on January 9, 2022"), months or years before the report.
    """
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()][:_TEXT_LINES]
    for line in lines:
        found = date_line(line)
        if found is None:
            head = _DATELINE.match(line) or _PUBLISHED_LINE.match(line)
            match = _FULL_DATE.match(line[head.end() :]) if head else None
            found = _from_match(match) if match else None
        if found is not None:
            return found
    return None


def choose_date(
    page: datetime | None,
    feed: datetime | None,
    url: str,
    text: str,
    now: datetime,
) -> tuple[datetime | None, DateSource]:
    """Publication date and where it came from, first that applies (module docstring)."""
    feed = plausible(feed, now)
    page = plausible(page, now)
    if page is not None:
        if feed is not None and feed.date() == page.date() and page.time() == datetime.min.time():
            return feed, "metadata"  # the same day: the feed's time of day is more precise
        return page, "metadata"
    if feed is not None:
        return feed, "feed"
    from_url = plausible(url_date(url), now)
    if from_url is not None:
        return from_url, "url"
    from_text = plausible(text_date(text), now)
    if from_text is not None:
        return from_text, "text"
    return None, "unknown"
