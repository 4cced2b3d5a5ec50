"""Deduplication: exact copies (same canonical URL, same normalised text).

A copy keeps its row with `duplicate_of` pointing at the earliest original.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from monitor.models import DedupDecision, StoredArticle
from monitor.store import Connection

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """Lower-cased words only: what two copies of one text have in common."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def content_hash(text: str) -> str:
    """Hash of the normalised text."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:32]


def find_duplicates(con: Connection, pending: list[StoredArticle]) -> list[DedupDecision]:
    """Decide for each pending article whether it copies an earlier stored or pending one."""
    decisions: list[DedupDecision] = []
    seen_url: dict[str, str] = {}
    seen_hash: dict[str, str] = {}
    canon = [a.canonical_url for a in pending if a.canonical_url]
    hashes = [a.content_hash for a in pending]
    ids = [a.article_id for a in pending]
    if pending:
        for url, article_id in con.execute(
            "SELECT canonical_url, article_id FROM core.articles "
            "WHERE canonical_url IN (SELECT unnest($1::VARCHAR[])) AND duplicate_of IS NULL "
            "AND article_id NOT IN (SELECT unnest($2::VARCHAR[])) ORDER BY first_seen_at",
            [canon, ids],
        ).fetchall():
            seen_url.setdefault(url, article_id)
        for digest, article_id in con.execute(
            "SELECT content_hash, article_id FROM core.articles "
            "WHERE content_hash IN (SELECT unnest($1::VARCHAR[])) AND duplicate_of IS NULL "
            "AND article_id NOT IN (SELECT unnest($2::VARCHAR[])) ORDER BY first_seen_at",
            [hashes, ids],
        ).fetchall():
            seen_hash.setdefault(digest, article_id)
    for article in pending:
        original: str | None = None
        reason: str | None = None
        if article.canonical_url and article.canonical_url in seen_url:
            original, reason = seen_url[article.canonical_url], "url"
        elif article.content_hash in seen_hash:
            original, reason = seen_hash[article.content_hash], "hash"
        if original is None:
            if article.canonical_url:
                seen_url[article.canonical_url] = article.article_id
            seen_hash[article.content_hash] = article.article_id
            decisions.append(DedupDecision(article.article_id, None))
        else:
            decisions.append(
                DedupDecision(article.article_id, original, reason, 1.0)  # type: ignore[arg-type]
            )
    return decisions
