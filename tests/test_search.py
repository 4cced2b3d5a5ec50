"""Search: Arabic spelling folded, words stemmed, BM25 ranking, snippets from the stored text, an
index that follows the database and rebuilds itself; `monitor search` on a real DuckDB file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.models import Article, DedupDecision
from monitor.search import SearchIndex, index_path, parse_query, run_search
from monitor.search.text import highlight, normalise_arabic, snippet, term, terms
from monitor.store import Store, utcnow
from monitor.store import articles as stored

# Texts written for these tests (never from the labelled folders).
EN_WITHDRAWAL = (
    "Iraqi lawmakers demanded the withdrawal of US troops from Ain al-Asad air base on Monday, "
    "saying the coalition mission had ended and the forces should leave within a year."
)
EN_FOOTBALL = "The home side won the regional cup after extra time in front of a large crowd."
EN_TALKS = (
    "Negotiators from Baghdad and Washington discussed a timetable for the drawdown, and "
    "officials said the talks on withdrawing advisers would resume next month in Baghdad."
)
# The same sentence with hamza on the alef, ta marbuta, diacritics and tatweel ...
AR_FULL = "طالبَ البرلمانُ العراقيُّ بانسحابِ القوّاتِ الأمريكيّة من قاعدة عين الأســـد الجويّة"
# ... and as plainly spelt elsewhere: bare alef, ha for ta marbuta, no marks, no tatweel.
AR_PLAIN = "امريكيه"


def _add(store: Store, rows: list[tuple[str, str | None, str, str | None]]) -> list[str]:
    """Store articles (url, title, text, duplicate_of url) through the store's own writers."""
    now = utcnow()
    arts = [
        replace(
            Article(url=url, source="test", title=title, text=text),
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
        )
        for url, title, text, _ in rows
    ]
    by_url = {a.url: a.article_id for a in arts}
    with store.write() as con:
        stored.insert(con, "run-1", arts, now)
        decisions = [
            DedupDecision(by_url[url], by_url[dup] if dup else None) for url, _, _, dup in rows
        ]
        stored.write_decisions(con, decisions, {}, now)
    return [a.article_id for a in arts]


@pytest.fixture
def archive(tmp_path: Path) -> Store:
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    _add(
        store,
        [
            ("https://a.example/1", "Lawmakers demand troop withdrawal", EN_WITHDRAWAL, None),
            ("https://b.example/2", "Cup final", EN_FOOTBALL, None),
            ("https://c.example/3", "Drawdown talks resume", EN_TALKS, None),
            ("https://d.example/4", "البرلمان يطالب بالانسحاب", AR_FULL, None),
            # A copy of the first report, under another outlet's name.
            (
                "https://e.example/5",
                "Lawmakers demand troop withdrawal",
                EN_WITHDRAWAL,
                "https://a.example/1",
            ),
        ],
    )
    return store


def _search(store: Store, text: str, limit: int = 10) -> list[str]:
    index = SearchIndex(index_path(store.path))
    if not index.exists():
        index.refresh(store.read)
    return [r.url for r in run_search(index, store.read, text, limit=limit).results]


# ------------------------------------------------------------------------------ terms


def test_arabic_spellings_fold_to_one_form() -> None:
    assert normalise_arabic("أإآٱ") == "اااا"
    assert normalise_arabic("مدرسة") == "مدرسه"  # ta marbuta
    assert normalise_arabic("مستشفى") == "مستشفي"  # alef maksura
    assert normalise_arabic("مؤتمر") == "موتمر" and normalise_arabic("رئيس") == "رييس"
    assert normalise_arabic("القُوّاتُ") == "القوات"  # diacritics, shadda
    assert normalise_arabic("الأســـد") == "الاسد"  # tatweel
    assert term("الأمريكيّة") == term("امريكيه") == term("الامريكية")


def test_words_are_stemmed_per_script_and_digits_unified() -> None:
    assert term("withdrawal") == term("withdrawing") == term("Withdraw")
    assert term("بالانسحاب") == term("الانسحاب") == term("انسحاب")
    assert terms("٢٠٢٤ 2024") == ["2024", "2024"]
    assert terms("... — !") == []


def test_a_diacritic_never_splits_a_word() -> None:
    assert len(terms("القُوّاتُ الأمريكيّةُ")) == 2


def test_query_syntax_of_engines_is_just_words_here(archive: Store) -> None:
    query = parse_query('NEAR(a b) title:x "unclosed AND ^start~2 [1 TO 5]')
    for group in query.groups:
        for clause in group:
            assert all(t.isalnum() for t in clause.terms), clause
    assert parse_query("!!! ...").groups == ()
    for odd in ("title:cup", "*", '"', "(((", "cup~2", "-cup", "OR OR"):
        _search(archive, odd)  # answers (maybe nothing), never a parser error


def test_snippet_shows_the_text_as_written_with_matches_marked() -> None:
    query = parse_query("امريكيه")
    pieces = snippet(AR_FULL, query)
    assert "".join(p.text for p in pieces) == AR_FULL
    assert [p.text for p in pieces if p.hit] == ["الأمريكيّة"]
    long = ("Filler words about nothing at all. " * 30) + EN_WITHDRAWAL
    cut = snippet(long, parse_query("withdrawal"), width=120)
    assert cut[0].text == "… " and any(p.hit and p.text == "withdrawal" for p in cut)
    assert len("".join(p.text for p in cut)) <= 130


def test_highlight_marks_prefix_and_phrase_words() -> None:
    marked = highlight("Troop numbers in Ain al-Asad", parse_query('"ain al-asad" troo*'))
    assert [p.text for p in marked if p.hit] == ["Troop", "Ain", "al", "Asad"]


