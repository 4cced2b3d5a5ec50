"""Near-duplicate signatures: `core.minhash` (one row per article) and `core.lsh_bands`.

A signature row is written with its article (`articles.insert`); the article's band buckets
once dedup has decided on it (`save_bands`), so a batch never finds itself among the stored
candidates. `known` answers dedup's lookups for a batch in a few joins.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.dedup import Known, Origin, Probe
from monitor.models import TextSignature
from monitor.store import bulk
from monitor.store.connection import Connection


def known(con: Connection, batch: Sequence[Probe]) -> Known:
    """What stored articles (outside the batch) the batch's URL keys, hashes and buckets hit."""
    if not batch:
        return Known()
    ids = {"article_id": [p.article_id for p in batch]}
    with bulk.rows(con, ids) as pending:
        by_url: dict[str, str] = {}
        for key, origin in bulk.select(
            con,
            "SELECT a.url_key, coalesce(a.duplicate_of, a.article_id) FROM core.articles a "
            "WHERE a.url_key IN (SELECT url_key FROM {rows}) "
            f"AND a.article_id NOT IN (SELECT article_id FROM {pending}) "
            "ORDER BY a.first_seen_at, a.seen_order, a.article_id",
            {"url_key": [p.url_key for p in batch]},
        ):
            by_url.setdefault(key, origin)
        by_hash: dict[str, str] = {}
        for digest, origin in bulk.select(
            con,
            "SELECT a.content_hash, coalesce(a.duplicate_of, a.article_id) FROM core.articles a "
            "WHERE a.content_hash IN (SELECT content_hash FROM {rows}) "
            f"AND a.article_id NOT IN (SELECT article_id FROM {pending}) "
            "ORDER BY a.first_seen_at, a.seen_order, a.article_id",
            {"content_hash": [p.content_hash for p in batch]},
        ):
            by_hash.setdefault(digest, origin)
        # Stored articles sharing buckets, resolved to their origins, in one join.
        hits = bulk.select(
            con,
            "SELECT q.qid, coalesce(a.duplicate_of, a.article_id) AS origin, count(*) AS shared "
            "FROM {rows} q JOIN core.lsh_bands l ON l.bucket = q.bucket "
            "JOIN core.articles a ON a.article_id = l.article_id "
            f"WHERE l.article_id NOT IN (SELECT article_id FROM {pending}) "
            "GROUP BY q.qid, origin",
            {
                "qid": [p.article_id for p in batch for _ in p.buckets],
                "bucket": [bucket for p in batch for _, bucket in p.buckets],
            },
        )
    lsh: dict[str, list[tuple[str, int]]] = {}
    for qid, origin, shared in hits:
        lsh.setdefault(qid, []).append((origin, int(shared)))
    origin_ids = sorted({origin for _, origin, _ in hits})
    origins = {
        row[0]: Origin(row[0], row[1], row[2])
        for row in bulk.select(
            con,
            "SELECT article_id, published_at, text FROM core.articles "
            "WHERE article_id IN (SELECT article_id FROM {rows})",
            {"article_id": origin_ids},
        )
    }
    return Known(by_url, by_hash, lsh, origins)


def insert_signatures(
    con: Connection, ids: Sequence[str], keys: Sequence[str], sigs: Sequence[TextSignature]
) -> None:
    """Signature rows of articles (kept when one exists already)."""
    bulk.insert(
        con,
        "core.minhash",
        {
            "article_id": list(ids),
            "url_key": list(keys),
            "shingle_count": [s.shingles for s in sigs],
            "signature": [s.full for s in sigs],
            "lead": [s.lead for s in sigs],
        },
        on_conflict="ON CONFLICT DO NOTHING",
    )


def save_bands(con: Connection, batch: Sequence[Probe]) -> None:
    """The batch's signatures (if not stored with the article) and their LSH band buckets."""
    if not batch:
        return
    insert_signatures(
        con,
        [p.article_id for p in batch],
        [p.url_key for p in batch],
        [p.signature for p in batch],
    )
    # Articles processed again (a run cut short between steps) get their bands replaced.
    bulk.execute(
        con,
        "DELETE FROM core.lsh_bands WHERE article_id IN (SELECT article_id FROM {rows})",
        {"article_id": [p.article_id for p in batch]},
    )
    bulk.insert(
        con,
        "core.lsh_bands",
        {
            "band": [band for p in batch for band, _ in p.buckets],
            "bucket": [bucket for p in batch for _, bucket in p.buckets],
            "article_id": [p.article_id for p in batch for _ in p.buckets],
        },
    )
