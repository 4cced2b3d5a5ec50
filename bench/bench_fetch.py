"""Fetch + extract throughput, through the command line and in-process, against a bare loop.

Serves the realworld/aeb pages N times over from another process on 127.0.0.1 (every copy a
distinct URL and distinct bytes: an injected comment), behind an RSS feed, with the politeness
delay at 0. Then, in this order:

1. **The command line**, as a user runs it: `monitor run --config monitor.toml` in a fresh
   folder with a fresh PREFECT_HOME (the run is in-process: no Prefect server). Reported: the
   run's own time (its `runs` row) and pages/s, the whole process's wall time (and how much of
   it lies beyond the run), CPU seconds and peak RSS (largest process of its tree).
2. **A nothing-new run** right after (every page already stored), and the same pages into a
   fresh database.
3. **In-process**: `pipeline.run_ingest` called directly on a fresh database, each stage timed
   through its progress events.
4. **The bare loop**: `trafilatura.bare_extraction(html, with_metadata=True)` over the same
   HTML in this one process.

    python bench/bench_fetch.py [--copies 3] [--workers N] [--skip-inprocess]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import trafilatura  # noqa: E402

from monitor import pipeline  # noqa: E402
from monitor.progress import Progress  # noqa: E402
from monitor.settings import Settings, load_settings  # noqa: E402
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


@contextmanager
def served(paths: dict[str, bytes]) -> Iterator[str]:
    """The pages, their feed and robots.txt served by another process on 127.0.0.1 while the
    block runs; its base URL."""
    ctx = multiprocessing.get_context("fork")
    port_box, stop = ctx.Value("i", 0), ctx.Event()
    server = ctx.Process(target=serve, args=(paths, port_box, stop), daemon=True)
    server.start()
    try:
        while port_box.value == 0:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_box.value}"
    finally:
        stop.set()
        server.join(timeout=5)


def bench_settings(folder: Path, feed_url: str, n: int, workers: int | None = None) -> Settings:
    """The settings of `write_config`'s file, for the pipeline called in-process."""
    return load_settings(write_config(folder, feed_url, n, workers))


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def write_config(folder: Path, feed_url: str, n: int, workers: int | None) -> Path:
    """The monitor.toml of a user who follows one feed on 127.0.0.1."""
    lines = [
        "[storage]",
        f"db = {json.dumps(str(folder / 'data' / 'monitor.duckdb'))}",
        "[seeds]",
        "dirs = []",
        "[[sources]]",
        'name = "bench"',
        'kind = "feed"',
        f"url = {json.dumps(feed_url)}",
        "[fetch]",
        "per_host_delay_s = 0",
        f"trusted_hosts = {_toml_list(['127.0.0.1'])}",
        "per_host_concurrency = 4",
        f"max_articles_per_source = {n}",
    ]
    if workers:
        lines += ["[runner]", f"workers = {workers}"]
    config = folder / "monitor.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


_TICK = os.sysconf("SC_CLK_TCK")


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, float, str, int] | None:
    """(parent pid, CPU seconds so far, command, resident bytes) of a live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, cmd, int(fields[21]) * _PAGE


class TreeCpu:
    """CPU seconds of a process and all its descendants, by role, sampled from /proc.

    wait4's rusage misses the extraction workers (children of the forkserver, which is not
    waited for); sampling every 0.1 s sees every process that lives longer than that.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.last: dict[int, tuple[float, str]] = {}
        self.peak_rss = 0  # the largest sum of the tree's resident memory seen

    def sample(self) -> None:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (st := _stat(int(entry))) is not None:
                stats[int(entry)] = st
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _, _, _) in stats.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        for pid in tree & stats.keys():
            self.last[pid] = (stats[pid][1], stats[pid][2])
        self.peak_rss = max(self.peak_rss, sum(stats[pid][3] for pid in tree & stats.keys()))

    def by_role(self) -> dict[str, float]:
        roles: dict[str, float] = {}
        for pid, (cpu, cmd) in self.last.items():
            if pid == self.root:
                role = "main process"
            elif "prefect" in cmd:
                role = "Prefect"
            else:
                role = "extraction workers"  # the forkserver and its children
            roles[role] = roles.get(role, 0.0) + cpu
        return roles


