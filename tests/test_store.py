"""The DuckDB store: migrations once and in order, views, and readers that wait out a writer."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from monitor.errors import StoreError, StoreLocked, StoreMissing, StoreOutdated
from monitor.store import Store, bulk
from monitor.store.migrations import MIGRATIONS, Migration, check_order, pending

DATA = Path(__file__).with_name("data")

CONTRACT_VIEWS = {
    "labels": ["article_id", "relevant", "stance", "note", "labelled_at"],
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
    assert store.migrate() == [m.name for m in MIGRATIONS]
    assert store.migrate() == []
    names = [r[0] for r in store.query("SELECT name FROM schema_migrations ORDER BY applied_at")]
    assert names == [m.name for m in MIGRATIONS]
    with store.read() as con:
        assert pending(con) == []


def test_migration_list_refuses_duplicates_and_disorder() -> None:
    check_order(MIGRATIONS)
    names = [m.name for m in MIGRATIONS]
    assert names == sorted(set(names))
    with pytest.raises(ValueError, match="0002_b"):
        check_order([Migration("0002_b", ""), Migration("0002_b", "")])
    with pytest.raises(ValueError, match="0001_a"):
        check_order([Migration("0003_c", ""), Migration("0001_a", "")])


def test_readers_never_create_or_migrate_a_database(tmp_path: Path) -> None:
    missing = Store(tmp_path / "typo.duckdb")
    with pytest.raises(StoreMissing, match="monitor run"):
        missing.require_current()
    with pytest.raises(StoreMissing):
        missing.query("SELECT 1")
    assert not (tmp_path / "typo.duckdb").exists()
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as con:
        con.execute(
            "CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
        )
    with pytest.raises(StoreOutdated, match="run `monitor run` once"):
        Store(old).require_current()
    with duckdb.connect(str(old), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchall() == [(0,)]


def test_a_database_made_by_the_first_release_migrates_in_place(tmp_path: Path) -> None:
    """tests/data/round1.duckdb.gz: made by the first round's main (DuckDB 1.5.6) from the seeds
    and two feed pages on a local server (tests/data/README.md); nothing may be lost."""
    db = tmp_path / "round1.duckdb"
    with gzip.open(DATA / "round1.duckdb.gz", "rb") as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    store = Store(db)
    counts = "SELECT (SELECT count(*) FROM core.{}) "
    tables = [
        "articles",
        "raw_pages",
        "classifications",
        "entities",
        "quotes",
        "figures",
        "stories",
        "fetches",
        "sources",
        "minhash",
        "lsh_bands",
        "digests",
        "runs",
    ]
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM core.{t})" for t in tables)
    with duckdb.connect(str(db), read_only=True) as con:
        before = con.execute(sql).fetchall()
        texts = con.execute("SELECT article_id, text, story_id FROM core.articles").fetchall()
    with pytest.raises(StoreOutdated):
        store.require_current()
    applied = store.migrate()
    assert applied and applied[0].startswith("0007")
    store.require_current()
    assert store.query(sql) == before
    assert sorted(store.query("SELECT article_id, text, story_id FROM articles")) == sorted(texts)
    # The new columns are filled in for what was stored: URL keys, error kinds.
    assert store.query("SELECT count(*) FROM core.articles WHERE url_key IS NULL") == [(0,)]
    assert store.query(
        "SELECT url_key FROM core.articles WHERE url LIKE 'http%' ORDER BY url_key"
    ) == [("https://127.0.0.1:8765/a1.html",), ("https://127.0.0.1:8765/a2.html",)]
    assert store.query("SELECT error_kind, error FROM fetches WHERE outcome = 'error'") == [
        ("FetchConnection", "ConnectError: All connection attempts failed")
    ]
    assert counts  # the per-table list above is what "nothing lost" means


def test_public_views_have_contract_columns(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    with store.read() as con:
        for view, columns in CONTRACT_VIEWS.items():
            got = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
            assert got[: len(columns)] == columns, view


def test_failed_write_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO core.digests VALUES ('d1', now(), NULL, 'md', NULL, 0, 0)")
        raise RuntimeError("boom")
    assert store.query("SELECT count(*) FROM core.digests") == [(0,)]


def _fetch_columns(rows: list[tuple[object, ...]]) -> dict[str, list[object]]:
    names = ["url", "source", "fetched_at", "status_code", "outcome", "error"]
    return {name: [r[i] for r in rows] for i, name in enumerate(names)}


def test_bulk_insert_writes_every_row_or_none(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    now = datetime(2024, 1, 1)
    good = [(f"u{i}", "src", now, None, "error", f"reason {i}") for i in range(1000)]
    with store.write() as con:
        assert bulk.insert(con, "core.fetches", _fetch_columns(good)) == 1000
    assert store.query("SELECT count(*), max(error) FROM core.fetches WHERE url = 'u999'") == [
        (1, "reason 999")
    ]
    bad = [*good[:10], ("x", "src", None, None, "error", "no fetched_at")]  # NOT NULL column
    with pytest.raises(StoreError, match="NOT NULL"), store.write() as con:
        bulk.insert(con, "core.fetches", _fetch_columns(bad))
    assert store.query("SELECT count(*) FROM core.fetches") == [(1000,)]


def test_bulk_values_travel_as_themselves(tmp_path: Path) -> None:
    """Separators, NULLs, empty and nested lists, bytes and timestamps: nothing is encoded."""
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    awkward = ["a\x1fb", "\x1e", "", "comma, 'quote' \"dq\"", "ünï€ødé\n\t", None]
    with store.write() as con:
        con.execute("CREATE TABLE core.t (s VARCHAR, l VARCHAR[], b BLOB, t TIMESTAMP, n BIGINT)")
        bulk.insert(
            con,
            "core.t",
            {
                "s": awkward,
                "l": [["x\x1dy", "z"], [], None, [""], ["a,b"], ["\x1f"]],
                "b": [b"\x00\x1f", b"", None, b"\xff", b"x", b"\x1e"],
                "t": [datetime(2020, 1, 5, 18, 30)] * 5 + [None],
                "n": [0, -1, 2**62, None, 7, 8],
            },
        )
        got = bulk.select(
            con,
            "SELECT t.s FROM core.t t JOIN {rows} q ON q.s IS NOT DISTINCT FROM t.s ORDER BY t.n",
            {"s": awkward},
        )
    assert sorted(map(repr, got)) == sorted(repr((s,)) for s in awkward)
    rows = store.query("SELECT s, l, b, t, n FROM core.t")
    assert ("a\x1fb", ["x\x1dy", "z"], b"\x00\x1f", datetime(2020, 1, 5, 18, 30), 0) in rows
    assert ("\x1e", [], b"", datetime(2020, 1, 5, 18, 30), -1) in rows
    assert ("", None, None, datetime(2020, 1, 5, 18, 30), 2**62) in rows
    assert (None, ["\x1f"], b"\x1e", None, 8) in rows


def test_read_of_missing_database_says_run_first(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="monitor run"):
        Store(tmp_path / "absent.duckdb").query("SELECT 1")
    assert not (tmp_path / "absent.duckdb").exists()


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
    Store(db).migrate()
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
    Store(db).migrate()
    proc = _hold_write_lock(db, 5)
    try:
        with pytest.raises(StoreLocked, match="locked by another process"):
            Store(db, lock_timeout_s=0.5).query("SELECT 1")
    finally:
        proc.wait(timeout=30)
