"""Seed article files: find them, reject unusable ones, and clean the text.

Seed files are plain text as it was scraped, debris included. Everything here is general
cleaning (entity debris, datelines, story codes, repeated headlines, trailing page junk),
never a rule for one file.
"""

from __future__ import annotations

import codecs
import html
import logging
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import charset_normalizer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.arabic import has_arabic
from monitor.dates import date_line, text_date
from monitor.errors import SeedError
from monitor.models import Article, OutletSource, SeedFile
from monitor.settings import check_url, describe
from monitor.titles import clean_title, outlet_name

log = logging.getLogger(__name__)

MIN_WORDS = 30

# "date 2020-01-05" or "Date: 2020-01-05" opening the text.
_DATE_PREFIX = re.compile(
    r"^\s*date\s*:?\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?\s*", re.I
)
# HTML-entity debris: "& # 39;", "&#39;", ",quot;", "& quot;", "&amp;".
_NUMERIC_ENTITY = re.compile(r"&\s*#\s*(x[0-9a-f]+|\d+)\s*;", re.I)
_NAMED_ENTITY = re.compile(
    r"[&,]\s*(quot|apos|amp|lt|gt|nbsp|rsquo|lsquo|rdquo|ldquo|ndash|mdash);", re.I
)

# Lines that are page furniture, not article text.
_JUNK_LINE = re.compile(
    r"^\s*(?:\d{1,3}|story code\s*:.*|news (?:id|code)\s*:.*|code\s*:\s*\d+|"
    r"comments?|share(?: this)?(?: article)?|print|advertisement|read more|related(?: news)?|"
    r"tags?\s*:.*|\(?photo\s*:.*)\s*$",
    re.I,
)
_TRAILING_JUNK = re.compile(
    r"newsletter|subscribe|sign up|all rights reserved|follow us|comments?$|"
    r"^share|^print$|^advertisement$|cookie",
    re.I,
)
_MAX_TRAILING_JUNK_WORDS = 15


@dataclass(frozen=True)
class CleanText:
    """The parts a raw seed text is separated into."""

    title: str | None
    published_at: datetime | None
    text: str


#: In a seed folder: file name -> outlet and URL, for seeds whose text does not name its outlet.
OUTLETS_FILE = "outlets.toml"


class _SeedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outlet: str | None = Field(default=None, min_length=1)
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


def read_outlets(folder: Path) -> dict[str, _SeedEntry]:
    """The folder's outlets.toml (file name -> outlet, url), or {}; SeedError when unusable."""
    path = folder / OUTLETS_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SeedError(f"{path}: not readable TOML: {exc}") from exc
    entries: dict[str, _SeedEntry] = {}
    for name, value in data.items():
        try:
            entries[name] = _SeedEntry.model_validate(value)
        except ValidationError as exc:
            raise SeedError(f"{path}: [{name!r}] {describe(exc)}") from exc
    return entries


def find_seed_files(dirs: list[Path]) -> tuple[list[SeedFile], list[tuple[str, str]]]:
    """Seed files in the given folders (sorted), and (folder, reason) for unusable folders.

    Hidden files and the folder's outlets.toml are not seeds; sub-folders are not read.
    """
    files: list[SeedFile] = []
    problems: list[tuple[str, str]] = []
    for folder in dirs:
        if not folder.is_dir():
            problems.append((str(folder), "seed folder does not exist"))
            continue
        try:
            outlets = read_outlets(folder)
        except SeedError as exc:
            problems.append((str(folder / OUTLETS_FILE), str(exc)))
            outlets = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.name != OUTLETS_FILE:
                entry = outlets.get(path.name)
                files.append(SeedFile(path, entry.outlet, entry.url) if entry else SeedFile(path))
    return files, problems


