"""The reader on a 100,000-article archive: the reading list, a story page and a search, each
answered by a real `monitor web` process on 127.0.0.1, at the 95th percentile (target <= 300 ms).

1. **Build** a synthetic archive through the store's own writers: 100,000 articles (15 % Arabic,
   5 % copies of another report of their story) in stories of one to five reports, 200
   outlets, six years of dates, classifications (relevance, stance, event types, a quote and a
   figure for some), storylines over most stories. Texts are made here from word lists; none
   comes from a labelled folder.
2. **The search index** from scratch (`SearchIndex.refresh`): its build time and size, then
   an incremental refresh that finds nothing new.
3. **Serve** the archive with `monitor web`, twice: reading the database itself (no snapshot
   yet), and reading a snapshot beside it (a copy of the file, as `publish` writes it).
4. **Time** N requests of each kind over HTTP (after a warm-up): the list (unread, with
   facets, page 1, and filtered by a facet), a random story page, a random search (common and
   rare English words, phrases, Arabic words in other spellings).

Prints the figures and the machine's load average before and after: on a shared 2-core
machine, run it when the load is low.

    python bench/bench_reader.py [--articles 100000] [--requests 200] [--keep DIR [--keep-index]]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.models import (  # noqa: E402
    Article,
    Classification,
    DedupDecision,
    Figure,
    Quote,
    make_id,
)
from monitor.search import SearchIndex, index_path  # noqa: E402
from monitor.store import Store, bulk, utcnow  # noqa: E402
from monitor.store import articles as stored  # noqa: E402
from monitor.store.snapshot import snapshot_path  # noqa: E402

SEED = 11
START = datetime(2020, 1, 1)
EN_TOPIC = [
    "Iraq",
    "troops",
    "withdrawal",
    "coalition",
    "Baghdad",
    "parliament",
    "militia",
    "drone",
    "rocket",
    "base",
    "Erbil",
    "Pentagon",
    "embassy",
    "drawdown",
    "advisers",
    "mission",
    "timetable",
    "vote",
    "sovereignty",
    "Anbar",
    "Kurdistan",
    "negotiations",
    "security",
    "agreement",
    "forces",
    "American",
    "foreign",
    "expel",
    "presence",
    "strike",
]
EN_PHRASES = ["Ain al-Asad", "Kataib Hezbollah", "Green Zone", "Higher Military Commission"]
AR_TOPIC = [
    "القوات",
    "الأمريكية",
    "انسحاب",
    "العراق",
    "البرلمان",
    "التحالف",
    "الدولي",
    "قاعدة",
    "عين",
    "الأسد",
    "بغداد",
    "الحكومة",
    "الفصائل",
    "المسلحة",
    "الصواريخ",
    "السفارة",
    "المنطقة",
    "الخضراء",
    "أربيل",
    "إقليم",
    "كردستان",
    "المفاوضات",
    "الاتفاقية",
    "الأمنية",
    "السيادة",
    "الوطنية",
    "خروج",
    "القوات",
    "الأجنبية",
]
EVENT_TYPES = [
    "withdrawal_drawdown",
    "attack_on_us_forces",
    "us_strike",
    "parliament_vote",
    "negotiations",
    "statement_reaction",
    "iran_influence",
    "legal_basis",
    "protest",
]
STANCES = ["for_withdrawal", "against_withdrawal", "neutral"]
QUERIES_EN = ["troops", "withdrawal", "Iraq coalition", '"Ain al-Asad"', "drone OR rocket", "base*"]
QUERIES_AR = ["الامريكيه", "انسحاب القوات", "عين الاسد", "البرلمان العراقي"]


def _words(rng: random.Random, letters: str, n: int) -> list[str]:
    return sorted({"".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(n)})


def _zipf(vocab: list[str]) -> list[float]:
    # Zipf-like: the first words often, the long tail of the vocabulary rarely.
    return list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))


def _text(
    rng: random.Random, topic: list[str], vocab: list[str], cum: list[float], n_words: int
) -> str:
    body = rng.choices(vocab, cum_weights=cum, k=n_words)
    for i in range(0, n_words, 7):
        body[i] = rng.choice(topic)
    if rng.random() < 0.2:
        body[rng.randrange(n_words)] = rng.choice(EN_PHRASES)
    sentences = [" ".join(body[i : i + 18]) + "." for i in range(0, n_words, 18)]
    return "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))


def build(db: Path, n: int, chunk: int = 5000) -> None:
    """A synthetic archive of n articles through the store's writers."""
    rng = random.Random(SEED)
    en_vocab = _words(rng, "abcdefghijklmnopqrstuvwxyz", 30_000)
    ar_vocab = _words(rng, "ابتثجحخدذرزسشصضطظعغفقكلمنهوي", 20_000)
    en_cum, ar_cum = _zipf(en_vocab), _zipf(ar_vocab)
    store = Store(db)
    store.migrate()
    now = utcnow()
    storylines = [make_id(f"line:{i}") for i in range(n // 50)]
    story_no = 0
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        articles: list[Article] = []
        decisions: list[DedupDecision] = []
        story_of: dict[str, str] = {}
        results: list[Classification] = []
        stories: list[tuple[str, str, str | None]] = []
        i = start
        while i < min(start + chunk, n):
            size = min(rng.choice([1, 1, 1, 2, 2, 3, 4, 5]), start + chunk - i, n - i)
            story = make_id(f"story:{story_no}")
            story_no += 1
            arabic = rng.random() < 0.15
            day = START + timedelta(minutes=rng.randrange(6 * 365 * 24 * 60))
            relevant = rng.random() < 0.45
            first_id = None
            for k in range(size):
                url = f"https://outlet{rng.randrange(200)}.example/{i}"
                copy = k > 0 and first_id is not None and rng.random() < 0.1
                if copy and articles:
                    text = articles[-1].text
                else:
                    topic, vocab, cum = (
                        (AR_TOPIC, ar_vocab, ar_cum) if arabic else (EN_TOPIC, en_vocab, en_cum)
                    )
                    text = _text(rng, topic, vocab, cum, rng.randint(150, 500))
                title = " ".join(text.split()[:9]).rstrip(".")
                art = Article(
                    url=url,
                    source="bench",
                    text=text,
                    title=title,
                    outlet=f"Outlet {url.split('.')[0][14:]}",
                    published_at=day + timedelta(hours=k * rng.randint(1, 30)),
                    date_source="metadata",
                    language="ar" if arabic else "en",
                )
                art = replace(art, content_hash=hashlib.sha256(f"{i}".encode()).hexdigest())
                articles.append(art)
                aid = art.article_id
                first_id = first_id or aid
                decisions.append(DedupDecision(aid, first_id if copy else None))
                story_of[aid] = story
                stance = rng.choice(STANCES) if relevant else "neutral"
                results.append(
                    Classification(
                        aid,
                        relevant,
                        rng.random(),
                        stance,  # type: ignore[arg-type]
                        rng.random(),
                        tuple(rng.sample(EVENT_TYPES, rng.randint(0, 3))) if relevant else (),
                        quotes=(Quote(" ".join(text.split()[10:40]), "A spokesman"),)
                        if relevant and rng.random() < 0.5
                        else (),
                        figures=(Figure(float(rng.randint(100, 5000)), "troops", title),)
                        if relevant and rng.random() < 0.3
                        else (),
                    )
                )
                i += 1
            line = rng.choice(storylines) if rng.random() < 0.6 else None
            stories.append((story, first_id or "", line))
        with store.write() as con:
            stored.insert(con, "bench", articles, now)
            stored.write_decisions(con, decisions, story_of, now)
            stored.write_classifications(con, results, now)
            bulk.insert(
                con,
                "core.stories",
                {
                    "story_id": [s[0] for s in stories],
                    "representative_article_id": [s[1] for s in stories],
                    "created_at": [now] * len(stories),
                    "updated_at": [now] * len(stories),
                    "storyline_id": bulk.strings([s[2] for s in stories]),
                },
            )
    with store.write() as con:
        bulk.insert(
            con,
            "core.storylines",
            {
                "storyline_id": storylines,
                "title": [f"Storyline {k}: {rng.choice(EN_TOPIC)}" for k in range(len(storylines))],
                "created_at": [now] * len(storylines),
                "updated_at": [now] * len(storylines),
            },
        )
    with store.read_write() as con:
        con.execute("CHECKPOINT")
    print(f"built {n:,} articles in {story_no:,} stories in {time.perf_counter() - t0:.0f}s")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def timed(client: httpx.Client, paths: list[str]) -> list[float]:
    out = []
    for path in paths:
        t = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def serve_and_time(
    db: Path, requests: int, stories: list[str], outlets: list[str]
) -> dict[str, list[float]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from procs import free_port, stop  # the tests' helpers

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "web", "--db", str(db), "--port", str(port)],
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    rng = random.Random(SEED)
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    client.get("/static/reader.css")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            t = time.perf_counter()
            client.get("/")  # loads the working set: once per snapshot
            first = (time.perf_counter() - t) * 1000
            lists = [
                rng.choice(
                    [
                        "/",
                        "/?show=all",
                        f"/?outlet={rng.choice(outlets).replace(' ', '+')}",
                        "/?language=ar&stance=for_withdrawal",
                        "/?event=negotiations&page=3",
                    ]
                )
                for _ in range(requests)
            ]
            story_pages = [f"/stories/{rng.choice(stories)}" for _ in range(requests)]
            queries = [rng.choice(QUERIES_EN + QUERIES_AR) for _ in range(requests)]
            searches = [str(httpx.URL("/search", params={"q": q})) for q in queries]
            timed(client, lists[:10] + story_pages[:10] + searches[:10])  # warm-up
            figures = {
                "list": timed(client, lists),
                "story": timed(client, story_pages),
                "search": timed(client, searches),
            }
            figures["first list (loads the working set)"] = [first]
            return figures
    finally:
        stop(proc)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) the archive in this folder.")
    parser.add_argument(
        "--keep-index", action="store_true", help="Refresh the kept search index, not rebuild it."
    )
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-reader-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"reader{args.articles}.duckdb"
    print(f"load average (1, 5, 15 min) at the start: {load()}; {os.cpu_count()} cores")
    if not db.exists():
        build(db, args.articles)
    store = Store(db)
    index = SearchIndex(index_path(db))
    t = time.perf_counter()
    made = index.refresh(store.read) if args.keep_index else index.rebuild(store.read)
    build_s = time.perf_counter() - t
    again = index.refresh(store.read)
    assert made is not None and again is not None
    with store.read() as con:
        stories = [r[0] for r in con.execute("SELECT story_id FROM core.stories").fetchall()]
        outlets = [
            r[0] for r in con.execute("SELECT DISTINCT outlet FROM core.articles").fetchall()
        ]
        words = con.execute("SELECT sum(word_count) FROM core.articles").fetchall()[0][0]
    size_mb = db.stat().st_size / 1e6
    print(
        f"archive: {args.articles:,} articles, {len(stories):,} stories, {words:,} words, "
        f"database {size_mb:.0f} MB"
    )
    print(
        f"search index: {'refreshed' if args.keep_index else 'built from scratch'} in "
        f"{build_s:.1f}s, {index.size() / 1e6:.0f} MB; "
        f"an up-to-date refresh takes {again.seconds:.2f}s"
    )
    results: dict[str, dict[str, float]] = {}
    for mode in ("database", "snapshot"):
        snap = snapshot_path(db)
        if mode == "snapshot":
            shutil.copy(db, snap)
        else:
            snap.unlink(missing_ok=True)
        before = load()
        figures = serve_and_time(db, args.requests, stories, outlets)
        print(
            f"\nreading the {mode} ({args.requests} requests each, over HTTP; "
            f"load average before: {before}):"
        )
        for name, ms in figures.items():
            if len(ms) == 1:
                print(f"  {name:<36} {ms[0]:8.0f} ms")
                continue
            row = {"p50": statistics.median(ms), "p95": p95(ms), "max": max(ms)}
            results[f"{mode} {name}"] = row
            verdict = "ok" if row["p95"] <= 300 else "OVER 300 ms"
            print(
                f"  {name:<36} p50 {row['p50']:6.1f} ms  p95 {row['p95']:6.1f} ms  "
                f"max {row['max']:6.1f} ms  {verdict}"
            )
        snap.unlink(missing_ok=True)
    print(f"\nload average (1, 5, 15 min) at the end: {load()}")
    print(json.dumps(results))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
