"""Benchmark: write a digest over 10,000 stored articles, in every format (target: < 2 s each).

    python bench/bench_digest.py [--articles 10000] [--keep DIR]

The database is filled through the store's own functions, as an ingest run leaves it: stories
of 1-8 reports from 60 outlets over 90 days, a third of the reports copies of another, with
classifications (entities, quotes, figures), dedup decisions and stories, first seen in
batches a minute apart. Each format is written by write_digest (build + render + file +
record) over every stored article (`include_all`, since the start), the largest digest there
can be, then over the relevant stories.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.dedup import content_hash
from monitor.digest import write_digest
from monitor.models import (
    Article,
    Classification,
    DedupDecision,
    Entity,
    EntityKind,
    Figure,
    Quote,
    Stance,
)
from monitor.store import Store
from monitor.store import articles as stored
from monitor.store import stories as story_store

STANCES: list[Stance] = ["for_withdrawal", "against_withdrawal", "neutral"]
TOPICS = ["parliament_vote", "talks", "drawdown", "attack", "statement", "agreement"]
ACTORS: list[tuple[str, EntityKind]] = [
    ("Mohammed Shia al-Sudani", "person"),
    ("Lloyd Austin", "person"),
    ("Pentagon", "organization"),
    ("Kataib Hezbollah", "group"),
    ("Iraqi parliament", "organization"),
    ("Muqtada al-Sadr", "person"),
    ("Baghdad", "place"),
    ("Ain al-Asad", "place"),
]
BATCH = 1000  # articles first seen together, as one ingest run would store them


def fill(store: Store, n_articles: int, seed: int = 6) -> None:
    """Store n_articles articles grouped in stories, classified, deduplicated and placed."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    seen0 = datetime(2026, 1, 1)
    articles: list[Article] = []
    classes: list[Classification] = []
    decisions: list[DedupDecision] = []
    story_of: dict[str, str] = {}
    i = 0
    story_no = 0
    while i < n_articles:
        story_no += 1
        story_id = f"story{story_no:06d}"
        day = start + timedelta(days=rng.randrange(90), hours=rng.randrange(24))
        size = min(rng.choice([1, 1, 2, 3, 4, 5, 8]), n_articles - i)
        relevant_story = rng.random() < 0.7
        first_id = None
        for k in range(size):
            i += 1
            outlet = f"Outlet {rng.randrange(60):02d}"
            dup = first_id if k > 0 and rng.random() < 0.35 else None
            title = f"Story {story_no}: Iraq troop talks, report {k + 1} <b>{outlet}</b>"
            text = "Iraqi officials and US commanders discussed the coalition's future. " * 8
            article = Article(
                url=f"https://outlet{outlet[-2:]}.example/{story_no}/{k}",
                source="bench",
                text=text,
                title=title,
                outlet=outlet,
                published_at=day + timedelta(hours=3 * k),
                date_source="metadata",
                language="en",
                content_hash=content_hash(text),
            )
            aid = article.article_id
            articles.append(article)
            decisions.append(DedupDecision(aid, dup, "near" if dup else None))
            story_of[aid] = story_id
            if first_id is None:
                first_id = aid
            relevant = relevant_story and rng.random() < 0.8
            score, stance, stance_score = rng.random(), rng.choice(STANCES), rng.random()
            topics = tuple(rng.sample(TOPICS, rng.randrange(0, 3)))
            entities = tuple(
                Entity(name, kind, rng.randrange(1, 6)) for name, kind in rng.sample(ACTORS, 3)
            )
            quotes: tuple[Quote, ...] = ()
            if rng.random() < 0.5:
                speaker = rng.choice([None, "Mohammed Shia al-Sudani", "Pentagon spokesman"])
                quotes = (
                    Quote(f"We will discuss the future of the mission, number {i}.", speaker),
                )
            figures: tuple[Figure, ...] = ()
            if rng.random() < 0.4:
                value = float(rng.choice([2500, 900, 5000]))
                figures = (Figure(value, "troops", "About 2,500 US troops remain in Iraq."),)
            classes.append(
                Classification(
                    aid,
                    relevant,
                    score,
                    stance,
                    stance_score,
                    topics,
                    entities=entities,
                    quotes=quotes,
                    figures=figures,
                    version="bench",
                )
            )
    for b in range(0, len(articles), BATCH):
        seen = seen0 + timedelta(minutes=b // BATCH)
        batch = slice(b, b + BATCH)
        with store.write() as con:
            stored.insert(con, "bench", articles[batch], seen)
            stored.write_classifications(con, classes[batch], seen)
    processed = seen0 + timedelta(minutes=len(articles) // BATCH)
    with store.write() as con:
        stored.write_decisions(con, decisions, story_of, processed)
        story_store.place(con, story_of, processed)


def main() -> int:
    """Fill a fresh database and time one digest per format (wall clock, and CPU time)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="write the digests into this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        store = Store(Path(tmp) / "bench.duckdb")
        store.migrate()
        t0 = time.perf_counter()
        fill(store, args.articles)
        print(f"filled {args.articles:,} articles in {time.perf_counter() - t0:.2f} s")
        worst = 0.0
        for include_all in (True, False):
            for fmt in ("html", "md", "json", "csv"):
                t0, c0 = time.perf_counter(), time.process_time()
                result = write_digest(
                    store,
                    since=None,
                    fmt=fmt,
                    out=out_dir / f"digest-{int(include_all)}.{fmt}",
                    include_all=include_all,
                )
                took = time.perf_counter() - t0
                cpu = time.process_time() - c0
                worst = max(worst, took)
                ov = result.digest.overview
                size = result.path.stat().st_size if result.path else 0
                print(
                    f"{'all' if include_all else 'relevant':>8} {fmt:>4}: {took:5.2f} s "
                    f"(cpu {cpu:4.2f} s)  "
                    f"{ov.stories:>5,} stories  {ov.articles:>6,} articles  {size / 1e6:6.2f} MB"
                )
        t0 = time.perf_counter()
        empty = write_digest(store, since="last", fmt="html", out=None)
        print(
            f"--since last right after: {time.perf_counter() - t0:.2f} s, "
            f"{len(empty.digest.stories)} stories"
        )
        verdict = "OK" if worst < 2.0 else "TOO SLOW"
        print(
            f"slowest digest over {args.articles:,} articles: {worst:.2f} s "
            f"(target < 2 s): {verdict}"
        )
        return 0 if worst < 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
