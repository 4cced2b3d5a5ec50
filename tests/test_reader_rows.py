"""The reading list's rows (monitor/store/reader.py) over a real migrated DuckDB file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from monitor.store import Store
from monitor.store.connection import Connection
from monitor.store.reader import story_rows


def _article(
    con: Connection, article_id: str, story_id: str, published: str | None, seen: str
) -> None:
    con.execute(
        "INSERT INTO core.articles (article_id, url, source, title, text, word_count, "
        "content_hash, first_seen_at, published_at, date_source, story_id, processed_at) "
        "VALUES (?, ?, 'seed', 'A title of some words', 'text', 60, ?, ?, ?, ?, ?, ?)",
        [
            article_id,
            f"https://example.org/{article_id}",
            article_id,
            datetime.fromisoformat(seen),
            datetime.fromisoformat(published) if published else None,
            "metadata" if published else "unknown",
            story_id,
            datetime.fromisoformat(seen),
        ],
    )


def test_a_storys_span_is_its_dated_reports_and_an_undated_story_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    with store.write() as con:
        # s1: reported on 2025-10-11, and once more by a page with no date crawled today.
        _article(con, "a1", "s1", "2025-10-11", "2026-12-07")
        _article(con, "a2", "s1", None, "2026-12-07")
        # s2: no report says when it was published.
        _article(con, "b1", "s2", None, "2026-12-06")
        for story_id, rep in (("s1", "a1"), ("s2", "b1")):
            con.execute(
                "INSERT INTO core.stories VALUES (?, ?, now()::TIMESTAMP, now()::TIMESTAMP, "
                "NULL, false)",
                [story_id, rep],
            )
    with store.read() as con:
        rows = {r["story_id"]: r for r in story_rows(con).to_pylist()}
    assert (rows["s1"]["first_at"], rows["s1"]["last_at"]) == (
        datetime(2025, 10, 11),
        datetime(2025, 10, 11),
    )
    assert rows["s1"]["dated"] is True
    assert rows["s1"]["articles"] == 2
    assert rows["s2"]["dated"] is False
    assert rows["s2"]["first_at"] == datetime(2026, 12, 6)  # first seen, shown as "seen ..."
