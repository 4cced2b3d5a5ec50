"""The DuckDB store: migrations once and in order, views, and readers that wait out a writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from monitor.errors import StoreError, StoreLocked
from monitor.store import MIGRATIONS, Store, insert_rows

CONTRACT_VIEWS = {
    "articles": [
        "article_id",
        "url",
        "canonical_url",
        "source",
        "outlet",
        "title",
        "author",
        "published_at",
        "date_source",
        "language",
        "text",
        "word_count",
        "content_hash",
        "first_seen_at",
        "duplicate_of",
        "story_id",
        "relevant",
        "relevance_score",
        "stance",
        "topics",
    ],
    "stories": [
        "story_id",
        "title",
        "first_published_at",
        "last_published_at",
        "article_count",
        "outlets",
        "representative_article_id",
    ],
    "entities": ["article_id", "name", "kind", "mentions"],
    "quotes": ["article_id", "speaker", "quote"],
    "figures": ["article_id", "value", "what", "sentence"],
    "fetches": [
        "url",
        "source",
        "fetched_at",
        "status_code",
        "outcome",
        "error",
        "bytes",
        "elapsed_ms",
    ],
    "runs": [
        "run_id",
        "started_at",
        "finished_at",
        "status",
        "articles_new",
        "duplicates",
        "errors",
    ],
}


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    assert store.initialize() == [m.name for m in MIGRATIONS]
    assert store.initialize() == []
    names = [r[0] for r in store.query("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == sorted(m.name for m in MIGRATIONS)


def test_public_views_have_contract_columns(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.initialize()
    with store.read() as con:
        for view, columns in CONTRACT_VIEWS.items():
            got = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
            assert got[: len(columns)] == columns, view


def test_failed_write_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.initialize()
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO core.digests VALUES ('d1', now(), NULL, 'md', NULL, 0, 0)")
        raise RuntimeError("boom")
    assert store.query("SELECT count(*) FROM core.digests") == [(0,)]


def test_insert_rows_writes_every_row_or_none(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.initialize()
    now = datetime(2024, 1, 1)
    good = [(f"u{i}", "src", now, None, "error", f"reason {i}") for i in range(1000)]
    columns = ["url", "source", "fetched_at", "status_code", "outcome", "error"]
    with store.write() as con:
        assert insert_rows(con, "core.fetches", columns, good) == 1000
    assert store.query("SELECT count(*), max(error) FROM core.fetches WHERE url = 'u999'") == [
        (1, "reason 999")
    ]
    bad = [*good[:10], ("x", "src", None, None, "error", "no fetched_at")]  # NOT NULL column
    with pytest.raises(StoreError, match="NOT NULL"), store.write() as con:
        insert_rows(con, "core.fetches", columns, bad)
    assert store.query("SELECT count(*) FROM core.fetches") == [(1000,)]


def test_read_of_missing_database_says_run_first(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="monitor run"):
        Store(tmp_path / "absent.duckdb").query("SELECT 1")


def _hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[bytes]:
    code = textwrap.dedent(
        f"""
        import duckdb, sys, time
        con = duckdb.connect({str(db)!r})
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO core.digests VALUES ('held', now(), NULL, 'md', NULL, 0, 0)")
        print("locked", flush=True)
        time.sleep({seconds})
        con.execute("COMMIT")
        con.close()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"locked"
    return proc


def test_reader_waits_for_another_process_writer(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    Store(db).initialize()
    proc = _hold_write_lock(db, 1.5)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(db), read_only=True)  # what a naive reader would hit
        started = time.monotonic()
        rows = Store(db, lock_timeout_s=30).query("SELECT digest_id FROM core.digests")
        assert time.monotonic() - started > 0.5  # it did wait for the writer
        assert rows == [("held",)]
    finally:
        proc.wait(timeout=30)


def test_reader_gives_up_with_clear_error_when_lock_is_never_released(tmp_path: Path) -> None:
    db = tmp_path / "m.duckdb"
    Store(db).initialize()
    proc = _hold_write_lock(db, 5)
    try:
        with pytest.raises(StoreLocked, match="locked by another process"):
            Store(db, lock_timeout_s=0.5).query("SELECT 1")
    finally:
        proc.wait(timeout=30)
