"""Stories: reports of the same real event grouped together.

For now every original article opens its own story and a duplicate joins its original's.
"""

from __future__ import annotations

from monitor.models import DedupDecision, StoredArticle, make_id
from monitor.store import Connection, insert_rows, utcnow


def assign_stories(
    con: Connection, pending: list[StoredArticle], decisions: list[DedupDecision]
) -> dict[str, str]:
    """Return story_id per pending article, creating story rows as needed."""
    by_id = {d.article_id: d for d in decisions}
    originals = {a.article_id for a in pending if by_id[a.article_id].duplicate_of is None}
    assigned: dict[str, str] = {}
    new_rows: list[tuple[object, ...]] = []
    now = utcnow()
    for article in pending:
        if article.article_id in originals:
            story_id = make_id("story:" + article.article_id)
            assigned[article.article_id] = story_id
            new_rows.append((story_id, article.article_id, now, now))
    insert_rows(
        con,
        "core.stories",
        ["story_id", "representative_article_id", "created_at", "updated_at"],
        new_rows,
        on_conflict="ON CONFLICT DO NOTHING",
    )
    dup_targets = [
        d.duplicate_of for d in decisions if d.duplicate_of and d.duplicate_of not in assigned
    ]
    if dup_targets:
        for article_id, story_id in con.execute(
            "SELECT article_id, story_id FROM core.articles "
            "WHERE article_id IN (SELECT unnest($1::VARCHAR[]))",
            [dup_targets],
        ).fetchall():
            if story_id:
                assigned[article_id] = story_id
    result: dict[str, str] = {}
    for article in pending:
        decision = by_id[article.article_id]
        target = decision.duplicate_of or article.article_id
        if target in assigned:
            result[article.article_id] = assigned[target]
    return result