# ------------------------------------------------------------------------------ the index


def test_arabic_query_in_plain_spelling_finds_the_marked_text(archive: Store) -> None:
    assert _search(archive, AR_PLAIN) == ["https://d.example/4"]
    assert _search(archive, "الانسحاب") == ["https://d.example/4"]  # stem of بانسحاب
    assert _search(archive, "عين الاسد") == ["https://d.example/4"]


def test_english_ranking_stemming_phrases_or_and_exclusion(archive: Store) -> None:
    # The title weighs more: the report titled "withdrawal" ranks above the one that says it once.
    assert _search(archive, "withdrawing") == ["https://a.example/1", "https://c.example/3"]
    assert _search(archive, '"Ain al-Asad"') == ["https://a.example/1"]
    assert _search(archive, '"al-Asad Ain"') == []
    assert set(_search(archive, "cup OR timetable")) == {
        "https://b.example/2",
        "https://c.example/3",
    }
    assert _search(archive, "withdrawal -lawmakers") == ["https://c.example/3"]
    assert _search(archive, "draw*") == ["https://c.example/3"]


def test_copies_are_folded_under_their_original(archive: Store) -> None:
    index = SearchIndex(index_path(archive.path))
    index.refresh(archive.read)
    found = run_search(index, archive.read, "lawmakers", limit=10)
    assert found.total == 2  # articles: the report and its copy
    assert [(r.url, r.copies) for r in found.results] == [("https://a.example/1", 1)]


def test_refresh_follows_new_changed_and_removed_articles(archive: Store) -> None:
    index = SearchIndex(index_path(archive.path))
    first = index.refresh(archive.read)
    assert first is not None and first.rebuilt and first.total == 5
    again = index.refresh(archive.read)
    assert again is not None and (again.added, again.removed, again.rebuilt) == (0, 0, False)
    _add(archive, [("https://f.example/6", "Rockets hit the base", "Rockets hit Erbil.", None)])
    with archive.write() as con:
        con.execute(
            "UPDATE core.articles SET title = 'Cup final replay' WHERE url LIKE '%b.example%'"
        )
        con.execute("DELETE FROM core.articles WHERE url LIKE '%c.example%'")
    done = index.refresh(archive.read)
    assert done is not None and (done.added, done.removed) == (2, 2)
    assert _search(archive, "rockets") == ["https://f.example/6"]
    assert _search(archive, "replay") == ["https://b.example/2"]
    assert _search(archive, "timetable") == []


def test_a_corrupt_or_foreign_index_is_rebuilt(archive: Store) -> None:
    path = index_path(archive.path)
    assert SearchIndex(path).refresh(archive.read) is not None
    for f in path.iterdir():  # every file of the index garbled, its state kept
        if f.name != "state.json":
            f.write_bytes(b"not an index" * 10)
    done = SearchIndex(path).refresh(archive.read)
    assert done is not None and done.rebuilt
    assert _search(archive, "cup") == ["https://b.example/2"]
    state = path / "state.json"
    state.write_text(state.read_text().replace('"terms": "', '"terms": "old-'))
    done = SearchIndex(path).refresh(archive.read)
    assert done is not None and done.rebuilt
    assert _search(archive, "cup") == ["https://b.example/2"]
    assert not list(path.parent.glob("*.tmp"))


def test_a_reader_sees_what_a_refresh_commits(archive: Store) -> None:
    reader = SearchIndex(index_path(archive.path))
    writer = SearchIndex(index_path(archive.path))
    writer.refresh(archive.read)
    assert run_search(reader, archive.read, "rockets", limit=5).total == 0
    _add(archive, [("https://f.example/6", "Rockets hit the base", "Rockets hit Erbil.", None)])
    writer.refresh(archive.read)  # the reader keeps its index open meanwhile
    assert [r.url for r in run_search(reader, archive.read, "rockets", limit=5).results] == [
        "https://f.example/6"
    ]
    writer.rebuild(archive.read)  # a new folder swapped in: the reader opens it
    assert run_search(reader, archive.read, "rockets", limit=5).total == 1


# ------------------------------------------------------------------------------ the command


def _monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_monitor_search_json_and_one_line_errors(archive: Store) -> None:
    db = str(archive.path)
    done = _monitor("search", "القوات الامريكيه", "--db", db, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["url"] for r in rows] == ["https://d.example/4"]
    assert rows[0]["rank"] == 1 and "الأمريكيّة" in rows[0]["matches"]
    assert index_path(archive.path).exists()  # made on first use
    table = _monitor("search", "withdrawal", "--db", db)
    assert table.returncode == 0 and "3 matching article(s), 2 report(s) shown" in table.stdout
    too_long = _monitor("search", "x" * 600, "--db", db)
    assert too_long.returncode == 2
    assert too_long.stderr.strip() == "error: a query is at most 500 characters"
    missing = _monitor("search", "x", "--db", str(archive.path.with_name("none.duckdb")))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_an_ingest_run_refreshes_the_index(tmp_path: Path, seeds_dir: Path) -> None:
    from monitor.pipeline import run_ingest
    from monitor.settings import load_settings

    settings = load_settings(db=tmp_path / "run.duckdb", seeds=[seeds_dir])
    run_ingest(settings, fetch=False)
    index = SearchIndex(index_path(settings.storage.db))
    store = Store(settings.storage.db)
    with store.read() as con:
        count = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    found = run_search(index, store.read, "Iraq", limit=50)
    assert count > 0 and found.total == count
