"""Dates a page's own markup gives: meta tags, JSON-LD, microdata, `<time>`; and htmldate's
search of the rest of the page, for pages whose markup, URL and text top say nothing.

Provenance (`date_evidence`) and the order of trust are in monitor/dates.py and docs/dates.md.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from monitor.dates import EARLIEST, Dated, dated, parse_day, written_anywhere, written_out
from monitor.models import DateEvidence

log = logging.getLogger(__name__)

_ANY_DAY = datetime(9999, 1, 1)  # the "now" that lets an update statement name any day

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
        "dc.date.issued",
        "dc.date.created",
        "dcterms.issued",
        "dcterms.created",
        "parsely-pub-date",
        "article_date_original",
        "original-publish-date",
        "cxenseparse:recs:publishtime",
        "ga-publish-datetime",
        "dc.date.published",
    }
)
# Tags that say "a date" without saying which: read after JSON-LD and microdata, since sites
# fill them with the last update as often as with the first publication.
_GENERIC_META = frozenset({"date", "dc.date", "dcterms.date", "sailthru.date"})
_PUBLISHED_CLASSES = ("published", "entry-date", "publish-date", "pubdate", "date-published")
_MODIFIED = re.compile(r"modif|updat|last-mod|revis|edited", re.I)
# Where a <time> is some other item's date: lists (teasers, archives, comment threads), links
# to other pages, quoted or embedded posts, comments, sidebars, navigation, footers,
# related-article blocks.
_ELSEWHERE_TAGS = frozenset({"li", "a", "blockquote", "nav", "aside", "footer"})
_ELSEWHERE_CLASS = re.compile(
    r"comment|related|sidebar|widget|teaser|recommend|promo|footer|\bnav|menu|more-|popular",
    re.I,
)


@dataclass(frozen=True)
class PageDates:
    """What a page's own markup says of its dates."""

    published: Dated | None
    tree: Any = field(repr=False)

    @cached_property
    def modified(self) -> frozenset[date]:
        """Days marked or stated as modified or updated ("Last updated on ...") and never marked
        as published: no publication day."""
        updates = {found.day for found in _statements(self.tree, _UPDATED, _ANY_DAY)}
        return (_marked_days(self.tree, True) | updates) - _marked_days(self.tree, False)

    @cached_property
    def written(self) -> str:
        """The page's visible text, where a first of the month must be written out (read only
        when a date needs the check: it costs more than all the rest of this module)."""
        return visible_text(self.tree)


# -- the page's own markup ------------------------------------------------------------------------


