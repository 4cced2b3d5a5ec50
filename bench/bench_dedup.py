"""Benchmark: deduplication + story clustering of 1,000 new articles over 100,000 stored ones.

Builds a DuckDB file with 100,000 stored, processed articles (synthetic news-length texts, their
MinHash signatures, LSH bands, story features, inverted term index and stories), then stores 1,000
new articles (a tenth of them copies of stored ones, the rest fresh reports, some in the same
stories) and times `find_duplicates` + `assign_stories` exactly as `process_pending` calls them.
Prints the time and the peak memory.

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
from monitor.bulkio import execute, insert_rows
from monitor.models import Article, make_id
from monitor.pipeline import _pending, store_articles
from monitor.store import Store, utcnow

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


def _lead_counts(picked: list[int], sentence_counts: list[dict[str, float]]) -> dict[str, float]:
    """Story-feature counts of a text made of these sentences (its lead, as term_counts does)."""
    out: dict[str, float] = {}
    words = 0
    for idx in picked:
        for term, count in sentence_counts[idx].items():
            out[term] = out.get(term, 0.0) + count
        words += 20
        if words >= stories.LEAD_WORDS:
            break
    return out


def build(db: Path, n_stored: int, n_real: int = 2000) -> tuple[list[datetime], list[str]]:
    """Fill a database with n_stored processed articles; return (dates, texts) of n_real of them
    whose signatures are real (the others get random ones: unrelated texts rarely collide)."""
    rng = random.Random(SEED)
    nprng = np.random.default_rng(SEED)
    vocab = _vocabulary(rng)
    sentences = _sentences(rng, vocab, 20_000)
    sentence_counts = [stories.term_counts(None, s) for s in sentences]
    store = Store(db)
    store.initialize()
    t0 = time.perf_counter()
    ids = [make_id(f"https://stored.example/{i}") for i in range(n_stored)]
    picks = [rng.sample(range(len(sentences)), 24) for _ in range(n_stored)]
    texts = [
        "\n\n".join(" ".join(sentences[k] for k in p[i : i + 3]) for i in range(0, 24, 3))
        for p in picks
    ]
    feats = [_lead_counts(p, sentence_counts) for p in picks]
    dates = [NOW - timedelta(minutes=int(m)) for m in nprng.integers(0, 365 * 24 * 60, n_stored)]
    story_of = [make_id(f"story:{i // 3}") for i in range(n_stored)]
    now = utcnow()
    with store.write() as con:
        insert_rows(
            con,
            "core.articles",
            [
                "article_id",
                "url",
                "canonical_url",
                "source",
                "outlet",
                "title",
                "published_at",
                "date_source",
                "text",
                "word_count",
                "content_hash",
                "first_seen_at",
                "story_id",
                "processed_at",
            ],
            [
                (
                    ids[i],
                    f"https://stored.example/{i}",
                    f"https://stored.example/{i}",
                    "bench",
                    f"outlet{i % 200}",
                    " ".join(texts[i].split()[:9]),
                    dates[i],
                    "metadata",
                    texts[i],
                    len(texts[i].split()),
                    f"{i:032x}",
                    now,
                    story_of[i],
                    now,
                )
                for i in range(n_stored)
            ],
        )
        real = dedup.signatures(texts[:n_real])
        sig_rows = []
        band_rows: list[list[tuple[int, int]]] = []
        random_sigs = nprng.integers(0, 2**32 - 1, size=(n_stored, dedup.NUM_PERM), dtype=np.uint64)
        all_bands = [b for b in range(dedup.BANDS)] + [
            b + dedup.LEAD_BAND_OFFSET for b in range(dedup.BANDS)
        ]
        random_buckets = nprng.integers(0, 2**62, size=(n_stored, len(all_bands)), dtype=np.int64)
        for i in range(n_stored):
            if i < n_real:
                sig_rows.append((ids[i], ids[i], real[i].size, dedup.signature_blob(real[i].full)))
                band_rows.append(dedup.article_buckets(real[i]))
            else:
                sig_rows.append((ids[i], ids[i], 300, dedup.signature_blob(random_sigs[i])))
                band_rows.append(list(zip(all_bands, random_buckets[i].tolist(), strict=True)))
        insert_rows(
            con, "core.minhash", ["article_id", "url_key", "shingle_count", "signature"], sig_rows
        )
        execute(
            con,
            "INSERT INTO core.lsh_bands SELECT unnest($1::SMALLINT[]), unnest($2::BIGINT[]), "
            "unnest($3::VARCHAR[])",
            [
                [b for bs in band_rows for b, _ in bs],
                [k for bs in band_rows for _, k in bs],
                [ids[i] for i, bs in enumerate(band_rows) for _ in bs],
            ],
        )
        insert_rows(
            con,
            "core.story_features",
            ["article_id", "story_id", "event_at", "vector", "cues"],
            [
                (ids[i], story_of[i], dates[i], stories.encode_counts(f), [])
                for i, f in enumerate(feats)
            ],
        )
        df: dict[str, int] = {}
        for f in feats:
            for term in f:
                df[term] = df.get(term, 0) + 1
        insert_rows(con, "core.term_df", ["term", "df"], list(df.items()))
        idf = stories._Idf(df, n_stored)
        insert_rows(
            con,
            "core.story_terms",
            ["term", "article_id"],
            [
                (t, ids[i])
                for i, f in enumerate(feats)
                for t in idf.top_terms(idf.weights(f), stories.INDEX_TERMS)
            ],
        )
        story_ids = sorted(set(story_of))
        insert_rows(
            con,
            "core.stories",
            ["story_id", "representative_article_id", "created_at", "updated_at"],
            [(s, s, now, now) for s in story_ids],
        )
        execute(
            con,
            "INSERT INTO core.story_spans SELECT story_id, min(published_at), max(published_at) "
            "FROM core.articles GROUP BY story_id",
        )
    print(f"built {n_stored:,} stored articles in {time.perf_counter() - t0:.1f}s")
    return dates[:n_real], texts[:n_real]


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
        pending = _pending(con, 5000)
        if trace:
            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        decisions = dedup.find_duplicates(con, pending)
        stories.assign_stories(con, pending, decisions)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        execute(con, "ROLLBACK")
        execute(con, "BEGIN TRANSACTION")
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
        store_articles(Store(db), "bench", new_articles(args.new, dates, texts), [])
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
