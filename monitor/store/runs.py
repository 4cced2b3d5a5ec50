"""Ingest runs (`core.runs`): one row per run, closed out when the run ends or the next begins."""

from __future__ import annotations

import json
from datetime import datetime

from monitor.models import RunReport
from monitor.store.connection import Connection


def start(con: Connection, run_id: str, started_at: datetime) -> int:
    """Record a new run; runs a crash left 'running' become 'interrupted' (their count)."""
    stale = con.execute(
        "UPDATE core.runs SET status = 'interrupted' WHERE status = 'running' RETURNING run_id"
    ).fetchall()
    con.execute(
        "INSERT INTO core.runs (run_id, started_at, status) VALUES (?, ?, 'running')",
        [run_id, started_at],
    )
    return len(stale)


def finish(con: Connection, summary: RunReport) -> None:
    """Record the run's counts and final status."""
    con.execute(
        "UPDATE core.runs SET finished_at = ?, status = ?, articles_new = ?, duplicates = ?, "
        "errors = ?, not_modified = ?, skipped = ?, relevant = ?, failures = ? "
        "WHERE run_id = ?",
        [
            summary.finished_at,
            summary.status,
            summary.articles_new,
            summary.duplicates,
            summary.errors,
            summary.not_modified,
            summary.skipped,
            summary.relevant,
            json.dumps(list(summary.failures[:200])),
            summary.run_id,
        ],
    )
