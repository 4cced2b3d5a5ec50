"""Fetch state: the fetch log (`core.fetches`), HTTP validators (`core.http_cache`) and the
health of each configured source (`core.sources`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.models import CacheEntry, FetchRecord
from monitor.store import bulk
from monitor.store.connection import Connection


@dataclass(frozen=True)
class SourceRow:
    """A source's stored health, as the last run left it."""

    name: str
    kind: str
    url: str
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_due_at: datetime | None
    last_status: int | None
    last_error_kind: str | None = None
    last_cutoff: str | None = None


def insert_records(con: Connection, run_id: str, records: Sequence[FetchRecord]) -> None:
    """Append fetch records to the log."""
    bulk.insert(
        con,
        "core.fetches",
        {
            "url": [r.url for r in records],
            "source": [r.source for r in records],
            "fetched_at": [r.fetched_at for r in records],
            "status_code": [r.status_code for r in records],
            "outcome": [r.outcome for r in records],
            "error": bulk.strings([r.error for r in records]),
            "error_kind": bulk.strings([r.error_kind for r in records]),
            "bytes": [r.bytes for r in records],
            "elapsed_ms": [r.elapsed_ms for r in records],
            "run_id": [run_id] * len(records),
        },
    )


def mark_duplicates(con: Connection, article_ids: Sequence[str]) -> None:
    """The fetch of a copy is recorded as `duplicate`, not `new` (CONTRACT: fetches.outcome);
    only an original's fetch says `new`."""
    if article_ids:
        bulk.execute(
            con,
            "UPDATE core.fetches SET outcome = 'duplicate' WHERE outcome = 'new' "
            "AND url IN (SELECT a.url FROM core.articles a JOIN {rows} c USING (article_id))",
            {"article_id": list(article_ids)},
        )


def validators(con: Connection, urls: Sequence[str]) -> dict[str, CacheEntry]:
    """Stored validators of these URLs."""
    rows = bulk.select(
        con,
        "SELECT url, etag, last_modified, body_hash FROM core.http_cache "
        "WHERE url IN (SELECT url FROM {rows})",
        {"url": list(urls)},
    )
    return {r[0]: CacheEntry(r[1], r[2], r[3]) for r in rows}


def save_validators(con: Connection, entries: Mapping[str, CacheEntry], now: datetime) -> None:
    """Remember validators (replacing older ones)."""
    bulk.insert(
        con,
        "core.http_cache",
        {
            "url": list(entries),
            "etag": bulk.strings([v.etag for v in entries.values()]),
            "last_modified": bulk.strings([v.last_modified for v in entries.values()]),
            "body_hash": bulk.strings([v.body_hash for v in entries.values()]),
            "fetched_at": [now] * len(entries),
        },
        on_conflict="ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, "
        "last_modified = excluded.last_modified, body_hash = excluded.body_hash, "
        "fetched_at = excluded.fetched_at",
    )


def source_rows(con: Connection) -> dict[str, SourceRow]:
    """Every source's stored health, by name."""
    rows = con.execute(
        "SELECT name, kind, url, last_fetch_at, last_success_at, last_error, "
        "consecutive_failures, next_due_at, last_status, last_error_kind, last_cutoff "
        "FROM core.sources"
    ).fetchall()
    return {
        r[0]: SourceRow(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6] or 0), r[7], r[8], r[9], r[10])
        for r in rows
    }


def save_sources(con: Connection, rows: Sequence[SourceRow]) -> None:
    """Write sources' health (replacing the stored rows of the same names)."""
    bulk.insert(
        con,
        "core.sources",
        {
            "name": [r.name for r in rows],
            "kind": [r.kind for r in rows],
            "url": [r.url for r in rows],
            "last_fetch_at": [r.last_fetch_at for r in rows],
            "last_success_at": [r.last_success_at for r in rows],
            "last_error": bulk.strings([r.last_error for r in rows]),
            "consecutive_failures": [r.consecutive_failures for r in rows],
            "next_due_at": [r.next_due_at for r in rows],
            "last_status": [r.last_status for r in rows],
            "last_error_kind": bulk.strings([r.last_error_kind for r in rows]),
            "last_cutoff": bulk.strings([r.last_cutoff for r in rows]),
        },
        on_conflict="ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
        "url = excluded.url, last_fetch_at = excluded.last_fetch_at, "
        "last_success_at = excluded.last_success_at, last_error = excluded.last_error, "
        "consecutive_failures = excluded.consecutive_failures, "
        "next_due_at = excluded.next_due_at, last_status = excluded.last_status, "
        "last_error_kind = excluded.last_error_kind, last_cutoff = excluded.last_cutoff",
    )
