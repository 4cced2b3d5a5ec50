"""Digest of stored stories: newest first, one entry per story with its articles."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from monitor.models import make_id
from monitor.store import Store, utcnow

Format = Literal["md", "html", "json", "csv"]
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DigestResult:
    """A rendered digest."""

    text: str
    markdown: str
    generated_at: datetime
    stories: int
    articles: int
    path: Path | None


def _lead(text: str, limit: int = 280) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def build_digest(store: Store, *, since: datetime | Literal["last"] | None) -> dict[str, Any]:
    """Stories with their articles, newest first."""
    with store.read() as con:
        if since == "last":
            row = con.execute("SELECT max(generated_at) FROM core.digests").fetchone()
            since = row[0] if row else None
        rows = con.execute(
            "SELECT s.story_id, s.title, s.first_published_at, s.last_published_at, "
            "a.article_id, a.url, a.outlet, a.title, a.published_at, a.text "
            "FROM stories s JOIN articles a USING (story_id) "
            "WHERE ($1::TIMESTAMP IS NULL OR a.first_seen_at > $1::TIMESTAMP) "
            "ORDER BY coalesce(s.last_published_at, a.first_seen_at) DESC NULLS LAST, "
            "s.story_id, a.published_at",
            [since],
        ).fetchall()
    stories: dict[str, dict[str, Any]] = {}
    for sid, stitle, first, last, aid, url, outlet, atitle, pub, text in rows:
        story = stories.setdefault(
            sid,
            {
                "story_id": sid,
                "title": stitle,
                "first_published_at": first,
                "last_published_at": last,
                "articles": [],
            },
        )
        story["articles"].append(
            {
                "article_id": aid,
                "url": url,
                "outlet": outlet,
                "title": atitle,
                "published_at": pub,
                "lead": _lead(text),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": utcnow(),
        "since": since,
        "stories": list(stories.values()),
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def render(digest: dict[str, Any], fmt: Format) -> str:
    """Render a digest as markdown, HTML, JSON or CSV."""
    if fmt == "json":
        return json.dumps(digest, default=_iso, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            ["story_id", "story_title", "article_id", "published_at", "outlet", "title", "url"]
        )
        for s in digest["stories"]:
            for a in s["articles"]:
                writer.writerow(
                    [
                        s["story_id"],
                        s["title"],
                        a["article_id"],
                        _iso(a["published_at"]),
                        a["outlet"],
                        a["title"],
                        a["url"],
                    ]
                )
        return buf.getvalue()
    lines = [f"# Digest — {digest['generated_at']:%Y-%m-%d %H:%M} UTC", ""]
    for s in digest["stories"]:
        date = f"{s['first_published_at']:%Y-%m-%d}" if s["first_published_at"] else "undated"
        lines += [f"## {s['title']}", f"*{date}*", ""]
        for a in s["articles"]:
            lines.append(f"- {a['outlet'] or a['url']}: {a['lead']}")
        lines.append("")
    markdown = "\n".join(lines)
    if fmt == "html":
        import html

        return f"<!doctype html><meta charset=utf-8><pre>{html.escape(markdown)}</pre>"
    return markdown


def write_digest(
    store: Store, *, since: datetime | Literal["last"] | None, fmt: Format, out: Path | None
) -> DigestResult:
    """Build, render, write (when out is given) and record a digest."""
    digest = build_digest(store, since=since)
    text = render(digest, fmt)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    n_articles = sum(len(s["articles"]) for s in digest["stories"])
    with store.write() as con:
        con.execute(
            "INSERT INTO core.digests VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                make_id(str(digest["generated_at"])),
                digest["generated_at"],
                digest["since"],
                fmt,
                str(out) if out else None,
                len(digest["stories"]),
                n_articles,
            ],
        )
    return DigestResult(
        text, render(digest, "md"), digest["generated_at"], len(digest["stories"]), n_articles, out
    )
