"""Extraction: a fetched Page becomes an Article with trafilatura.

`extract_pages` is pure and picklable, made to be mapped over chunks of pages in worker processes
(extraction is CPU-bound and the GIL serialises it); `monitor.collect` does that with a
`ProcessPoolExecutor`. The publication date is the article's own evidence, chosen in order of
trust with its provenance (`dates.choose_date`, docs/dates.md): the page's markup (meta tags,
JSON-LD, microdata, `<time>`) -> `metadata`; a full date in the URL -> `url`; the feed's, sitemap's
or API's date -> `feed`; a dateline or date line at the top of the text, or htmldate's search of
the page -> `text`.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import trafilatura
from charset_normalizer import from_bytes
from lxml.html import HtmlElement  # type: ignore[import-untyped]
from trafilatura import metadata as page_meta
from trafilatura.settings import Document
from trafilatura.utils import load_html

from monitor.dates import Dated, choose_date, naive_utc
from monitor.errors import ExtractError
from monitor.models import Article, Link, OutletSource, Page, TitleSource
from monitor.page_dates import page_dates, search_page
from monitor.prepare import Preparation, prepare_articles
from monitor.titles import as_host, clean_title, outlet_name
from monitor.urls import canonical_url, host_of

log = logging.getLogger(__name__)

# Below this, what trafilatura found is page furniture ("Home", a cookie notice), not an article.
MIN_TEXT_CHARS = 40

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HTML_LANG = re.compile(
    rb"""<html[^>]*?\slang\s*=\s*["']?([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?""", re.I
)


@dataclass(frozen=True)
class ExtractFailure:
    """A page that yielded no article, and why."""

    url: str
    source: str
    reason: str


