"""The read-only snapshot readers open: published after every run and label, renamed into place, so
a DuckDB session held open on it (in another process, as the duckdb shell or DBeaver would) never
stops a run; and `monitor run --wait` bounds DuckDB's own lock wait too."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from monitor.labelling import apply_labels, make_label
from monitor.pipeline import run_ingest
from monitor.settings import Settings, load_settings
from monitor.store import Store
from monitor.store.snapshot import SKIPPED, publish, snapshot_path
from tests.synthetic import make_seed_dir
from tests.test_cli import monitor

# A session in another process: opens the file read-only, answers "count" with the number of
# articles it sees, and holds the connection until told "quit".
SESSION = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(con.execute("SELECT count(*) FROM articles").fetchone()[0], flush=True)
    else:
        break
con.close()
"""


@contextmanager
def session(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A real read-only DuckDB connection on `path`, held by another process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            proc.wait(timeout=30)


def ask(proc: subprocess.Popen[str]) -> int:
    """How many articles the session sees."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("count\n")
    proc.stdin.flush()
    return int(proc.stdout.readline())


def _count(path: Path, sql: str = "SELECT count(*) FROM articles") -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def test_a_run_completes_while_a_session_holds_the_snapshot_open(
    tmp_path: Path, settings: Settings
) -> None:
    run_ingest(settings, fetch=False)
    snap = snapshot_path(settings.storage.db)
    assert snap == tmp_path / "monitor.snapshot.duckdb"
    more = make_seed_dir(tmp_path / "more", 20)
    grown = load_settings(db=settings.storage.db, seeds=[more])
    with session(snap) as held:
        assert ask(held) == 5
        started = time.monotonic()
        report = run_ingest(grown, fetch=False)
        assert report.status == "completed" and report.articles_new == 20
        assert time.monotonic() - started < 60  # no lock wait: the session is on another file
        assert ask(held) == 5  # the session reads the snapshot it opened, undisturbed
        assert _count(snap) == 25  # a new session sees what the run stored
        with session(snap) as second:  # two sessions at once, then a label publishes again
            ids = Store(grown.storage.db).query("SELECT article_id FROM articles LIMIT 1")
            apply_labels(Store(grown.storage.db), grown, [make_label(ids[0][0], "irrelevant")])
            assert ask(second) == 25
    assert _count(snap, "SELECT count(*) FROM labels") == 1
    assert sorted(p.name for p in tmp_path.glob(".*tmp*")) == []  # nothing left aside


def _contents(path: Path) -> dict[str, list[str]]:
    """Every public view's rows (as text, sorted), read from this file alone."""
    store = Store(path)
    views = [
        r[0]
        for r in store.query(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' "
            "AND database_name = current_database()"
        )
    ]
    return {v: sorted(map(repr, store.query(f"SELECT * FROM {v}"))) for v in views}


def test_the_snapshot_has_every_view_with_the_same_rows_and_is_read_only(
    tmp_path: Path, settings: Settings
) -> None:
    run_ingest(settings, fetch=False)
    store = Store(settings.storage.db)
    first = publish(store)
    assert first.updated and first.path.stat().st_mode & 0o777 == 0o444  # the run's was first
    os.utime(first.path, (time.time() - 2 * 86400,) * 2)
    afresh = publish(store)  # a day old: built afresh
    assert not afresh.updated
    expected = _contents(store.path)
    assert {"articles", "stories", "storylines", "labels", "alerts"} <= set(expected)
    assert _contents(afresh.path) == expected
    # The working tables no view reads stay behind; readers of the snapshot find it current.
    tables = {
        f"{s}.{t}"
        for s, t in Store(afresh.path).query("SELECT schema_name, table_name FROM duckdb_tables()")
    }
    assert not tables & SKIPPED and "core.articles" in tables
    Store(afresh.path).require_current()
    assert afresh.bytes < store.path.stat().st_size

    # Updated from the previous one through new articles, story dates, merges and a label:
    # the same rows as the database, view by view.
    more = make_seed_dir(tmp_path / "more", 12, seed=3)
    grown = load_settings(db=settings.storage.db, seeds=[more])
    run_ingest(grown, fetch=False)
    ids = store.query("SELECT article_id FROM articles ORDER BY url LIMIT 2")
    apply_labels(store, grown, [make_label(ids[0][0], "irrelevant", None, "not the coalition")])
    with store.write() as con:  # a stored article changed, as a story's date or a merge does
        con.execute(
            "UPDATE core.articles SET published_at = TIMESTAMP '2020-01-06', "
            "date_source = 'story', story_id = 'moved' WHERE article_id = ?",
            [ids[1][0]],
        )
    updated = publish(store)
    assert updated.updated
    assert _contents(updated.path) == _contents(store.path)


def test_a_snapshot_that_cannot_be_published_does_not_fail_the_run(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot_path(settings.storage.db).mkdir(parents=True)  # where the file should go: a folder
    with caplog.at_level(logging.WARNING, logger="monitor.publish"):
        report = run_ingest(settings, fetch=False)
    assert report.status == "completed" and report.articles_new == 5
    assert "publishing snapshot failed" in caplog.text
    assert not list(settings.storage.db.parent.glob(".*tmp*"))


def test_wait_bounds_the_wait_for_a_session_on_the_database_itself(tmp_path: Path) -> None:
    (tmp_path / "seeds").symlink_to(Path(__file__).resolve().parents[1] / "seeds")
    assert monitor("run", "--no-fetch", "--db", "m.duckdb", cwd=tmp_path).returncode == 0
    with session(tmp_path / "m.duckdb"):
        started = time.monotonic()
        done = monitor("run", "--no-fetch", "--db", "m.duckdb", "--wait", "2", cwd=tmp_path)
        elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line == (
        "error: database m.duckdb stayed locked by another process for 2s (a DuckDB session "
        "left open on it? open the snapshot m.snapshot.duckdb instead: it never stands in a "
        "run's way)"
    )
    assert elapsed < 30  # it was 60 s whatever --wait said; the process itself takes a few
