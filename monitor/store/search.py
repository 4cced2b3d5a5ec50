"""What the search index reads: each article's signature (when to index it again) and the
stored fields a search result shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from monitor.store.connection import Connection


def signatures(con: Connection) -> dict[str, tuple[str, str]]:
    """article_id -> (signature, root): the signature changes when the title, the text or the
    original a copy is folded under change; the root is that original (else the article)."""
    rows = con.execute(
        "SELECT article_id, "
        "md5(coalesce(title, '') || chr(31) || content_hash || chr(31) || "
        "coalesce(duplicate_of, '')), coalesce(duplicate_of, article_id) "
        "FROM core.articles"
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


class Found(NamedTuple):
    """A matching article as a result shows it (the public `articles` view)."""

    article_id: str
    url: str
    outlet: str | None
    source: str
    title: str | None
    text: str
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime
    story_id: str | None
    relevant: bool | None
    stance: str | None


def found(con: Connection, ids: Sequence[str]) -> dict[str, Found]:
    """The shown fields of these articles (those that are stored)."""
    if not ids:
        return {}
    # A list parameter, not a registered Arrow table: for a page of ids it plans faster.
    rows = con.execute(
        "SELECT article_id, url, outlet, source, title, text, language, published_at, "
        "first_seen_at, story_id, relevant, stance FROM articles "
        "WHERE list_contains(?, article_id)",
        [list(ids)],
    ).fetchall()
    return {r[0]: Found(*r) for r in rows}
