"""Scale: archives of 10,000 and 100,000 articles, then 1,000 new pages through the real ingest.

For each archive size, in a fresh folder:

1. **Build** the archive through the library's own writers (`bench_dedup.build`: stored,
   processed articles with MinHash signatures, LSH bands, story features, the term index and
   stories), in chunks of 2,500 (`--chunk`), in a child process: its time and peak RSS
   (target <= 2 GB).
2. **A first digest** (`monitor digest --since last`, none recorded yet: the whole archive), so
   that "last" afterwards means "since the archive".
3. **Serve 1,000 new pages** from another process on 127.0.0.1 behind one feed: the 181
   realworld/aeb pages, 100 reprints of archived texts (dedup has to find them in the
   archive), and on-topic synthetic reports for the rest.
4. **`monitor run -v`** on the archive (in-process, no Prefect server): its own time, the peak
   RSS of its largest process and of all its processes together, and the dedup + stories time
   the run logs.
5. **`monitor digest --since last`**: the 1,000 new pages' digest, over the whole archive.
6. **Database size** per article (blocks in use): the archive's (its rows carry no raw HTML
   and no classification), and what each ingested article added (its compressed HTML,
   classification, fetch log).

Then how each figure grows from the smallest to the largest size.

    python bench/bench_scale.py [--sizes 10000,100000] [--new 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import duckdb  # noqa: E402
from bench_fetch import CliRun, served, write_config  # noqa: E402

from tests.fetch_server import aeb_pages  # noqa: E402
from tests.synthetic import synthetic_text  # noqa: E402

NOW = datetime(2026, 1, 1)  # bench_dedup's archive ends here
DIGEST = [sys.executable, "-m", "monitor.cli", "digest"]
PROCESS_LINE = re.compile(r"process: dedup \+ stories of (\d+) articles ([\d.]+)s")


def build_child(db: Path, n_stored: int, texts_out: Path, chunk: int) -> None:
    """In a child process: build the archive, write a sample of its texts, print figures."""
    from bench_dedup import build

    start = time.perf_counter()
    dates, texts = build(db, n_stored, chunk=chunk)
    sample = [{"text": t, "published": d.isoformat()} for d, t in zip(dates, texts, strict=True)]
    texts_out.write_text(json.dumps(sample), encoding="utf-8")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": peak}))


def _page(title: str, text: str, published: datetime) -> bytes:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        f"<meta property='article:published_time' content='{published.isoformat()}Z'>"
        "</head><body><header><nav><a href='/'>Home</a></nav></header>"
        f"<article><h1>{html.escape(title)}</h1>{paragraphs}</article>"
        "<footer>Copyright bench news</footer></body></html>"
    ).encode()


def new_pages(n: int, archived: list[dict[str, str]]) -> dict[str, bytes]:
    """path -> HTML of the new pages: the aeb pages, reprints of archived texts, synthetic."""
    rng = random.Random(11)
    pages = {f"/aeb/{stem}.html": body for stem, body in aeb_pages().items()}
    reprints = min(100, len(archived), max(0, n - len(pages)))
    for i, picked in enumerate(rng.sample(archived, reprints)):
        text = picked["text"]
        when = datetime.fromisoformat(picked["published"]) + timedelta(hours=rng.randint(1, 48))
        pages[f"/reprint/{i}.html"] = _page(" ".join(text.split()[:9]), text, when)
    i = 0
    while len(pages) < n:
        body = synthetic_text(rng, 100_000 + i)
        title, text = body.split("\n\n", 1)
        when = NOW - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        pages[f"/new/{i}.html"] = _page(title, text, when)
        i += 1
    return dict(list(pages.items())[:n])


def digest(folder: Path, config: Path, env: dict[str, str], out: Path) -> float:
    """Wall seconds of `monitor digest --since last --out OUT`."""
    start = time.perf_counter()
    done = subprocess.run(
        [*DIGEST, "--config", str(config), "--since", "last", "--out", str(out)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"monitor digest failed:\n{done.stdout}\n{done.stderr}")
    return took


def used(db: Path) -> tuple[int, int]:
    """(articles stored, bytes of the file's blocks in use): DuckDB reuses freed blocks, so the
    file's size alone says little about what was added."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        articles = con.execute("SELECT count(*) FROM core.articles").fetchone()
        blocks = con.execute("SELECT used_blocks * block_size FROM pragma_database_size()")
        in_use = blocks.fetchone()
    finally:
        con.close()
    assert articles is not None and in_use is not None
    return int(articles[0]), int(in_use[0])


def one_size(
    workdir: Path, size: int, n_new: int, env: dict[str, str], chunk: int
) -> dict[str, float]:
    """Every figure for one archive size."""
    folder = workdir / f"archive-{size}"
    db = folder / "data" / "monitor.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    texts = folder / "archived-texts.json"
    built = subprocess.run(
        [sys.executable, __file__, "--build-child", str(db), str(size), str(texts), str(chunk)],
        capture_output=True,
        text=True,
        env=env,
    )
    if built.returncode != 0:
        sys.exit(f"building the archive failed:\n{built.stdout}\n{built.stderr}")
    figures = json.loads(built.stdout.strip().splitlines()[-1])
    _, archive_bytes = used(db)
    archived = json.loads(texts.read_text(encoding="utf-8"))

    paths = new_pages(n_new, archived)
    with served(paths) as base:
        config = write_config(folder, base + "/feed.xml", n_new, None)
        first_digest = digest(folder, config, env, folder / "first-digest.md")
        run = CliRun(folder, config, env, args=("-v",))
        (folder / "run.log").write_text(run.stderr, encoding="utf-8")
        since_last = digest(folder, config, env, folder / "digest.md")
    grouped = [float(m.group(2)) for m in PROCESS_LINE.finditer(run.stderr)]
    grouped_n = sum(int(m.group(1)) for m in PROCESS_LINE.finditer(run.stderr))
    stored, after_bytes = used(db)
    return {
        "size": size,
        "build_s": figures["seconds"],
        "build_peak_rss_mb": figures["peak_rss_mb"],
        "first_digest_s": first_digest,
        "run_own_s": run.pipeline,
        "run_wall_s": run.wall,
        "run_new": run.new,
        "run_peak_rss_mb": run.peak_rss_mb,
        "run_tree_rss_mb": run.peak_tree_rss_mb,
        "dedup_stories_s": sum(grouped),
        "dedup_stories_n": grouped_n,
        "digest_since_last_s": since_last,
        "archive_bytes_per_article": archive_bytes / size,
        "ingested_bytes_per_article": (after_bytes - archive_bytes) / max(stored - size, 1),
        "db_mb": after_bytes / 2**20,
    }


ROWS = [
    ("build the archive (library writers)", "build_s", "{:.0f} s"),
    ("  peak RSS of the build", "build_peak_rss_mb", "{:.0f} MiB"),
    ("first digest (whole archive)", "first_digest_s", "{:.2f} s"),
    ("monitor run: own time", "run_own_s", "{:.2f} s"),
    ("  whole process", "run_wall_s", "{:.2f} s"),
    ("  new articles", "run_new", "{:.0f}"),
    ("  peak RSS, largest process", "run_peak_rss_mb", "{:.0f} MiB"),
    ("  peak RSS, all its processes", "run_tree_rss_mb", "{:.0f} MiB"),
    ("  dedup + stories (logged)", "dedup_stories_s", "{:.2f} s"),
    ("digest --since last", "digest_since_last_s", "{:.2f} s"),
    ("archive bytes per article", "archive_bytes_per_article", "{:.0f}"),
    ("bytes per ingested article", "ingested_bytes_per_article", "{:.0f}"),
    ("database in use", "db_mb", "{:.0f} MiB"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the databases here")
    parser.add_argument("--chunk", type=int, default=2500, help="articles per build transaction")
    parser.add_argument("--build-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_child:
        db, size, texts, chunk = args.build_child
        build_child(Path(db), int(size), Path(texts), int(chunk))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / ".prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MONITOR_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    load_before = os.getloadavg()
    print(f"{os.cpu_count()} cores; load average before: {load_before[0]:.2f}")
    results = []
    try:
        for size in sizes:
            results.append(one_size(workdir, size, args.new, env, args.chunk))
            print(f"archive of {size:,}: done ({time.strftime('%H:%M:%S')})", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    header = f"{'':40s}" + "".join(f"{r['size']:>14,}" for r in results)
    if len(results) > 1:
        header += f"{'growth':>10s}"
    print(header)
    for label, key, fmt in ROWS:
        line = f"{label:40s}" + "".join(f"{fmt.format(r[key]):>14s}" for r in results)
        if len(results) > 1 and results[0][key]:
            line += f"{results[-1][key] / results[0][key]:>9.2f}x"
        print(line)
    print(
        f"dedup + stories target < 1.5 s for {args.new:,} new pages over the largest archive: "
        f"{results[-1]['dedup_stories_s']:.2f} s; build peak RSS target <= 2048 MiB: "
        f"{max(r['build_peak_rss_mb'] for r in results):.0f} MiB"
    )
    print(
        f"load average: {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after, on "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