def read_seed(seed: SeedFile, *, max_bytes: int) -> Article:
    """Read and clean one seed file; raise SeedError naming the file and the reason."""
    try:
        size = seed.path.stat().st_size
    except OSError as exc:
        raise SeedError(f"{seed.name}: cannot read: {exc.strerror}") from exc
    if size > max_bytes:
        raise SeedError(f"{seed.name}: too large ({size:,} bytes > {max_bytes:,})")
    raw = seed.path.read_bytes()
    decoded, encoding = decode_seed(seed.name, raw)
    if encoding not in ("utf-8", "ascii"):
        log.info("seed %s decoded as %s", seed.name, encoding)
    cleaned = clean_text(decoded)
    words = len(cleaned.text.split())
    if words < MIN_WORDS:
        raise SeedError(f"{seed.name}: too little text after cleaning ({words} words)")
    outlet, outlet_source = (
        (seed.outlet, "mapping") if seed.outlet else outlet_in_text(cleaned.text)
    )
    # The text's own headline line; without one the store titles it by its lead.
    title = clean_title(cleaned.title, [outlet])
    return Article(
        url=seed.url,
        source="seed",
        text=cleaned.text,
        title=title,
        title_source="text" if title else None,
        canonical_url=seed.source_url or seed.url,
        outlet=outlet_name(outlet),
        outlet_source=outlet_source,
        published_at=cleaned.published_at,
        date_source="text" if cleaned.published_at else "unknown",
        date_evidence="dateline" if cleaned.published_at else None,
        language="en",
    )


# A credit line, alone on its line: "(FRANCE 24 with AFP, AP and REUTERS)", "(Reuters)".
_CREDIT_LINE = re.compile(
    r"^\(\s*(?P<who>[A-Z0-9][\w&'’.-]*(?:\s+[A-Z0-9][\w&'’.-]*){0,3})"
    r"(?:\s+(?:with|and|/)\s+[^()]{1,80})?\s*\)\.?$"
)
# A dateline credit opening the text: "BAGHDAD (Reuters) -", "Baghdad, Jan 5 (AFP) –".
_DATELINE_CREDIT = re.compile(
    r"^[A-Z][A-Za-z .'’-]{1,40}(?:,[^()\n]{1,30})?\s*"
    r"\((?P<who>[A-Z][\w&'’.-]*(?:\s+[A-Z0-9][\w&'’.-]*){0,3})\)\s*[-–—]"
)
# Who was told, where the text names its own outlet: "analysts have told RT.",
# "told Al Jazeera on Monday". A name followed by "that" is a person being told something.
_TOLD = re.compile(
    r"\btold\s+(?:the\s+)?(?P<who>[A-Z][\w&'’.-]*(?:\s+[A-Z0-9][\w&'’-]*){0,3}?)"
    r"(?=[.,;:!?”\"’)]|\s+(?:in|on|during|last|earlier|late|this|at|from|via)\b|\s*$)"
)
# Capitalised addressees that are not outlets.
_NOT_OUTLETS = frozenset(
    {"parliament", "congress", "senate", "council", "assembly", "lawmakers", "reporters"}
)
_CREDIT_TAIL_LINES = 6


def outlet_in_text(text: str) -> tuple[str | None, OutletSource]:
    """The outlet a text names itself, and how: a credit line (`credit`) at its end or a
    dateline credit at its start, else the outlet most often "told" something (`told`)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines[-_CREDIT_TAIL_LINES:]):
        match = _CREDIT_LINE.match(line)
        if match:
            return match.group("who"), "credit"
    if lines:
        match = _DATELINE_CREDIT.match(lines[0])
        if match:
            return match.group("who"), "credit"
    counts: dict[str, int] = {}
    for match in _TOLD.finditer(text):
        who = match.group("who").rstrip(".’'")
        if who.lower() not in _NOT_OUTLETS:
            counts[who] = counts.get(who, 0) + 1
    if counts:
        return max(counts, key=lambda who: counts[who]), "told"  # the first among equals
    return None, "unknown"


_BOMS = (
    # UTF-32 first: its little-endian mark starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_seed(name: str, raw: bytes) -> tuple[str, str]:
    """A seed file's text and the encoding it was read in; SeedError naming why not.

    In order: a byte-order mark (UTF-8, UTF-16, UTF-32) decides; else NUL bytes mean a
    binary file; else UTF-8 when the bytes are valid UTF-8; else Windows-1252 when it reads
    as plausible text (the usual encoding of Western text that is not UTF-8, and one that
    detection confuses with other code pages); else charset-normalizer's best guess.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SeedError(
                    f"{name}: not {encoding} text despite its byte-order mark "
                    f"(invalid bytes at offset {exc.start})"
                ) from exc
            if not text.strip():
                raise SeedError(f"{name}: empty file")
            return text, encoding.removesuffix("-sig")
    if not raw.strip():
        raise SeedError(f"{name}: empty file")
    if b"\x00" in raw[:8192]:
        raise SeedError(f"{name}: binary file (NUL bytes), not text")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    western = charset_normalizer.from_bytes(raw, cp_isolation=["cp1252"]).best()
    guess = western or charset_normalizer.from_bytes(raw).best()
    if guess is None:
        raise SeedError(f"{name}: not text in any encoding it could be read in")
    return str(guess), guess.encoding


