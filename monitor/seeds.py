"""Seed article files: find them, reject unusable ones, and clean the text.

Seed files are plain text as it was scraped, debris included. Everything here is general
cleaning (entity debris, datelines, story codes, repeated headlines, trailing page junk),
never a rule for one file.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.dates import date_line, text_date
from monitor.errors import SeedError
from monitor.models import Article, SeedFile

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


def find_seed_files(dirs: list[Path]) -> tuple[list[SeedFile], list[tuple[str, str]]]:
    """Seed files in the given folders (sorted), and (folder, reason) for unusable folders."""
    files: list[SeedFile] = []
    problems: list[tuple[str, str]] = []
    for folder in dirs:
        if not folder.is_dir():
            problems.append((str(folder), "seed folder does not exist"))
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                files.append(SeedFile(path))
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
    if not raw.strip():
        raise SeedError(f"{seed.name}: empty file")
    if b"\x00" in raw[:8192]:
        raise SeedError(f"{seed.name}: binary file (NUL bytes), not text")
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(
            f"{seed.name}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from exc
    cleaned = clean_text(decoded)
    words = len(cleaned.text.split())
    if words < MIN_WORDS:
        raise SeedError(f"{seed.name}: too little text after cleaning ({words} words)")
    return Article(
        url=seed.url,
        source="seed",
        text=cleaned.text,
        title=cleaned.title,
        canonical_url=seed.url,
        published_at=cleaned.published_at,
        date_source="text" if cleaned.published_at else "unknown",
        language="en",
    )


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
    """Whether a line reads as a headline: short, capitalised, no closing punctuation."""
    words = line.split()
    return (
        2 <= len(words) <= 25
        and len(line) <= 200
        and not line.rstrip().endswith((".", ",", ";", ":", "”", '"'))
        and line[:1].isupper()
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
