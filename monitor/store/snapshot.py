"""The read-only snapshot of a database that readers open: `<db stem>.snapshot.duckdb` beside it
(for `data/monitor.duckdb`: `data/monitor.snapshot.duckdb`)."""

from __future__ import annotations

from pathlib import Path


def snapshot_path(db: Path) -> Path:
    """Where the snapshot of this database lives."""
    return db.with_name(f"{db.stem}.snapshot{db.suffix or '.duckdb'}")