def repair_entities(text: str) -> str:
    """Turn mangled HTML entities ("& # 39;", ",quot;", "&amp;") back into characters."""

    def numeric(match: re.Match[str]) -> str:
        code = match.group(1)
        try:
            return chr(int(code[1:], 16) if code.lower().startswith("x") else int(code))
        except (ValueError, OverflowError):
            return match.group(0)

    text = _NUMERIC_ENTITY.sub(numeric, text)
    text = _NAMED_ENTITY.sub(lambda m: html.unescape(f"&{m.group(1).lower()};"), text)
    return text.replace("\u00a0", " ")


def looks_like_headline(line: str) -> bool:
    """Whether a line reads as a headline: short, capitalised (Arabic has no capitals: an
    Arabic letter will do), no closing punctuation."""
    words = line.split()
    return (
        2 <= len(words) <= 25
        and len(line) <= 200
        and not line.rstrip().endswith((".", ",", ";", ":", "”", '"', "،", "؛"))
        and (line[:1].isupper() or has_arabic(line[:1]))
    )


def clean_text(raw: str) -> CleanText:
    """Separate title and date from a scraped text and strip its debris."""
    text = repair_entities(raw.replace("\r\n", "\n").replace("\r", "\n"))
    published: datetime | None = None

    prefix = _DATE_PREFIX.match(text)
    if prefix:
        y, mo, d, hh, mm = prefix.groups()
        try:
            published = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0))
        except ValueError:
            published = None
        text = text[prefix.end() :]

    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]

    # Leading furniture: stray numbers, datelines, story codes, before the first real line.
    body_start = 0
    for i, line in enumerate(lines):
        if not line:
            continue
        dated = date_line(line)
        if dated is not None:
            published = published or dated
            lines[i] = ""
            continue
        if _JUNK_LINE.match(line):
            lines[i] = ""
            continue
        body_start = i
        break

    title: str | None = None
    following = [ln for ln in lines[body_start + 1 :] if ln]
    first = lines[body_start] if body_start < len(lines) else ""
    if first and following and looks_like_headline(first):
        title = first
        lines[body_start] = ""

    kept: list[str] = []
    for line in lines:
        dated = date_line(line) if line else None
        if _JUNK_LINE.match(line) or dated is not None:
            published = published or dated
            kept.append("")
            continue
        if title and line.rstrip(" .") == title.rstrip(" ."):
            continue  # the headline repeated under itself
        previous = next((k for k in reversed(kept) if k), "")
        if previous and line.startswith(previous) and len(previous) >= 40:
            # A caption printed twice, the second time with its credit: keep the longer one.
            idx = len(kept) - 1 - kept[::-1].index(previous)
            kept[idx] = line
            continue
        kept.append(line)

    # Trailing page junk: short lines about newsletters, comments, sharing.
    while kept and (
        not kept[-1]
        or (len(kept[-1].split()) <= _MAX_TRAILING_JUNK_WORDS and _TRAILING_JUNK.search(kept[-1]))
    ):
        kept.pop()

    body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    if published is None:
        published = text_date(body)
    return CleanText(title=title, published_at=published, text=body)