class CliRun:
    """One `monitor run` process: wall time, CPU and peak RSS of its tree, its `runs` row."""

    def __init__(
        self, folder: Path, config: Path, env: dict[str, str], *, args: tuple[str, ...] = ()
    ) -> None:
        command = [sys.executable, "-m", "monitor.cli", "run", "--config", str(config), *args]
        start = time.perf_counter()
        # Files, not pipes: a pipe nobody reads while the run goes on (-v) fills and blocks it.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
            tree = TreeCpu(proc.pid)
            while True:
                tree.sample()
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.1)
            self.wall = time.perf_counter() - start
            out.seek(0)
            err.seek(0)
            self.stdout = out.read().decode(errors="replace")
            self.stderr = err.read().decode(errors="replace")
        # The main process's own CPU is its last /proc sample (at most 0.1 s old).
        self.roles = tree.by_role()
        self.cpu = sum(self.roles.values())
        self.peak_rss_mb = usage.ru_maxrss / 1024  # the largest process it waited for
        self.peak_tree_rss_mb = tree.peak_rss / 2**20  # all its processes together
        self.returncode = os.waitstatus_to_exitcode(status)
        proc.returncode = self.returncode
        if self.returncode != 0:
            sys.exit(f"monitor run failed ({self.returncode}):\n{self.stdout}\n{self.stderr}")
        con = duckdb.connect(str(folder / "data" / "monitor.duckdb"), read_only=True)
        try:
            row = con.execute(
                "SELECT articles_new, epoch(finished_at) - epoch(started_at) FROM runs "
                "ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        finally:
            con.close()
        assert row is not None
        self.new, self.pipeline = int(row[0]), float(row[1])

    def line(self, what: str, pages: int | None = None) -> str:
        rate = f" = {pages / self.pipeline:.1f} pages/s" if pages else ""
        return (
            f"  {what}: own run {self.pipeline:.2f}s{rate} ({self.new} new); process "
            f"{self.wall:.2f}s wall ({self.wall - self.pipeline:.2f}s beyond the run), "
            f"peak RSS {self.peak_rss_mb:.0f} MiB\n    CPU {self.cpu:.1f}s: "
            + ", ".join(f"{role} {cpu:.1f}s" for role, cpu in sorted(self.roles.items()))
        )


def command_line(base: str, n: int, workers: int | None) -> list[tuple[str, CliRun, int]]:
    """The first run, a nothing-new run, and the same pages into a fresh database."""
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        folder = Path(tmp)
        config = write_config(folder, base + "/feed.xml", n, workers)
        home = folder / ".prefect-home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MONITOR_"))}
        env |= {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": str(ROOT),  # this checkout's code, also when run from a worktree
        }
        other = folder / "second"
        other.mkdir()
        other_config = write_config(other, base + "/feed.xml", n, workers)
        runs = [("first run", CliRun(folder, config, env), n)]
        runs.append(("nothing new", CliRun(folder, config, env), 0))
        runs.append(("same pages, fresh database", CliRun(other, other_config, env), n))
    return runs


class StageTimer(Progress):
    """Seconds spent in each stage of one run, from its progress events."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def stage(self, name: str) -> None:
        """A stage begins: the previous one ends."""
        self.done()
        self._stage, self._since = name, time.perf_counter()

    def done(self) -> None:
        """Close the stage under way."""
        if self._stage is not None:
            self.seconds[self._stage] = time.perf_counter() - self._since
            self._stage = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--skip-inprocess", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pages = aeb_pages()
    if not pages:
        sys.exit("../shared/data/realworld/aeb is absent: nothing to benchmark")
    paths = copies_of(pages, args.copies)
    n = len(paths)
    load_before = os.getloadavg()
    print(
        f"{n} pages ({len(pages)} aeb pages x {args.copies} copies), "
        f"{sum(map(len, paths.values())) / 1e6:.0f} MB of HTML, {os.cpu_count()} cores, "
        f"served by another process; load average before: {load_before[0]:.2f}"
    )

    with served(paths) as base:
        cli = command_line(base, n, args.workers)
        if not args.skip_inprocess:
            with tempfile.TemporaryDirectory() as tmp:
                settings = bench_settings(Path(tmp), base + "/feed.xml", n, args.workers)
                start, main_cpu = time.perf_counter(), time.process_time()
                timer = StageTimer()
                summary = pipeline.run_ingest(settings, progress=timer)
                timer.done()
                total = time.perf_counter() - start
                main_cpu = time.process_time() - main_cpu
                timings = timer.seconds

    start, cpu = time.perf_counter(), time.process_time()
    for html in paths.values():
        trafilatura.bare_extraction(html, with_metadata=True)
    bare = time.perf_counter() - start
    share = (time.process_time() - cpu) / bare
    bare_rate = n / bare

    print("monitor run (the command line; fresh folder and PREFECT_HOME):")
    for what, run, pages_in in cli:
        print(run.line(what, pages_in or None))
    if not args.skip_inprocess:
        collect_s = timings.get("sources", 0.0)
        print(
            f"in-process run_ingest: {summary.articles_new} new articles, {summary.errors} "
            f"errors; main process CPU {main_cpu:.1f}s (extraction is in workers)"
        )
        print(
            f"  collect + store (fetch, parallel extraction): {collect_s:.1f}s = "
            f"{n / collect_s:.1f}/s"
        )
        print(
            f"  process (dedup, stories, classify what is left): {timings['processing']:.1f}s; "
            f"publish: {timings.get('publishing', 0.0):.1f}s"
        )
        print(
            f"  whole run_ingest (+ store, dedup, stories): {total:.1f}s = {n / total:.1f} "
            f"pages/s = {bare / total:.2f}x the bare loop"
        )
    print(
        f"bare trafilatura loop, one process: {bare:.1f}s = {bare_rate:.1f} pages/s "
        f"(it got {share:.0%} of a core)"
    )
    first, steady = cli[0][1], cli[2][1]
    print(
        f"ratio: the command line's own run / bare loop = "
        f"{(n / first.pipeline) / bare_rate:.2f}x first run, "
        f"{(n / steady.pipeline) / bare_rate:.2f}x the same pages again (target >= 1.6x)"
    )
    print(
        f"load average: {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after, on "
        f"{os.cpu_count()} cores (other work on the machine shrinks what the workers can gain)"
    )


if __name__ == "__main__":
    main()
