"""Rendering a digest: Markdown and HTML through the Jinja templates in `templates/`, JSON through
the models of `model.py`, CSV with the standard library.

Markdown escapes every value from an article in the environment itself (a `finalize` hook, as
HTML autoescaping does); links are only made from plain http(s) URLs (`safe_href`).
"""

from __future__ import annotations

import csv
import functools
import gc
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from monitor.digest.chart import timeline_chart
from monitor.digest.model import STANCE_LABELS, STANCES, Digest, DigestJSON, Format, iso
from monitor.errors import ConfigError
from monitor.language import detect_language

_PLAIN_URL = re.compile(r"[A-Za-z0-9:/?#\[\]@!$&'*+,;=%~._-]*")


def safe_href(url: str) -> str | None:
    """The URL if it is a plain http(s) link, else None (never javascript:, data:, ...)."""
    text = url.strip()
    head = text[:8].lower()
    if head.startswith("https://"):
        rest = text[8:]
    elif head.startswith("http://"):
        rest = text[7:]
    else:
        return None
    if not rest or rest[0] in "/?#":
        return None  # no host
    if _PLAIN_URL.fullmatch(text):
        return text
    # Characters that would end a Markdown link or an attribute are percent-encoded.
    return quote(text, safe=":/?#[]@!$&'*+,;=%~-._")


def render_digest(digest: Digest, fmt: Format) -> str:
    """Render a digest as Markdown, one self-contained HTML page, JSON or CSV."""
    if fmt == "json":
        return _render_json(digest)
    if fmt == "csv":
        return _render_csv(digest)
    if fmt == "html":
        return _html_env().get_template("digest.html.j2").render(_context(digest, html=True))
    if fmt == "md":
        return _md_env().get_template("digest.md.j2").render(_context(digest, html=False))
    raise ConfigError(f"unknown digest format {fmt!r}")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block.

    The JSON form of a large digest is hundreds of thousands of short-lived objects (models,
    then dicts) without reference cycles; the collections their allocation triggers scan the
    whole heap again and again, and took more than half the JSON time of a 10,000-article
    digest (0.65 s -> 0.3 s). Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _render_json(digest: Digest) -> str:
    # One line per top-level key and per story: greppable, and fast (json's C encoder only
    # runs without indent; a 10,000-article digest is ~10 MB).
    with _collector_paused():
        data = DigestJSON.of(digest).model_dump(mode="json")
    stories = data.pop("stories")
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in data.items()]
    body = ",\n    ".join(json.dumps(s, ensure_ascii=False) for s in stories)
    tail = f'  "stories": [\n    {body}\n  ]' if stories else '  "stories": []'
    return "{\n" + "\n".join(lines) + "\n" + tail + "\n}\n"


