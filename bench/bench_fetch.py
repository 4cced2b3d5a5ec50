"""Fetch + extract throughput: the real pipeline against a bare single-process trafilatura loop.

Serves the realworld/aeb pages N times over from 127.0.0.1 (every copy a distinct URL and distinct
bytes: an injected comment), runs the steps of `run_ingest` (each timed) with the politeness
delay at 0, and in the same run times `trafilatura.bare_extraction(html, with_metadata=True)`
over the same HTML in one process.

    python bench/bench_fetch.py [--copies 3] [--workers N]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from monitor import pipeline  # noqa: E402
from monitor.collect import collect, save_fetch_state  # noqa: E402
from monitor.models import RunSummary  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from tests.fetch_server import ROBOTS, LocalServer, aeb_pages, rss, static  # noqa: E402

T = TypeVar("T")


def copies_of(pages: dict[str, bytes], copies: int) -> dict[str, bytes]:
    """path -> distinct HTML bytes for each copy of each page."""
    out = {}
    for i in range(copies):
        for stem, html in pages.items():
            marker = f"<!-- bench copy {i} of {stem} -->".encode()
            out[f"/c{i}/{stem}.html"] = marker + html
    return out


def serve(paths: dict[str, bytes], port_box: Any, stop: Any) -> None:
    """Child process: serve the pages, a feed listing them and robots.txt until told to stop."""
    server = LocalServer()
    for path, html in paths.items():
        server.routes[path] = static(html)
    server.routes["/robots.txt"] = static(ROBOTS, "text/plain")
    items = [{"title": p, "link": server.url(p)} for p in paths]
    server.routes["/feed.xml"] = static(rss(items), "application/rss+xml")
    port_box.value = server.server_address[1]
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop.wait()
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pages = aeb_pages()
    if not pages:
        sys.exit("../shared/data/realworld/aeb is absent: nothing to benchmark")
    paths = copies_of(pages, args.copies)
    n = len(paths)
    ctx = multiprocessing.get_context("fork")
    port_box = ctx.Value("i", 0)
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(paths, port_box, stop), daemon=True)
    server.start()
    while port_box.value == 0:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port_box.value}"
    print(
        f"{n} pages ({len(pages)} aeb pages x {args.copies} copies), "
        f"{sum(map(len, paths.values())) / 1e6:.0f} MB of HTML, {os.cpu_count()} cores"
    )

    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., T], /, *a: Any) -> T:
        start = time.perf_counter()
        try:
            return fn(*a)
        finally:
            timings[name] = time.perf_counter() - start

    def ingest(settings: Settings) -> RunSummary:
        """pipeline.run_ingest's steps, each timed."""
        store = pipeline.open_store(settings)
        summary = pipeline.start_run(store)
        collected = timed("collect", collect, settings, store, summary.run_id)
        inserted = timed(
            "store_collected",
            pipeline.store_articles,
            store,
            summary.run_id,
            collected.articles,
            collected.records,
        )
        pipeline.count_stored(summary, collected.records, inserted)
        save_fetch_state(store, settings, collected)
        timed("process", pipeline.process_pending, store, settings)
        pipeline.finish_run(store, summary)
        return summary

    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings.model_validate(
                {
                    "storage": {"db": str(Path(tmp) / "bench.duckdb")},
                    "seeds": {"dirs": []},
                    "sources": [{"name": "bench", "kind": "feed", "url": base + "/feed.xml"}],
                    "fetch": {
                        "per_host_delay_s": 0,
                        "trusted_hosts": ["127.0.0.1"],
                        "per_host_concurrency": 4,
                        "max_articles_per_source": n,
                    },
                    "runner": {"workers": args.workers},
                }
            )
            start, main_cpu = time.perf_counter(), time.process_time()
            summary = ingest(settings)
            total = time.perf_counter() - start
            main_cpu = time.process_time() - main_cpu
    finally:
        stop.set()
        server.join(timeout=5)
    collect_s = timings.get("collect", 0.0)
    store_s = timings.get("store_collected", 0.0)
    print(
        f"pipeline: {summary.articles_new} new articles, {summary.errors} errors; "
        f"main process CPU {main_cpu:.1f}s (fetch, store, classify; extraction is in workers)"
    )
    rate = n / collect_s
    print(f"  collect (fetch + parallel extraction): {collect_s:.1f}s = {rate:.1f} pages/s")
    print(
        f"  collect + store: {collect_s + store_s:.1f}s = {n / (collect_s + store_s):.1f} pages/s"
    )
    print(
        f"  whole run_ingest (+ dedup, stories, classify): {total:.1f}s = {n / total:.1f} pages/s"
    )

    start, cpu = time.perf_counter(), time.process_time()
    for html in paths.values():
        trafilatura.bare_extraction(html, with_metadata=True)
    bare = time.perf_counter() - start
    share = (time.process_time() - cpu) / bare
    print(
        f"bare trafilatura loop, one process: {bare:.1f}s = {n / bare:.1f} pages/s "
        f"(it got {share:.0%} of a core)"
    )
    print(
        f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other work on the machine shrinks what the worker processes can gain)"
    )
    print(
        f"ratio collect+store / bare: {bare / (collect_s + store_s):.2f}x; "
        f"whole run / bare: {bare / total:.2f}x (target >= 1.3x)"
    )


if __name__ == "__main__":
    main()
