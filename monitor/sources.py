"""Discovery: turn what a source answered (feed, news sitemap, GDELT ArtList JSON) into Links.

Every parser takes bytes and returns plain records; fetching is `monitor.fetch`'s job. A document
that cannot be read at all raises `ParseError` with the reason; a merely untidy one (feedparser's
"bozo" with entries) is used as far as it goes.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser
from lxml import etree  # type: ignore[import-untyped]

from monitor.dates import without_generation_stamp
from monitor.errors import ParseError
from monitor.models import Link, SourceKind

log = logging.getLogger(__name__)

GDELT_HOST = "api.gdeltproject.org"


@dataclass(frozen=True)
class SourceParse:
    """What one source document held: article links, and further sitemaps to read (indexes)."""

    links: list[Link]
    children: list[str] = field(default_factory=list)


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _from_struct(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC).replace(tzinfo=None)
    except (OverflowError, ValueError, OSError):
        return None


def parse_iso_date(text: str | None) -> datetime | None:
    """A W3C/ISO 8601 date or datetime (as in sitemaps) as naive UTC, or None."""
    if not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        return _utc_naive(datetime.fromisoformat(value))
    except ValueError:
        return None


def _http_url(url: str | None, base: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    if base:
        with contextlib.suppress(ValueError):
            url = urljoin(base, url)
    # Whatever it is (another scheme, a bad port, an octal host ...), the fetch records why it
    # cannot be fetched: a link is never dropped unsaid.
    return url or None


def parse_feed(data: bytes, source: str, *, base_url: str | None = None) -> list[Link]:
    """Links of an RSS 0.9x/2.0, RSS 1.0 (RDF) or Atom feed; ParseError if it is no feed at all."""
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    if parsed.get("bozo") and not entries:
        reason = parsed.get("bozo_exception") or "no entries"
        raise ParseError(f"not a readable feed: {type(reason).__name__}: {reason}")
    if not entries and not parsed.get("version"):
        raise ParseError("not a feed: no RSS/Atom/RDF document found")
    if parsed.get("bozo"):
        log.info(
            "feed %s is ill-formed (%s); using its %d entries",
            source,
            parsed.get("bozo_exception"),
            len(entries),
        )
    feed_title = (parsed.get("feed") or {}).get("title")
    language = (parsed.get("feed") or {}).get("language")
    links: list[Link] = []
    for entry in entries:
        url = _http_url(entry.get("link"), base_url)
        if url is None:
            continue
        # dict.get: feedparser's own .get maps updated->published with a DeprecationWarning.
        published = _from_struct(dict.get(entry, "published_parsed")) or _from_struct(
            dict.get(entry, "updated_parsed")
        )
        # Google News (and other aggregators) name the originating outlet in <source>.
        origin = entry.get("source") or {}
        outlet = origin.get("title") if isinstance(origin, dict) else None
        links.append(
            Link(
                url=url,
                source=source,
                title=(entry.get("title") or None),
                published_at=published,
                outlet=outlet or None,
                language=language or None,
                # The feed's own title names the outlet only where nothing else does: behind
                # an aggregating feed are many outlets (monitor/titles.py).
                feed_name=feed_title or None,
            )
        )
    return links


_NS_NEWS = "http://www.google.com/schemas/sitemap-news/0.9"


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(node: etree._Element, name: str, ns: str | None = None) -> str | None:
    for child in node:
        if _local(child.tag) == name and (ns is None or etree.QName(child.tag).namespace == ns):
            return (child.text or "").strip() or None
    return None


def parse_sitemap(data: bytes, source: str, *, base_url: str | None = None) -> SourceParse:
    """Links of a (news) sitemap, or the child sitemaps of a sitemap index."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        recover=True,
        remove_comments=True,
    )
    try:
        root = etree.fromstring(data.strip(), parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not a readable sitemap: {exc}") from exc
    if root is None:
        raise ParseError("not a readable sitemap: empty document")
    kind = _local(root.tag)
    if kind == "sitemapindex":
        children = []
        for node in root:
            if _local(node.tag) == "sitemap":
                url = _http_url(_child_text(node, "loc"), base_url)
                if url:
                    children.append(url)
        return SourceParse([], children)
    if kind != "urlset":
        raise ParseError(f"not a sitemap: root element <{kind}>")
    links: list[Link] = []
    for node in root:
        if _local(node.tag) != "url":
            continue
        url = _http_url(_child_text(node, "loc"), base_url)
        if url is None:
            continue
        published = parse_iso_date(_child_text(node, "lastmod"))
        title = outlet = language = None
        for child in node:
            if _local(child.tag) == "news" and etree.QName(child.tag).namespace == _NS_NEWS:
                published = parse_iso_date(_child_text(child, "publication_date")) or published
                title = _child_text(child, "title")
                for pub in child:
                    if _local(pub.tag) == "publication":
                        outlet = _child_text(pub, "name")
                        language = _child_text(pub, "language")
        links.append(Link(url, source, title, published, outlet, language))
    return SourceParse(links)


def parse_gdelt(data: bytes, source: str) -> list[Link]:
    """Links of a GDELT DOC 2.0 `mode=ArtList&format=json` answer."""
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        return []
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        # GDELT answers a bad query with a plain-text sentence rather than JSON.
        raise ParseError(f"GDELT answer is not JSON: {text[:120]!r}") from exc
    if not isinstance(payload, dict):
        raise ParseError("GDELT answer is not a JSON object")
    links: list[Link] = []
    for item in payload.get("articles") or []:
        if not isinstance(item, dict):
            continue
        url = _http_url(item.get("url"), None)
        if url is None:
            continue
        seen = None
        raw = item.get("seendate")
        if isinstance(raw, str):
            try:
                seen = datetime.strptime(raw, "%Y%m%dT%H%M%SZ")
            except ValueError:
                seen = None
        links.append(
            Link(
                url=url,
                source=source,
                title=item.get("title") or None,
                published_at=seen,
                outlet=item.get("domain") or None,
                language=item.get("language") or None,
            )
        )
    return links


def parse_source(kind: SourceKind, data: bytes, source: str, url: str) -> SourceParse:
    """Dispatch on the source kind; a `url` source is its own single link."""
    if kind == "feed":
        return SourceParse(without_generation_stamp(parse_feed(data, source, base_url=url)))
    if kind == "sitemap":
        found = parse_sitemap(data, source, base_url=url)
        return replace(found, links=without_generation_stamp(found.links))
    if kind == "gdelt":
        return SourceParse(parse_gdelt(data, source))
    return SourceParse([Link(url=url, source=source)])
