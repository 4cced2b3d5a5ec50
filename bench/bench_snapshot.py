"""Benchmark: what publishing the read-only snapshot costs each run, on a realistic archive.

Builds a DuckDB file of 100,000 stored, processed articles with bench_dedup's builder (news-length
synthetic texts, their MinHash signatures, LSH bands, story features, term index and stories,
through the store's own writers), adds a classification to each (3 actors, a quote for half, a
figure for some, as the classifier leaves them), then times `snapshot.publish` (what every run
and label does): built afresh, then after each of a few runs' worth of changes (new articles,
changed ones) as it is updated; and, for comparison, a plain copy of the checkpointed file.

    python bench/bench_snapshot.py [--stored 100000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dedup import build  # the same folder

from monitor.models import Article, Classification, Entity, Figure, Quote
from monitor.store import Store, utcnow
from monitor.store import articles as stored
from monitor.store.snapshot import publish, snapshot_path

ACTORS = [
    ("Mohammed Shia al-Sudani", "person"),
    ("Kataib Hezbollah", "group"),
    ("Pentagon", "organization"),
    ("Ain al-Asad", "place"),
    ("Iraqi parliament", "organization"),
    ("Baghdad", "place"),
]
TOPICS = ["withdrawal_drawdown", "negotiations", "attack_on_us_forces", "parliament_vote"]


def classify_all(store: Store, chunk: int = 5000) -> None:
    """A classification for every stored article, in chunks."""
    rng = random.Random(11)
    ids = [r[0] for r in store.query("SELECT article_id FROM core.articles ORDER BY 1")]
    for start in range(0, len(ids), chunk):
        results = []
        for n, article_id in enumerate(ids[start : start + chunk], start):
            quotes = (
                (Quote(f"We will discuss the future of the mission, statement {n}.", "Pentagon"),)
                if rng.random() < 0.5
                else ()
            )
            figures = (
                (Figure(2500.0, "troops", "About 2,500 US troops remain in Iraq."),)
                if rng.random() < 0.3
                else ()
            )
            results.append(
                Classification(
                    article_id,
                    rng.random() < 0.6,
                    rng.random(),
                    rng.choice(["neutral", "for_withdrawal", "against_withdrawal"]),
                    rng.random(),
                    tuple(rng.sample(TOPICS, rng.randrange(0, 3))),
                    entities=tuple(
                        Entity(a, k, rng.randrange(1, 6)) for a, k in rng.sample(ACTORS, 3)
                    ),
                    quotes=quotes,
                    figures=figures,
                    version="bench",
                )
            )
        with store.write() as con:
            stored.write_classifications(con, results, utcnow())


def a_run_of_changes(store: Store, n_new: int, round_no: int) -> None:
    """What a run leaves behind: n_new new processed articles with classifications, and as many
    stored ones changed (a date from their story, a new story)."""
    rng = random.Random(round_no)
    now = utcnow()
    fresh = [
        Article(
            url=f"https://run{round_no}.example/{i}",
            source="bench",
            text=" ".join(rng.choices(WORDS, k=500)),
            title=f"Report {i} of run {round_no} on the coalition in Iraq",
            outlet=f"outlet{i % 50}",
            published_at=now,
            date_source="metadata",
            content_hash=f"{round_no:08d}{i:024x}",
        )
        for i in range(n_new)
    ]
    with store.write() as con:
        stored.insert(con, "bench", fresh, now)
        con.execute(
            "UPDATE core.articles SET processed_at = ?, story_id = article_id "
            "WHERE processed_at IS NULL",
            [now],
        )
        con.execute(
            "UPDATE core.articles SET published_at = published_at + INTERVAL 1 HOUR "
            f"WHERE article_id IN (SELECT article_id FROM core.articles USING SAMPLE {int(n_new)})"
        )


WORDS = ["iraq", "coalition", "troops", "baghdad", "withdrawal", "parliament", "talks", "forces"]


def main() -> None:
    """Build (or reuse) the archive, time the snapshot afresh and per run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-run", type=int, default=1000, help="new and changed rows a run")
    parser.add_argument("--keep", type=Path, default=None, help="keep the database here")
    parser.add_argument("--reuse", action="store_true", help="reuse the database kept by --keep")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench.duckdb"
    if not (args.reuse and db.exists()):
        db.unlink(missing_ok=True)
        build(db, args.stored)
        started = time.perf_counter()
        classify_all(Store(db))
        print(f"classified {args.stored:,} articles in {time.perf_counter() - started:.1f}s")
    store = Store(db)
    store.migrate()
    snapshot_path(db).unlink(missing_ok=True)
    afresh = publish(store)
    per_run = []
    for round_no in range(max(1, args.repeat)):
        a_run_of_changes(store, args.per_run, round_no)
        per_run.append(publish(store))
    copy = workdir / "plain-copy.duckdb"
    started = time.perf_counter()
    with store.read_write() as con:
        con.execute("CHECKPOINT")
        shutil.copyfile(db, copy)
    copied = time.perf_counter() - started
    n = store.query("SELECT count(*) FROM core.articles")[0][0]
    text_mb = store.query("SELECT sum(strlen(text)) / 1e6 FROM core.articles")[0][0]
    size = db.stat().st_size / 1e6
    print(f"archive: {n:,} articles, {text_mb:.0f} MB of text; database file {size:.0f} MB")
    print(
        f"snapshot afresh (the first, or after a day): {afresh.seconds:.2f}s, "
        f"{afresh.bytes / 1e6:.0f} MB, {afresh.tables} tables and {afresh.views} views"
    )
    print(
        f"snapshot per run ({args.per_run:,} new and {args.per_run:,} changed articles each): "
        + ", ".join(f"{s.seconds:.2f}s" for s in per_run)
        + f"; {per_run[-1].bytes / 1e6:.0f} MB"
    )
    print(f"plain copy of the checkpointed database file: {copied:.2f}s, {size:.0f} MB")
    copy.unlink(missing_ok=True)
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
