"""Where the CPU-seconds of the 543-page run go: per stage in the workers, per concern in the
main process.

1. **Workers**: the realworld/aeb pages through `extract.extract_pages` (what an extraction
   worker runs per chunk) in this process, each stage's function wrapped in a CPU-time
   (`time.process_time`) counter, after 20 warm-up pages; plus pickling each chunk's result
   (what a worker sends back). Reported as ms per page and as CPU-seconds for `--copies`
   copies of every page (3: the 543 pages of bench_fetch).
2. **Main process**: `cProfile` with a CPU-time timer over `pipeline.run_ingest` of the same
   543 pages, served from another process on 127.0.0.1 (extraction runs in the worker
   processes, not profiled here); every function's own time grouped by what it belongs to
   (HTTP, store, dedup and stories, ...).

The command line adds Prefect (the API server, the client, imports): bench_fetch.py measures
that per process.

    python bench/bench_budget.py [--copies 3] [--top 0]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pickle
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_fetch import bench_settings, copies_of, served  # noqa: E402

from tests.fetch_server import aeb_pages  # noqa: E402

SPENT: dict[str, float] = defaultdict(float)


def _counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.process_time() - start

    return wrapper


def workers(pages: dict[str, bytes], copies: int) -> None:
    """Per-stage CPU of the extraction workers' chunk function."""
    import zlib

    import trafilatura

    from monitor import extract, prepare
    from monitor.models import Page

    stages = [
        (extract, "decode_html", "decode + charset"),
        (extract, "load_html", "HTML parse (lxml)"),
        (extract, "metadata_date", "page date (metadata)"),
        (extract, "page_metadata", "page metadata (title, outlet, author)"),
        (extract, "choose_date", "date choice (feed, URL, text)"),
        (prepare, "sign", "MinHash signatures"),
        (prepare, "content_hash", "content hash"),
        (prepare, "_classify", "classification"),
    ]
    for module, attr, name in stages:
        if hasattr(module, attr):  # an older tree may not have every stage
            setattr(module, attr, _counted(name, getattr(module, attr)))
    extraction = _counted("extraction (trafilatura)", trafilatura.bare_extraction)
    extract.trafilatura.bare_extraction = extraction  # type: ignore[attr-defined]
    compress = zlib.compress
    zlib.compress = _counted("raw HTML compression (zlib)", compress)
    how = prepare.Preparation()
    now = datetime(2026, 1, 1)
    chunk: list[Page] = []

    def run(stem: str, html: bytes, *, flush: bool) -> None:
        url = f"https://bench.example/{stem}"
        chunk.append(Page(url, url, "bench", 200, html, "text/html", None, now, 1))
        if len(chunk) == 8 or flush:
            out = extract.extract_pages(list(chunk), how)
            start = time.process_time()
            pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
            SPENT["pickling the results"] += time.process_time() - start
            chunk.clear()

    items = list(pages.items())
    for i, (stem, html) in enumerate(items[:20]):
        run(stem, html, flush=i == 19)
    SPENT.clear()
    start = time.process_time()
    for i, (stem, html) in enumerate(items):
        run(stem, html, flush=i == len(items) - 1)
    total = time.process_time() - start
    zlib.compress = compress
    n = len(items)
    print(f"workers: {n} pages in one process, {1000 * total / n:.1f} ms CPU per page")
    print(f"  {'stage':42s} {'ms/page':>8s} {'CPU-s for ' + str(n * copies):>16s}")
    rows = sorted(SPENT.items(), key=lambda kv: -kv[1])
    rows.append(("other (the chunk loop, records, cleaning)", total - sum(SPENT.values())))
    for name, spent in rows:
        print(f"  {name:42s} {1000 * spent / n:8.2f} {spent * copies:16.2f}")
    print(f"  {'total':42s} {1000 * total / n:8.2f} {total * copies:16.2f}")


