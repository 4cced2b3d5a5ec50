"""Benchmark: deduplication + story clustering of 1,000 new articles over 100,000 stored ones.

Builds a DuckDB file with 100,000 stored, processed articles (synthetic news-length texts, their
MinHash signatures, LSH bands, story features, inverted term index and stories) through the
store's own writers, in chunks, then stores 1,000 new articles (a tenth of them copies of stored
ones, the rest fresh reports) and times `pipeline.deduplicate_and_group`, the step
`process_pending` runs per batch. Prints the time and the peak memory.

    python bench/bench_dedup.py [--stored 100000] [--new 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor import dedup, stories
from monitor.models import Article, DedupDecision, TextSignature, make_id
from monitor.pipeline import deduplicate_and_group, store_articles
from monitor.prepare import Preparation, prepare_articles
from monitor.store import Store, signatures, utcnow
from monitor.store import articles as stored
from monitor.store import stories as story_store

SEED = 7
NOW = datetime(2026, 1, 1)


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(size)}
    return sorted(words)


def _sentences(rng: random.Random, vocab: list[str], n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = rng.choices(vocab, k=rng.randint(12, 30))
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + ".")
    return out


def _text(rng: random.Random, sentences: list[str], n_sentences: int = 24) -> str:
    picked = rng.sample(sentences, n_sentences)
    return "\n\n".join(" ".join(picked[i : i + 3]) for i in range(0, n_sentences, 3))


def _random_signature(nprng: np.random.Generator) -> TextSignature:
    """Signature of an unrelated text: random values rarely share a band with anything."""
    values = nprng.integers(0, 2**32 - 1, size=(2, dedup.NUM_PERM), dtype=np.uint64)
    return TextSignature(values[0].astype("<u4").tobytes(), values[1].astype("<u4").tobytes(), 300)


def build(
    db: Path, n_stored: int, n_real: int = 2000, chunk: int = 5000
) -> tuple[list[datetime], list[str]]:
    """Fill a database with n_stored processed articles through the library's own writers, in
    chunks (memory stays bounded); return (dates, texts) of the n_real whose signatures are
    real (the others get random ones: unrelated texts rarely collide)."""
    rng = random.Random(SEED)
    nprng = np.random.default_rng(SEED)
    vocab = _vocabulary(rng)
    sentences = _sentences(rng, vocab, 20_000)
    store = Store(db)
    store.migrate()
    t0 = time.perf_counter()
    now = utcnow()
    real_dates: list[datetime] = []
    real_texts: list[str] = []
    for start in range(0, n_stored, chunk):
        idx = range(start, min(start + chunk, n_stored))
        texts = [_text(rng, sentences) for _ in idx]
        dates = [
            NOW - timedelta(minutes=int(m)) for m in nprng.integers(0, 365 * 24 * 60, len(idx))
        ]
        n_signed = max(0, min(n_real - start, len(idx)))
        sigs = dedup.sign(texts[:n_signed]) + [_random_signature(nprng) for _ in idx[n_signed:]]
        articles = [
            Article(
                url=f"https://stored.example/{i}",
                source="bench",
                text=text,
                title=" ".join(text.split()[:9]),
                outlet=f"outlet{i % 200}",
                published_at=when,
                date_source="metadata",
                content_hash=f"{i:032x}",  # distinct texts; hashing 100k of them proves nothing
                signature=sig,
            )
            for i, text, when, sig in zip(idx, texts, dates, sigs, strict=True)
        ]
        real_dates += dates[:n_signed]
        real_texts += texts[:n_signed]
        with store.write() as con:
            stored.insert(con, "bench", articles, now)
            pending = stored.pending(con, chunk)
            signatures.save_bands(con, dedup.probes(pending))
            # Stories of three reports each, as clustering would have left them.
            originals = sorted(pending, key=lambda a: int(a.url.rsplit("/", 1)[1]))
            story_of = {
                a.article_id: make_id(f"story:{int(a.url.rsplit('/', 1)[1]) // 3}")
                for a in originals
            }
            batch = stories.Batch.of(originals)
            scored = stories.score(batch, story_store.term_stats(con, batch))
            new = sorted({(sid, aid) for aid, sid in story_of.items()})
            story_store.save(con, scored, new, story_of, now)
            decisions = [DedupDecision(a.article_id, None) for a in originals]
            stored.write_decisions(con, decisions, story_of, now)
            story_store.refresh(con, sorted(set(story_of.values())), now)
    print(f"built {n_stored:,} stored articles in {time.perf_counter() - t0:.1f}s")
    return real_dates, real_texts


def new_articles(
    n_new: int, stored_dates: list[datetime], stored_texts: list[str]
) -> list[Article]:
    """n_new fresh articles: every tenth a copy of a stored one, the rest new texts."""
    rng = random.Random(SEED + 1)
    vocab = _vocabulary(rng)
    sentences = _sentences(rng, vocab, 20_000)
    out = []
    for i in range(n_new):
        when = NOW - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        if i % 10 == 0:
            k = rng.randrange(len(stored_texts))
            text = "Advertisement\n\n" + stored_texts[k] + "\n\nShare this article"
            when = stored_dates[k] + timedelta(hours=rng.randint(1, 48))
        else:
            text = _text(rng, sentences)
        out.append(
            Article(
                url=f"https://new.example/{i}?utm_source=rss",
                source="bench",
                text=text,
                title=" ".join(text.split()[:9]),
                outlet=f"outlet{i % 50}",
                published_at=when,
                date_source="metadata",
            )
        )
    return out


def timed_step(db: Path, *, trace: bool) -> tuple[float, float, int, int]:
    """Dedup + story assignment of everything pending, as process_pending does it; rolled back.

    Returns wall seconds, CPU seconds of this process, peak traced bytes, copies found."""
    store = Store(db)
    with store.write() as con:
        pending = stored.pending(con, 5000)
        if trace:
            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        decisions, _ = deduplicate_and_group(con, pending, utcnow())
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        con.execute("ROLLBACK")
        con.execute("BEGIN TRANSACTION")
    return elapsed, cpu, peak, sum(1 for d in decisions if d.duplicate_of)


def main() -> None:
    """Build, store the new batch, time the step, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the database here")
    parser.add_argument(
        "--reuse", action="store_true", help="time again on the database kept by --keep"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (best is reported)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench.duckdb"
    if not (args.reuse and db.exists()):
        db.unlink(missing_ok=True)
        dates, texts = build(db, args.stored)
        fresh = prepare_articles(new_articles(args.new, dates, texts), Preparation())
        store_articles(Store(db), "bench", fresh, [])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runs = [timed_step(db, trace=False) for _ in range(max(1, args.repeat))]
    elapsed, cpu, _, copies = min(runs)
    _, _, peak, _ = timed_step(db, trace=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stored = Store(db).query("SELECT count(*) FROM core.articles WHERE processed_at IS NOT NULL")
    print(
        f"dedup + clustering of {args.new:,} new articles over {stored[0][0]:,} stored: "
        f"{elapsed:.2f}s wall, {cpu:.2f}s CPU (best of {len(runs)}: "
        f"{', '.join(f'{r[0]:.2f}' for r in runs)}; {copies} copies found)"
    )
    print(f"peak Python heap during the step (tracemalloc): {peak / 2**20:.1f} MiB")
    print(f"peak RSS of the process: {rss_mb:.0f} MiB ({rss_before:.0f} MiB before the timed runs)")
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
