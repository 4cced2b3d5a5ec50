"""Titles and outlet names: what an article is called, and who published it, the same everywhere.

An article's title, in order of trust (`articles.title_source` says which):

    metadata  the page's own headline (og:title, JSON-LD headline, <title>, else its <h1>)
    feed      the title the feed, sitemap or API gave the link
    text      the text's own headline line (a seed file's first line, when it reads as one)
    lead      none of these: the text's first sentence, cut at a clause or a word boundary

A headline counts only when it is *informative*: the site's name taken off ("Pentagon says ... |
Reuters" -> "Pentagon says ..."), at least MIN_TITLE_WORDS words remain. So a section name
("Iraq", "MENA", "Video"), the site's name, or the site's name with a place ("Shafaq News -
Washington") never titles an article; the next source down does. Only a headline (not a lead)
is handed to the classifier and to story clustering as the article's title.

An outlet's name, in order of trust (`articles.outlet_source`): the page's own name (og:site_name,
JSON-LD publisher, application-name), the name the source gave the item itself (an
aggregator's <source>, GDELT's domain), the page's host; the feed's own title last (an
aggregating feed's title names the feed, not the outlets behind it). A name that is a domain
("www.shafaq.com") is written as a host: lower case, without "www." ("shafaq.com").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

MIN_TITLE_WORDS = 3
MAX_TITLE_WORDS = 25  # longer is a paragraph or a caption, not a headline
MAX_TITLE_CHARS = 120
_MIN_CLAUSE_WORDS = 6
# A lead is looked for in the text's first lines; a line shorter than this must be an
# informative headline to count (else it is a heading, a byline, a caption).
_LEAD_LINES = 5
_SHORT_LINE_WORDS = 12

_DOMAIN = re.compile(
    r"^(?:https?://)?(?:www\.)?((?:[\w-]+\.)+[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?/?$", re.I
)
# "Headline | Site", "Site - Headline", "Headline — Site": separators between a headline and
# the site's name (a hyphen only with spaces around it, so "US-led" stays whole).
_SEPARATOR = re.compile(r"\s+[|\-–—:·•»]+\s+|\s*\|\s*|\s*::?\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?؟])[\"”’)]?\s+(?=[\"“‘(]?[A-Z0-9\u0600-\u06ff])")
_CLAUSE = re.compile(r"\s*(?:[,;:]|\s[–—-])\s")


# Date debris at a headline's head ("date 2020-01-06 Iraq's parliament ...", "Published:
# Saturday, 02 November 2024 | ..."): a run of date words that names a year. Taken off; a
# headline that is nothing else is no headline.
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_WORD = re.compile(
    r"(?:date|dated|published|updated|posted|last|on|at|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|" + _MONTHS + r"|"
    r"\d{1,2}(?:st|nd|rd|th)?|(?:19|20)\d\d|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:t[\d:.+z-]*)?|"
    r"\d{1,2}:\d\d(?::\d\d)?|am|pm|gmt|utc|[+-]\d{2}:?\d{2})[,.:|\-–—]*",
    re.I,
)
_BYLINE = re.compile(r"(?:by|written by|reporting by|words by)\s", re.I)
_CAPTION = re.compile(
    r"^(?:photo|file photo|picture|image)\b\s*[:/-]|"
    r"[(\[](?:ap|afp|reuters|getty images|epa|photo[^)\]]*|file[^)\]]*)[)\]]\.?$",
    re.I,
)
# A wire dateline at a lead's head: "SULAIMANIYA/MOSUL — ", "BAGHDAD, Jan 5 (Reuters) - ".
_DATELINE = re.compile(
    r"^[A-Z][A-Z/ .'’-]{2,40}(?:,\s[^—–\n]{1,30}?)?(?:\s*\([A-Za-z .]+\))?\s*(?:—|–|--|-)\s+"
)
_YEAR = re.compile(r"(?:19|20)\d\d")
# Page chrome that reaches a title when a page's first line is its skip link, a tracker's name,
# the alt text of its icon or the site's own name ("موقع العهد الإخباري", "the Al-Ahd news
# site"): never a headline.
_CHROME = re.compile(
    r"\bskip to (?:the )?(?:main )?(?:content|navigation)\b|\bfb-pixel\b|\bsite icon\b|"
    r"^موقع\s.{1,40}\s(?:الإخباري|الاخباري)$",
    re.I,
)
# A list mark at a title's head ("- Iraq's Joint Operations Command announced Wednesday").
_BULLET = re.compile(r"^[-–—•*·]\s+")
_DATE_LABEL = re.compile(r"(?:date|dated|published|updated|posted|last)\b", re.I)
_CLOCK = re.compile(r"\d{1,2}:\d\d")
_NUMERIC_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def strip_date_debris(title: str) -> str:
    """The headline without a date run at its head (one that names a year)."""
    words = title.split()
    n = 0
    while n < len(words) and _DATE_WORD.fullmatch(words[n]):
        n += 1
    run = words[:n]
    if not run or not any(_YEAR.search(w) for w in run):
        return title
    # Debris, not a headline that opens with its date ("2020 was a year of talks"): labelled
    # ("date", "Published:"), a numeric date, the whole line, or a dateline set off by a mark.
    debris = (
        n == len(words)
        or _DATE_LABEL.match(run[0]) is not None
        or any(_NUMERIC_DATE.match(w) for w in run)
        or any(_CLOCK.match(w) for w in run)
        or (len(run) >= 2 and run[-1][-1] in ":|–—-")
        or (len(run) >= 2 and words[n] in ("|", "–", "—", "-", ":", "·", "•"))
    )
    return " ".join(words[n:]).lstrip(" |–—-:·•»,").strip() if debris else title


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def as_host(name: str) -> str | None:
    """The host form of a name that is a domain or an address ("www.Shafaq.com" -> "shafaq.com",
    "127.0.0.1:8080" -> "127.0.0.1"), else None."""
    match = _DOMAIN.match(name.strip())
    return match.group(1).lower() if match else None


def outlet_name(name: str | None) -> str | None:
    """An outlet's name as shown: trimmed, a domain written as a host."""
    if not name or not name.strip():
        return None
    name = " ".join(name.split())
    return as_host(name) or name