# What a function belongs to, by the first of these found in its file name or its name.
CONCERNS = [
    (
        "HTTP (httpx, httpcore, h11, anyio, asyncio, sockets)",
        (
            "httpx",
            "httpcore",
            "h11",
            "anyio",
            "asyncio",
            "selectors",
            "socket",
            "ssl",
            "sniffio",
            "select.epoll",
            "idna",
        ),
    ),
    ("decompression (gzip/deflate bodies)", ("zlib", "gzip", "_decoders", "brotli")),
    ("charset (decoding bytes)", ("charset_normalizer", "codecs", "decode")),
    ("store (DuckDB, Arrow, monitor.store)", ("duckdb", "pyarrow", "monitor/store")),
    (
        "dedup, stories, storylines",
        ("monitor/dedup", "monitor/stories", "monitor/storylines", "datasketch", "numpy", "scipy"),
    ),
    ("classification (main process)", ("monitor/classify", "sklearn")),
    (
        "sources, feeds, robots, URLs",
        (
            "monitor/fetch",
            "monitor/sources",
            "feedparser",
            "protego",
            "courlan",
            "urllib",
            "monitor/urls",
            "monitor/robots",
        ),
    ),
    (
        "process pool (pickle, pipes, threads)",
        (
            "concurrent",
            "multiprocessing",
            "pickle",
            "threading",
            "_thread",
            "posix.read",
            "posix.write",
        ),
    ),
    ("imports", ("importlib", "marshal", "<frozen", "zipimport")),
    ("logging", ("logging/", "rich/")),
    ("pipeline and collect", ("monitor/",)),
]


def _concern(filename: str, function: str) -> str:
    where = f"{filename} {function}"
    for name, marks in CONCERNS:
        if any(mark in where for mark in marks):
            return name
    return "other (Python runtime, logging, dataclasses)"


def main_process(pages: dict[str, bytes], copies: int, top: int) -> None:
    """cProfile (CPU time) of run_ingest's main process, grouped by concern."""
    from monitor import pipeline

    paths = copies_of(pages, copies)
    with served(paths) as base, tempfile.TemporaryDirectory() as tmp:
        settings = bench_settings(Path(tmp), base + "/feed.xml", len(paths))
        profile = cProfile.Profile(time.process_time)
        wall = time.perf_counter()
        profile.enable()
        summary = pipeline.run_ingest(settings)
        profile.disable()
        wall = time.perf_counter() - wall
    stats = pstats.Stats(profile)
    by_concern: dict[str, float] = defaultdict(float)
    functions = []
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        own, callers = row[2], row[4]
        functions.append((own, f"{filename}:{function}"))
        concern = _concern(filename, function)
        if filename != "~" or not callers or not concern.startswith("other"):
            by_concern[concern] += own
            continue
        # A builtin (dict.get, isinstance, ...) counts for what called it.
        called = sum(c[2] for c in callers.values()) or 1.0
        for (cfile, _cline, cfunction), c in callers.items():
            by_concern[_concern(cfile, cfunction)] += own * c[2] / called
    total = sum(by_concern.values())
    print(
        f"main process: run_ingest of {len(paths)} pages ({summary.articles_new} new) in "
        f"{wall:.1f}s wall, {total:.2f} CPU-s profiled (extraction is in the workers)"
    )
    for name, spent in sorted(by_concern.items(), key=lambda kv: -kv[1]):
        print(f"  {name:58s} {spent:6.2f} s  {100 * spent / total:5.1f} %")
    for own, where in sorted(functions, reverse=True)[:top]:
        print(f"    {own:6.3f} s  {where[-110:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--top", type=int, default=0, help="also list the N costliest functions")
    parser.add_argument("--part", choices=["both", "main", "workers"], default="both")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pages = aeb_pages()
    if not pages:
        sys.exit("../shared/data/realworld/aeb is absent: nothing to measure")
    if args.part in ("both", "main"):
        main_process(pages, args.copies, args.top)
    if args.part in ("both", "workers"):
        workers(pages, args.copies)


if __name__ == "__main__":
    main()