CSV_COLUMNS = (
    "story_rank",
    "story_id",
    "story_title",
    "story_status",
    "article_id",
    "role",
    "folded_under",
    "duplicate_of",
    "outlet",
    "title",
    "url",
    "published_at",
    "date_source",
    "first_seen_at",
    "is_new",
    "relevant",
    "relevance_score",
    "stance",
    "topics",
    "labelled",
    "storyline_id",
    "storyline_title",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _render_csv(digest: Digest) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for rank, s in enumerate(digest.stories, start=1):
        for r in s.all_reports():
            writer.writerow(
                [
                    rank,
                    s.story_id,
                    _cell(s.title),
                    s.status,
                    r.article_id,
                    r.role,
                    r.folded_under or "",
                    r.duplicate_of or "",
                    _cell(r.outlet),
                    _cell(r.title),
                    r.url,
                    iso(r.published_at) or "",
                    r.date_source,
                    iso(r.first_seen_at),
                    str(r.is_new).lower(),
                    "" if r.relevant is None else str(r.relevant).lower(),
                    "" if r.relevance_score is None else f"{r.relevance_score:.3f}",
                    r.stance,
                    ";".join(r.topics),
                    str(r.labelled).lower(),
                    s.storyline.storyline_id if s.storyline else "",
                    _cell(s.storyline.title) if s.storyline else "",
                ]
            )
    return buf.getvalue()


# Markdown: every value printed from a template is escaped unless it is MdRaw, the way
# HTML autoescaping treats Markup. Python-Markdown (used by Apprise for e-mail) passes raw
# HTML through and does not honour "\<", so "<" and ">" become entities.
class MdRaw(str):
    """Markdown text that is already safe to print as is."""


_MD_TABLE = str.maketrans(
    {c: "\\" + c for c in "\\`*_{}[]()#+!|~"}
    | {"<": "&lt;", ">": "&gt;", "\n": " ", "\r": " ", "\t": " "}
)
_MD_NEEDS_WORK = re.compile(r"[\\`*_{}\[\]()#+!|~<>&\n\r\t]|^[-=0-9]")
_ENTITY_LIKE = re.compile(r"&(?=#?\w+;)")
_LEADING_NUMBER = re.compile(r"^(\d+)\.(?=\s|$)")


def md_escape(value: object) -> str:
    """Escape text for Markdown so it shows literally (no links, emphasis, HTML)."""
    text = str(value)
    if " " in text:
        text = " ".join(text.split())
    if not _MD_NEEDS_WORK.search(text):
        return text
    if "&" in text:
        text = _ENTITY_LIKE.sub("&amp;", text)
    text = " ".join(text.translate(_MD_TABLE).split())
    # A leading "-", "1." or "=" would start a list or a heading underline.
    if text[:1] in ("-", "="):
        return "\\" + text
    if text[:1].isdigit():
        return _LEADING_NUMBER.sub(r"\1\\.", text)
    return text


# Outlets, dates and labels repeat thousands of times in a large digest.
_md_escape_cached = functools.lru_cache(maxsize=4096)(md_escape)


def _md_finalize(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, MdRaw | int | float):
        return value
    if type(value) is str and len(value) <= 80:
        return _md_escape_cached(value)
    return md_escape(value)


# Languages written right to left: their titles, leads and quotes are marked so (HTML: dir="rtl"
# lang=".."; Markdown: Unicode isolates) and read in their own direction inside an English page.
_RTL_LANGUAGES = frozenset({"ar", "fa", "ur", "he", "ps", "ckb", "ku", "yi", "sd", "ug", "dv"})
_RTL_CHAR = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


@functools.lru_cache(maxsize=4096)
def rtl_language(text: str) -> str | None:
    """The language of a right-to-left text (from its text, language.py), else None."""
    if not text or _RTL_CHAR.search(text) is None:
        return None
    found = detect_language(text)
    if found in _RTL_LANGUAGES:
        return found
    return "ar" if found is None else None


def _bidi(text: object) -> Markup:
    """HTML attributes for a right-to-left text (` dir="rtl" lang="ar"`), else nothing."""
    lang = rtl_language(str(text)) if text else None
    return Markup(f' dir="rtl" lang="{lang}"') if lang else Markup("")


def _isolate(text: object) -> object:
    """A right-to-left text between Unicode isolates (RLI … PDI), for Markdown."""
    if isinstance(text, str) and rtl_language(text):
        return f"\u2067{text}\u2069"
    return text


def _md_link(text: object, url: str) -> MdRaw:
    href = safe_href(url)
    label = md_escape(_isolate(text))
    if href is None:
        return MdRaw(f"{label} (`{url.replace('`', '')}`)")
    return MdRaw(f"[{label}]({href})")


def _md_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.digest", "templates"),
        autoescape=False,
        finalize=_md_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["link"] = _md_link
    env.filters["raw"] = MdRaw
    env.filters["rtl"] = _isolate
    add_common_filters(env)
    return env


def _html_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.digest", "templates"),
        autoescape=True,  # every article field is escaped; only SVG numbers and CSS are ours
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["href"] = safe_href
    env.filters["bidi"] = _bidi
    add_common_filters(env)
    return env


def _fmt_date(value: datetime | date | None) -> str:
    if value is None:
        return "undated"
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return "the start"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _fmt_month(value: datetime | None) -> str:
    return "an unknown date" if value is None else value.strftime("%B %Y")


def _fmt_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _fmt_unit(what: str, value: float) -> str:
    """What a figure counts, in the singular for one ("1 rocket", "2,500 troops")."""
    if value != 1 or not what.endswith("s"):
        return what
    return what[:-3] + "y" if what.endswith("ies") else what[:-1]


def add_common_filters(env: jinja2.Environment) -> None:
    env.filters["date"] = _fmt_date
    env.filters["unit"] = _fmt_unit
    env.filters["datetime"] = _fmt_datetime
    env.filters["number"] = _fmt_number
    env.filters["month"] = _fmt_month
    env.globals["STANCES"] = STANCES
    env.globals["STANCE_LABELS"] = STANCE_LABELS


def _context(digest: Digest, *, html: bool) -> dict[str, Any]:
    ov = digest.overview
    chart = timeline_chart(ov.timeline) if html else None
    return {
        "d": digest,
        "ov": ov,
        "chart": chart,
        "new_stories": [s for s in digest.stories if s.status == "new"],
        "grown_stories": [s for s in digest.stories if s.status == "grew"],
        "recent_days": ov.timeline[-31:],
        "css": Markup(_css()) if html else "",
    }


def _css() -> str:
    return (
        resources.files("monitor.digest")
        .joinpath("templates/digest.css")
        .read_text(encoding="utf-8")
    )
