"""Crash safety end to end: SIGKILL `monitor run` at random moments, then run normally.

After every kill the database opens, nothing stored before is gone, nothing is stored twice;
after the final normal run every article is processed and classified, and the runs that were
cut short are marked 'interrupted'. The runs talk to one real Prefect server (started once)
so each is a few seconds of work rather than a temporary server's start-up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.procs import prefect_server, run_lock_held
from tests.synthetic import make_seed_dir, synthetic_text

pytestmark = pytest.mark.slow

TRIALS = 5
NEW_PER_TRIAL = 60


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as env:
        yield env


def monitor_run(db: Path, seeds: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "monitor.cli",
        "run",
        "--no-fetch",
        "--db",
        str(db),
        "--seeds",
        str(seeds),
    ]


def snapshot(db: Path) -> dict[str, object]:
    """What the database holds; opening it read-write also proves it is not left corrupt."""
    con = duckdb.connect(str(db))
    try:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "ids": {r[0] for r in con.execute("SELECT article_id FROM core.articles").fetchall()},
            "rows": one("SELECT count(*) FROM core.articles"),
            "distinct_ids": one("SELECT count(DISTINCT article_id) FROM core.articles"),
            "distinct_urls": one("SELECT count(DISTINCT url) FROM core.articles"),
            "classified": {
                r[0] for r in con.execute("SELECT article_id FROM core.classifications").fetchall()
            },
            "pending": one("SELECT count(*) FROM core.articles WHERE processed_at IS NULL"),
            "runs": con.execute("SELECT status FROM core.runs ORDER BY started_at").fetchall(),
        }
    except duckdb.CatalogException:  # killed before the first migration committed
        return {"ids": set(), "classified": set(), "rows": 0, "runs": []}
    finally:
        con.close()


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    print(f"CRASH_SEED={seed}")
    seeds = make_seed_dir(tmp_path / "seeds", 0)
    db = tmp_path / "monitor.duckdb"
    before: dict[str, object] = {"ids": set(), "classified": set()}
    killed_runs = 0
    n = 0

    for trial in range(TRIALS):
        # New articles every trial, so every run has work to be interrupted in.
        for _ in range(NEW_PER_TRIAL):
            (seeds / f"synthetic_{n:04d}.txt").write_text(synthetic_text(rng, n), encoding="utf-8")
            n += 1
        delay = rng.uniform(0.0, 3.0)
        proc = subprocess.Popen(
            monitor_run(db, seeds),
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        # Start the clock when the run holds its lock, i.e. is at work on the database
        # (Python and Prefect start-up time varies too much to aim from the launch).
        deadline = time.monotonic() + 120
        while proc.poll() is None and not run_lock_held(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            proc.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # like pulling the plug: no cleanup code runs
            proc.wait(timeout=30)
            finished = False
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if finished:
            assert proc.returncode == 0, err
        now = snapshot(db)
        print(
            f"trial {trial}: killed {delay:.2f}s into the run: {not finished}, rows={now['rows']}, "
            f"classified={len(now['classified'])}, runs={now['runs']}"
        )
        assert now["ids"] >= before["ids"], "articles stored before the kill are gone"
        assert now["classified"] >= before["classified"], "classifications were lost"
        if now["rows"]:
            assert now["rows"] == now["distinct_ids"] == now["distinct_urls"]
        killed_runs += not finished
        before = now

    assert killed_runs >= 1, "no run was interrupted; the trials proved nothing"

    done = subprocess.run(
        monitor_run(db, seeds), env=server_env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    final = snapshot(db)
    total = 5 + TRIALS * NEW_PER_TRIAL
    assert final["ids"] >= before["ids"]
    assert final["rows"] == final["distinct_ids"] == final["distinct_urls"] == total
    assert final["pending"] == 0
    assert final["classified"] == final["ids"]
    statuses = [s for (s,) in final["runs"]]
    assert statuses[-1] == "completed"
    assert "running" not in statuses
    assert set(statuses) <= {"completed", "interrupted"}


RUN_FLOW = (
    "import dataclasses, json, sys\n"
    "from flows.ingest import ingest_flow\n"
    "result = ingest_flow(db=sys.argv[1], seeds=[sys.argv[2]], fetch=False,\n"
    "                     skip_if_locked=True, lock_wait_s=float(sys.argv[3]))\n"
    "print('RESULT ' + json.dumps(dataclasses.asdict(result), default=str))\n"
)


def test_overlapping_runs_wait_or_skip_and_say_so(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    seeds = make_seed_dir(tmp_path / "seeds", 1200)  # a first run of several seconds
    db = tmp_path / "monitor.duckdb"
    env = {**server_env, "PREFECT_LOGGING_LEVEL": "WARNING"}

    def scheduled_run(wait_s: float) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", RUN_FLOW, str(db), str(seeds), str(wait_s)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    first = subprocess.Popen(
        monitor_run(db, seeds), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while not run_lock_held(db):
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "first run never took the lock"
        time.sleep(0.02)
    # Two scheduled runs come due while the first is still at work: one may not wait, the
    # other waits long enough for the first to finish.
    impatient = scheduled_run(0)
    patient = scheduled_run(240)
    outputs = {}
    for name, proc in (("impatient", impatient), ("patient", patient)):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        outputs[name] = out
    first_out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, first_out

    def result(out: str) -> dict[str, object]:
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        return json.loads(line.removeprefix("RESULT "))

    skipped = result(outputs["impatient"])
    waited = result(outputs["patient"])
    assert skipped["status"] == "skipped", outputs["impatient"]
    # It says so, in the run's log as well as in its result.
    assert "skipped: another ingest run is still working on" in outputs["impatient"]
    assert waited["status"] == "completed"
    assert waited["articles_new"] == 0  # the first run had stored everything
    assert "another ingest run holds" in outputs["patient"]  # it announced the wait

    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("SELECT status, articles_new FROM runs ORDER BY started_at").fetchall()
        stored = con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone()
    finally:
        con.close()
    assert runs == [("completed", 1205), ("completed", 0)]
    assert stored == (1205, 1205)