def site_keys(names: Iterable[str | None]) -> set[str]:
    """What a site's names look like in a title: each name, and a host's name part
    ("shafaq.com" -> "shafaq")."""
    keys: set[str] = set()
    for name in names:
        if not name:
            continue
        host = as_host(name)
        if host:
            labels = host.split(".")
            keys.add(_key(labels[-2] if len(labels) >= 2 else host))
        keys.add(_key(name))
    return {k for k in keys if len(k) >= 3}


def _names_site(part: str, keys: set[str]) -> bool:
    key = _key(part)
    if not key:
        return True
    # "Shafaq News" names shafaq.com, "Al Jazeera English" aljazeera.com, "964" 964media.com.
    words = len(part.split())
    return any(
        key == k
        or (key.startswith(k) and words <= 4)
        or (k.startswith(key) and words == 1 and len(key) >= 3)
        for k in keys
    )


def without_head_debris(text: str) -> str:
    """A headline or lead, its whitespace collapsed, without a date run the page printed at its
    head (`strip_date_debris`) or a list mark ("- ")."""
    return _BULLET.sub("", strip_date_debris(" ".join(text.split())))


def clean_title(title: str | None, site_names: Iterable[str | None] = ()) -> str | None:
    """The headline without the site's name around it, if what remains is informative."""
    if not title:
        return None
    title = without_head_debris(title)
    if not title:
        return None
    keys = site_keys(site_names)
    parts = _SEPARATOR.split(title)
    if len(parts) > 1:
        kept = [p for p in parts if not _names_site(p, keys)]
        # Only the ends are the site's: "A | B | Site" keeps "A | B".
        if kept and kept != parts:
            start = title.find(kept[0])
            end = title.rfind(kept[-1]) + len(kept[-1])
            title = title[start:end].strip()
        elif not kept:
            return None
    return title if informative(title, keys) else None


def informative(title: str, keys: Collection[str] = ()) -> bool:
    """Whether a title says something: MIN_TITLE_WORDS to MAX_TITLE_WORDS words, not a site's
    name, not a byline ("By Michael Hernandez") and not a photo's caption ("... (AP)")."""
    words = [w for w in re.split(r"[\s|–—:·•»]+", title) if _key(w)]
    return (
        MIN_TITLE_WORDS <= len(words) <= MAX_TITLE_WORDS
        and _key(title) not in keys
        and not (_BYLINE.match(title) and len(words) <= 6)
        and not _CAPTION.search(title)
        and not _CHROME.search(title)
    )


def lead_title(text: str, site_names: Iterable[str | None] = ()) -> str | None:
    """A title from the text itself: its first sentence (past short lines that say nothing,
    such as "Video" or the site's name), cut to MAX_TITLE_CHARS at a clause boundary (at least
    a few words) or else at a word, with an ellipsis."""
    names = list(site_names)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = next(
        (
            line
            for line in lines[:_LEAD_LINES]
            if len(line.split()) >= _SHORT_LINE_WORDS or clean_title(line, names)
        ),
        lines[0] if lines else "",
    )
    if not first:
        return None
    first = _DATELINE.sub("", without_head_debris(first), count=1)
    sentence = _SENTENCE_END.split(first, maxsplit=1)[0].strip()
    sentence = sentence.rstrip(".").strip()
    if len(sentence) <= MAX_TITLE_CHARS:
        return sentence or None
    cuts = [
        m.start()
        for m in _CLAUSE.finditer(sentence)
        if m.start() <= MAX_TITLE_CHARS and len(sentence[: m.start()].split()) >= _MIN_CLAUSE_WORDS
    ]
    if cuts:
        return sentence[: cuts[-1]].rstrip(" ,;:")
    cut = sentence[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"
