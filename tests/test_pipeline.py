"""The plain-Python pipeline over seeds: stored once, clean, idempotent, bad input kept out."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from monitor.errors import StoreLocked
from monitor.pipeline import open_store, process_pending, run_ingest, run_lock, store_articles
from monitor.settings import Settings, load_settings
from monitor.store import Store


def test_seeds_are_stored_once_with_titles_and_dates(settings: Settings) -> None:
    summary = run_ingest(settings, fetch=False)
    assert (summary.articles_new, summary.errors, summary.status) == (5, 0, "completed")
    store = Store(settings.storage.db)
    rows = dict(
        (url, (title, published, source))
        for url, title, published, source in store.query(
            "SELECT url, title, published_at, date_source FROM articles"
        )
    )
    assert len(rows) == 5
    # 004's only date is a photo caption's: it has none, and takes none from its story.
    assert rows["seed:004_6794677325c9a79f"] == (
        "Iraq parliament passes resolution to expel US-led coalition troops from country",
        None,
        "unknown",
    )
    assert rows["seed:001_9f8e176f1df87fee"][:2] == (
        "Will Iraq Finally Manage to Expel the Uninvited US Military?",
        datetime(2024, 3, 18, 21, 0),
    )
    assert rows["seed:000_ea5ecf4dccb75d7d"][1:] == (datetime(2020, 1, 5), "text")
    debris = store.query(
        "SELECT count(*) FROM articles WHERE text LIKE '%& # 39;%' OR text LIKE '%,quot;%' "
        "OR text LIKE '%Story Code%' OR coalesce(title, '') LIKE '%Story Code%'"
    )
    assert debris == [(0,)]
    assert store.query("SELECT count(*) FROM articles WHERE story_id IS NULL") == [(0,)]
    assert store.query("SELECT count(*) FROM articles WHERE relevant IS NULL") == [(0,)]
    assert store.query("SELECT status, articles_new FROM runs") == [("completed", 5)]


def test_second_run_adds_nothing(settings: Settings) -> None:
    run_ingest(settings, fetch=False)
    again = run_ingest(settings, fetch=False)
    assert (again.articles_new, again.duplicates, again.unchanged) == (0, 0, 5)
    store = Store(settings.storage.db)
    assert store.query("SELECT count(*), count(DISTINCT url) FROM core.articles") == [(5, 5)]
    assert store.query("SELECT count(*) FROM stories") == store.query(
        "SELECT count(DISTINCT story_id) FROM articles"
    )
    assert [r[0] for r in store.query("SELECT articles_new FROM runs ORDER BY started_at")] == [
        5,
        0,
    ]


def test_bad_seed_files_are_reported_and_good_ones_ingest(tmp_path: Path, seeds_dir: Path) -> None:
    folder = tmp_path / "seeds"
    shutil.copytree(seeds_dir, folder)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "latin1.txt").write_bytes("Le parlement a vot\xe9 ".encode("latin-1") * 40)
    with (folder / "huge.txt").open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    settings = load_settings(db=tmp_path / "m.duckdb", seeds=[folder])
    summary = run_ingest(settings, fetch=False)
    # The Latin-1 file is read (charset detection), the other three are reported.
    assert summary.articles_new == 6
    assert summary.errors == 3
    store = Store(settings.storage.db)
    errors = dict(
        store.query("SELECT url, error FROM fetches WHERE source = 'seed' AND outcome = 'error'")
    )
    assert set(errors) == {"seed:empty", "seed:binary", "seed:huge"}
    assert "empty" in errors["seed:empty"]
    assert "binary" in errors["seed:binary"]
    assert "too large" in errors["seed:huge"]
    assert store.query("SELECT count(*) FROM articles") == [(6,)]
    latin1 = store.query("SELECT text FROM articles WHERE url = 'seed:latin1'")
    assert latin1[0][0].startswith("Le parlement a voté")


def test_run_resumes_work_left_unprocessed(settings: Settings) -> None:
    """Articles stored by a run that died before processing are finished by the next run."""
    from monitor.pipeline import read_seeds

    store = open_store(settings)
    articles, records = read_seeds(settings)
    store_articles(store, "dead-run", articles, records)  # ...and then the process died
    assert store.query("SELECT count(*) FROM core.articles WHERE processed_at IS NULL") == [(5,)]
    summary = run_ingest(settings, fetch=False)
    assert summary.articles_new == 0
    assert store.query("SELECT count(*) FROM core.articles WHERE processed_at IS NULL") == [(0,)]
    assert store.query("SELECT count(*) FROM core.classifications") == [(5,)]
    assert process_pending(store, settings).processed == 0


def test_second_ingest_on_same_database_is_refused_while_one_runs(settings: Settings) -> None:
    with run_lock(settings.storage.db, wait_s=0), pytest.raises(StoreLocked, match="another"):
        run_ingest(settings, fetch=False, lock_wait_s=0.2)
