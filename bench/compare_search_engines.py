"""Which engine for `monitor search`: tantivy (the one shipped), SQLite FTS5 and bm25s, on the
same archive and the same analysed terms (monitor/search/text.py: Arabic folded, stems).

For each engine: the time to index every article's terms, the index size, and the time of the
same queries (p50 / p95). Terms are computed once, before any engine, and timed on their own:
every engine needs them (none of the three folds Arabic spelling by itself).

    python bench/compare_search_engines.py DB.duckdb [--queries 200]

bm25s is not a dependency of the project: `pip install bm25s` first. FTS5 is Python's own
sqlite3, set up as the first version of the index was (two columns, unicode61, positions kept
for phrases, BM25 with the title weighing 4).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.search import SearchIndex, parse_query  # noqa: E402
from monitor.search.text import indexed_text  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.store import articles as stored  # noqa: E402

QUERIES = [
    "troops",
    "withdrawal",
    "Iraq coalition",
    "drone rocket base",
    '"Ain al-Asad"',
    '"Kataib Hezbollah"',
    "الامريكيه",
    "انسحاب القوات",
    "عين الاسد",
    "البرلمان العراقي",
]


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def report(name: str, build_s: float, size: int, times: list[float], note: str = "") -> None:
    print(
        f"{name:<8} build {build_s:6.1f}s  size {size / 1e6:6.0f} MB  "
        f"query p50 {p(times, 50):6.1f} ms  p95 {p(times, 95):6.1f} ms  {note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    store = Store(args.db)
    rng = random.Random(3)
    queries = [rng.choice(QUERIES) for _ in range(args.queries)]
    print(f"load average at the start: {os.getloadavg()}")

    with store.read() as con:
        ids = [r[0] for r in con.execute("SELECT article_id FROM core.articles").fetchall()]
    t = time.perf_counter()
    docs: list[tuple[str, str, str]] = []
    for at in range(0, len(ids), 2000):
        with store.read() as con:
            texts = stored.texts_of(con, ids[at : at + 2000])
        docs += [(i, indexed_text(ti), indexed_text(tx)) for i, (ti, tx) in texts.items()]
    print(
        f"analysis (terms of {len(docs):,} articles, shared by all engines): "
        f"{time.perf_counter() - t:.1f}s"
    )
    work = Path(tempfile.mkdtemp(prefix="search-engines-"))
    try:
        # tantivy, as shipped: the whole rebuild (it analyses again: subtract the above).
        shipped = SearchIndex(work / "tantivy")
        t = time.perf_counter()
        shipped.rebuild(store.read)
        tv_build = time.perf_counter() - t
        times = []
        for q in queries:
            t = time.perf_counter()
            shipped.search(parse_query(q), limit=20)
            times.append((time.perf_counter() - t) * 1000)
        report("tantivy", tv_build, size_of(shipped.path), times, "(build includes the analysis)")

        fts_path = work / "fts.sqlite"
        con = sqlite3.connect(fts_path)
        t = time.perf_counter()
        con.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(title, body, "
            "tokenize = 'unicode61 remove_diacritics 0', detail = full)"
        )
        con.execute("INSERT INTO fts (fts, rank) VALUES ('rank', 'bm25(4.0, 1.0)')")
        con.executemany("INSERT INTO fts (title, body) VALUES (?, ?)", [d[1:] for d in docs])
        con.execute("INSERT INTO fts (fts) VALUES ('optimize')")
        con.commit()
        fts_build = time.perf_counter() - t
        times = []
        for q in queries:
            expr = " OR ".join(
                "(" + " AND ".join(f'"{" ".join(c.terms)}"' for c in group) + ")"
                for group in parse_query(q).groups
            )
            t = time.perf_counter()
            con.execute(
                "SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 20", (expr,)
            ).fetchall()
            times.append((time.perf_counter() - t) * 1000)
        con.close()
        report("fts5", fts_build, size_of(fts_path), times, "(terms given)")

        import bm25s

        t = time.perf_counter()
        retriever = bm25s.BM25()
        retriever.index([f"{title} {body}".split() for _, title, body in docs], show_progress=False)
        bm_build = time.perf_counter() - t
        retriever.save(str(work / "bm25s"))
        times = []
        for q in queries:
            words = [t for c in parse_query(q).groups[0] for t in c.terms]
            t = time.perf_counter()
            retriever.retrieve([words], k=20, show_progress=False)
            times.append((time.perf_counter() - t) * 1000)
        report("bm25s", bm_build, size_of(work / "bm25s"), times, "(any word: no AND, no phrase)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
