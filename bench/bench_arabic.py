"""Arabic ingest beside English, in pages/s, through the real pipeline.

The labelled `eval-ar` pages and as many `eval` pages (the first N of the folder, so both runs
carry the same fixed costs: worker start-up, the database, the feed) are served as a news site on
127.0.0.1 behind an RSS feed (`monitor/evaluate/site.py`, as `monitor eval` does) and ingested by
`pipeline.run_ingest` into a fresh database: fetch, extract, language, dedup, classify, stories,
storylines, store. Rounds alternate English and Arabic; the median of each is reported, with the
machine's load average before and after (timings on a busy machine say little).

    python bench/bench_arabic.py [--rounds 3] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.evaluate import _eval_settings, site  # noqa: E402
from monitor.evaluate.labelled import LabelledArticle, read_eval_dir  # noqa: E402
from monitor.pipeline import run_ingest  # noqa: E402
from monitor.settings import Settings  # noqa: E402


def ingest_seconds(items: list[LabelledArticle], workdir: Path, tag: str) -> tuple[float, int]:
    """Seconds to ingest the items served as pages into a fresh database, and articles stored."""
    db = workdir / f"{tag}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    with site.serve(items, dating="dated") as feed_url:
        settings = _eval_settings(
            Settings.model_validate({"storage": {"db": str(db)}}), db, feed_url, len(items)
        )
        start = time.perf_counter()
        report = run_ingest(settings)
        elapsed = time.perf_counter() - start
    return elapsed, report.articles_new


def main() -> None:
    """Run the rounds and print one JSON object of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    arabic = read_eval_dir(args.data / "eval-ar")
    english = read_eval_dir(args.data / "eval")[: len(arabic)]
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"en": [], "ar": []}
    stored: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-arabic-") as tmp:
        work = Path(tmp)
        ingest_seconds(english[:10], work, "warm")  # imports, first worker pool
        for _ in range(args.rounds):
            for lang, items in (("en", english), ("ar", arabic)):
                seconds, n = ingest_seconds(items, work, lang)
                times[lang].append(seconds)
                stored[lang] = n
    pages = len(arabic)
    en_rate = pages / statistics.median(times["en"])
    ar_rate = pages / statistics.median(times["ar"])
    print(
        json.dumps(
            {
                "pages_per_run": pages,
                "rounds": args.rounds,
                "english_pages_per_s": round(en_rate, 2),
                "arabic_pages_per_s": round(ar_rate, 2),
                "arabic_share_of_english": round(ar_rate / en_rate, 3),
                "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
                "articles_stored": stored,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