def _json_dates(node: Any, key: str) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str):
                yield value
            elif isinstance(value, dict | list):
                yield from _json_dates(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _json_dates(item, key)


def _json_ld(tree: Any) -> Iterator[Any]:
    for script in tree.iterfind(".//script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            yield json.loads(script.text)
        except ValueError:
            continue


def _meta_key(meta: Any) -> str:
    return (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()


def _path(url: str) -> str:
    return urlsplit(url.strip()).path.rstrip("/")


def _own_paths(tree: Any, url: str | None) -> frozenset[str]:
    """The paths under which the page names itself: its URL, canonical link and og:url."""
    urls = [url or ""]
    urls += tree.xpath(".//link[@rel='canonical']/@href | .//meta[@property='og:url']/@content")
    return frozenset(p for p in (_path(str(u)) for u in urls) if p)


def _elsewhere(elem: Any, own: frozenset[str] = frozenset()) -> bool:
    """Whether an element sits in a list, comment, sidebar or other item's block, or in a link
    to another page (a link to the page itself, a permalink, is the article's own)."""
    for parent in elem.iterancestors():
        tag = parent.tag if isinstance(parent.tag, str) else ""
        if tag == "a" and (
            "bookmark" in (parent.get("rel") or "").split()
            or _path(parent.get("href") or "#") in own
        ):
            continue
        if tag in _ELSEWHERE_TAGS:
            return True
        marks = f"{parent.get('class') or ''} {parent.get('id') or ''}"
        if marks.strip() and _ELSEWHERE_CLASS.search(marks):
            return True
    return False


_CLOCK = re.compile(r"\d{1,2}\s*[:h]\s*\d{2}")


def _shows_day(day: date, shown: str) -> bool:
    """Whether a <time>'s visible text agrees with its datetime: no other year, and its day
    among the numbers it shows ("Published 29 June 2019" over datetime 2019-07-03 does not)."""
    numbers = [int(n) for n in re.findall(r"\d+", _CLOCK.sub(" ", shown))]
    years = [n for n in numbers if n >= 1000]
    days = [n for n in numbers if n < 100]
    if any(y != day.year for y in years):
        return False
    return not days or day.day in days


def _time_elements(tree: Any, now: datetime, own: frozenset[str]) -> Iterator[Dated]:
    """Publication times from <time>: marked ones first, then the first bare one."""
    marked: list[Dated] = []
    bare: list[Dated] = []
    for elem in tree.iterfind(".//time"):
        classes = (elem.get("class") or "").lower()
        prop = (elem.get("itemprop") or "").lower()
        if _MODIFIED.search(classes) or _MODIFIED.search(prop) or _elsewhere(elem, own):
            continue
        shown = elem.text_content()
        found = dated(elem.get("datetime") or shown, "time", now)
        if found is None or not _shows_day(found.day, shown):
            continue
        is_marked = (
            elem.get("pubdate") is not None
            or prop == "datepublished"
            or any(c in classes for c in _PUBLISHED_CLASSES)
        )
        (marked if is_marked else bare).append(found)
    yield from marked[:1]
    yield from bare[:1]


def _metas(tree: Any, keys: frozenset[str], now: datetime) -> Iterator[Dated]:
    for meta in tree.iterfind(".//meta"):
        if _meta_key(meta) in keys:
            found = dated(meta.get("content") or meta.get("datetime"), "meta", now)
            if found is not None:
                yield found


def _candidates(tree: Any, now: datetime, own: frozenset[str]) -> Iterator[Dated]:
    """Publication dates the markup gives, surest first."""
    yield from _metas(tree, _PUBLISHED_META, now)
    for doc in _json_ld(tree):
        for raw in _json_dates(doc, "datePublished"):
            found = dated(raw, "json-ld", now)
            if found is not None:
                yield found
    for elem in tree.xpath(".//*[@itemprop='datePublished'][not(self::meta)][not(self::time)]"):
        if not _elsewhere(elem, own):
            raw = elem.get("datetime") or elem.get("content") or elem.text_content()
            found = dated(raw, "microdata", now)
            if found is not None:
                yield found
    yield from _metas(tree, _GENERIC_META, now)
    yield from _time_elements(tree, now, own)


def _marked_days(tree: Any, modified: bool) -> frozenset[date]:
    """Days the page marks as modified (or, with `modified` False, as published), wherever
    the mark stands."""
    raws: list[str] = []
    for meta in tree.iterfind(".//meta"):
        key = _meta_key(meta) or (meta.get("http-equiv") or "").lower()
        if bool(_MODIFIED.search(key)) if modified else key in _PUBLISHED_META:
            raws.append(meta.get("content") or "")
    for doc in _json_ld(tree):
        raws.extend(_json_dates(doc, "dateModified" if modified else "datePublished"))
    prop = "dateModified" if modified else "datePublished"
    for elem in tree.xpath(f".//*[@itemprop='{prop}']"):
        raws.append(elem.get("datetime") or elem.get("content") or "")
    for elem in tree.iterfind(".//time"):
        marks = f"{elem.get('class') or ''} {elem.get('itemprop') or ''}".lower()
        published = elem.get("pubdate") is not None or any(c in marks for c in _PUBLISHED_CLASSES)
        if bool(_MODIFIED.search(marks)) if modified else published:
            raws.append(elem.get("datetime") or elem.text_content())
    days = (parse_day(raw) for raw in raws)
    return frozenset(found[1] for found in days if found is not None)


def visible_text(tree: Any) -> str:
    """The text of the page's body, without scripts and styles."""
    return " ".join(tree.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"))


def page_dates(tree: Any, now: datetime, url: str | None = None) -> PageDates:
    """The publication date the page's markup gives (first that holds), and its modified days."""
    written: list[str] = []
    published = None
    for found in _candidates(tree, now, _own_paths(tree, url)):
        if found.day.day == 1 and found.day.month == 1:
            written = written or [visible_text(tree)]
            if not written_out(found.day, written[0]):
                continue  # a year-only date dressed up as January 1, until the page says otherwise
        published = found
        break
    return PageDates(published, tree)


def metadata_date(tree: Any, now: datetime) -> datetime | None:
    """The publication date the page's structured metadata gives, or None."""
    found = page_dates(tree, now).published
    return found.at if found else None


# -- htmldate's search of the rest of the page ----------------------------------------------------


def _without_text(tree: Any, text: str) -> Any:
    """A copy of the page without the blocks of the article's own text.

    A date in the article's text is as often the date of something it reports (a vote last
    year, a file photo) as its own; around the text (a byline box, an archive stamp) it is the
    page's.
    """
    copy = deepcopy(tree)
    flat = " ".join(text.split())
    blocks = "title|h1|h2|h3|h4|h5|h6|p|li|blockquote|td|dd|dt|figcaption|pre"
    for elem in copy.xpath(" | ".join(f".//{tag}" for tag in blocks.split("|"))):
        own = " ".join(elem.text_content().split())
        if own and own in flat and elem.getparent() is not None:
            elem.drop_tree()
    return copy


# "This entry was posted on Saturday, December 3rd, 2011", "Dieser Beitrag wurde am Samstag,
# 3. Dezember 2011 veröffentlicht", "Publié le 29 juin 2019".
_STATEMENT = re.compile(
    r"\b(?:published|posted|veröffentlicht|erschienen|publié|publicado|pubblicato)\b|نشر", re.I
)
_STATEMENT_CHARS = 600  # a block longer than this is text, not a statement
_STATEMENT_REACH = 120  # characters either side of the verb where its date stands


_UPDATED = re.compile(
    r"\b(?:updated|modified|revised|aktualisiert|geändert|mis à jour|actualizado|aggiornato)\b"
    r"|آخر تحديث|تحديث",
    re.I,
)


def _statements(tree: Any, verbs: re.Pattern[str], now: datetime) -> Iterator[Dated]:
    """Dates that stand near one of `verbs` in the page's short blocks of text."""
    for elem in tree.iter("p", "small", "span", "div", "footer", "li", "dd", "time"):
        own = " ".join(elem.text_content().split())
        if len(own) > _STATEMENT_CHARS:
            continue
        for verb in verbs.finditer(own):
            near = own[max(0, verb.start() - _STATEMENT_REACH) : verb.end() + _STATEMENT_REACH]
            if verbs is _STATEMENT and _UPDATED.search(near):
                continue  # "published on ..., updated on ...": which is which is unclear
            found = dated(near, "page-text", now)
            if found is not None:
                yield found


def statement_date(rest: Any, now: datetime) -> Dated | None:
    """A date in a short publication statement around the article ("This entry was posted
    on ..."), in `rest`, the page without the article's text; never an update's."""
    return next(_statements(rest, _STATEMENT, now), None)


def search_page(
    tree: Any, text: str, page: PageDates, now: datetime, *, extensive: bool
) -> Dated | None:
    """htmldate's search of the page's date elements; with `extensive`, then in the page
    without the article's own text, a publication statement, else htmldate's text search.
    Never a modified day or an unwritten first."""
    from htmldate import find_date  # imported here: most pages never need it
    from lxml.html import tostring  # type: ignore[import-untyped]

    markup: list[str] = []

    def checked(raw: str | None, evidence: DateEvidence) -> Dated | None:
        found = dated(raw, evidence, now)
        if found is None or found.day in page.modified:
            return None
        if found.day.day == 1:
            # A year or a month alone, dressed up as its first day (in a meta tag too): the
            # page's visible text must write that day out.
            return found if written_anywhere(found.day, page.written) else None
        if not markup:
            markup.append(f"{tostring(tree, encoding='unicode')} {page.written}")
        # htmldate fills in what a date lacks ("2014-01" takes today's day of the month): only
        # a day the page writes out somewhere is kept.
        return found if written_anywhere(found.day, markup[0]) else None

    options: dict[str, Any] = {"original_date": True, "min_date": EARLIEST, "max_date": now}
    try:
        found = checked(find_date(tree, extensive_search=False, **options), "page")
        if found is not None or not extensive:
            return found
        rest = _without_text(tree, text)
        stated = statement_date(rest, now)
        if stated is not None and stated.day not in page.modified:
            return stated
        return checked(find_date(rest, extensive_search=True, **options), "page-text")
    except Exception as exc:  # htmldate trips on odd markup; a date is not worth a failure
        log.debug("htmldate failed: %s", exc)
        return None