_LATIN_GUESSES = frozenset(
    {"cp1250", "cp1252", "latin_1", "iso8859_2", "iso8859_15", "iso8859_9", "cp1254", "mac_roman"}
)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_html(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode HTML bytes, trusting a charset only when the bytes bear it out; (text, encoding)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8, whatever the header said: the document's own declaration, then the header,
    # then detection from the bytes.
    match = _META_CHARSET.search(data[:4096])
    for candidate in (match.group(1).decode("ascii", "ignore") if match else None, declared):
        codec = _codec(candidate)
        if codec and codec != "utf-8":
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                continue
    best = from_bytes(data[:200_000]).best()
    if best is not None and best.encoding:
        encoding = best.encoding
        if encoding in _LATIN_GUESSES:
            # Single-byte Latin guesses are near-ties; Windows-1252 is by far the likeliest.
            try:
                return data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                pass
        return data.decode(encoding, errors="replace"), encoding
    return data.decode("utf-8", errors="replace"), "utf-8"


def page_metadata(tree: HtmlElement, url: str) -> Document:
    """Title, canonical URL, site name and author: trafilatura's `extract_metadata`, cut to
    the fields this pipeline stores.

    Meta tags and JSON-LD first, then trafilatura's fallbacks for the title (`<title>`, `<h1>`),
    the URL (canonical link) and the site name, normalised the same way. Left out, because
    nothing here uses them and they cost 6 of a worker's 23 ms per page: htmldate's date
    search (dates.py chooses the date, and calls htmldate only for pages whose markup, URL and
    text top say nothing), categories, tags, the licence, and the byline
    heuristics for the author (`extract_author`: an XPath scan of the whole page, 5 ms). The
    author is the one the page declares in its metadata (meta tags, JSON-LD) or nobody.
    """
    doc = page_meta.examine_meta(tree)
    if doc.author and " " not in doc.author:
        doc.author = None  # as extract_metadata: a one-word "author" is a handle or a section
    try:
        doc = page_meta.extract_meta_json(tree, doc)
    except Exception as exc:  # trafilatura's JSON-LD reader trips on odd JSON
        log.debug("JSON-LD metadata of %s not read: %s", url, exc)
    if not doc.title:
        doc.title = page_meta.extract_title(tree)
    if not doc.url:
        doc.url = page_meta.extract_url(tree, url)
    if not doc.sitename:
        doc.sitename = page_meta.extract_sitename(tree)
    if doc.sitename:
        doc.sitename = doc.sitename.lstrip("@")
        if doc.sitename and "." not in doc.sitename and not doc.sitename[0].isupper():
            doc.sitename = doc.sitename.title()
    elif doc.url:
        host = page_meta.META_URL.match(doc.url)
        doc.sitename = host[1] if host else None
    doc.clean_and_trim()  # entities, spaces and control characters, as extract_metadata
    return doc


def page_outlet(
    sitename: str | None, link: Link | None, host: str | None
) -> tuple[str | None, OutletSource]:
    """Who published a page, and how that was found (monitor/titles.py): the page's own name,
    else what the source said of the item, else the page's host, else the feed's title."""
    named = outlet_name(sitename)
    if named and not as_host(named):
        return named, "metadata"
    if link is not None and link.outlet and not as_host(link.outlet):
        return outlet_name(link.outlet), "feed"
    if named and named != host:  # the page names itself by a domain: as good as a host
        return named, "metadata"
    if host:
        return host, "url"
    if link is not None and (link.outlet or link.feed_name):
        return outlet_name(link.outlet or link.feed_name), "feed"
    return None, "unknown"


def page_title(
    title: str | None,
    tree: HtmlElement,
    link: Link | None,
    site_names: Sequence[str | None],
) -> tuple[str | None, TitleSource | None]:
    """A page's own headline and where it came from (monitor/titles.py): its metadata title,
    else its first <h1>, else the link's title in the feed; each only if informative. None
    when there is none: the store titles the article by its lead then."""
    cleaned = clean_title(title, site_names)
    if cleaned:
        return cleaned, "metadata"
    for h1 in tree.iterfind(".//h1"):
        cleaned = clean_title(h1.text_content(), site_names)
        if cleaned:
            return cleaned, "metadata"
        break
    cleaned = clean_title(link.title if link else None, site_names)
    if cleaned:
        return cleaned, "feed"
    return None, None


def extract_page(page: Page) -> Article:
    """Main text and metadata of one fetched page; ExtractError when there is no article text."""
    html, _encoding = decode_html(page.html, page.encoding)
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        tree = load_html(html)
        # Read before extraction, which prunes the tree in place.
        if tree is None:
            raise ExtractError("no article text found")
        own_dates = page_dates(tree, now, page.final_url)
        meta = page_metadata(tree, page.final_url)
        doc = trafilatura.bare_extraction(
            tree,  # copied by trafilatura before it prunes
            url=page.final_url,
            with_metadata=False,  # page_metadata reads what is needed, for a quarter of the cost
            # `fast` skips the fallback extractors, and comments are not the article: on
            # realworld/aeb both raise F1 a little and together extract ~1.6x faster.
            fast=True,
            include_comments=False,
        )
    except ExtractError:
        raise
    except Exception as exc:  # trafilatura raises a zoo of lxml/parsing errors
        raise ExtractError(f"trafilatura failed: {type(exc).__name__}: {exc}") from exc
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text) < MIN_TEXT_CHARS:
        raise ExtractError("no article text found")
    link = page.link

    def search(extensive: bool) -> Dated | None:
        return search_page(tree, text, own_dates, now, extensive=extensive)

    published, date_source, date_evidence = choose_date(
        own_dates.published,
        link.published_at if link else None,
        page.final_url,
        text,
        now,
        fetched_at=naive_utc(page.fetched_at),
        search=search,
    )
    lang_match = _HTML_LANG.search(page.html[:8192])
    language = (lang_match.group(1).decode("ascii").lower() if lang_match else None) or (
        link.language if link else None
    )
    host = host_of(page.final_url)
    outlet, outlet_source = page_outlet(meta.sitename, link, host)
    title, title_source = page_title(meta.title, tree, link, [outlet, meta.sitename, host])
    return Article(
        url=page.url,
        source=page.source,
        text=text,
        title=title,
        title_source=title_source,
        canonical_url=canonical_url(meta.url, page.final_url),
        outlet=outlet,
        outlet_source=outlet_source,
        author=meta.author,
        published_at=published,
        date_source=date_source,
        date_evidence=date_evidence,
        language=language,
        raw_html=None,
    )


def extract_pages(pages: Sequence[Page], how: Preparation) -> list[Article | ExtractFailure]:
    """Extract and prepare a chunk of pages; picklable, for worker processes.

    Each article comes back prepared (`prepare.prepare_articles`: hash, signatures,
    classification, compressed HTML), CPU work done here, in parallel, instead of serially in
    the main process.
    """
    out: list[Article | ExtractFailure] = []
    extracted: list[Article] = []
    for page in pages:
        try:
            article = replace(extract_page(page), raw_html=page.html)
        except ExtractError as exc:
            out.append(ExtractFailure(page.url, page.source, str(exc)))
            continue
        extracted.append(article)
        out.append(article)
    prepared = iter(prepare_articles(extracted, how))
    return [item if isinstance(item, ExtractFailure) else next(prepared) for item in out]
