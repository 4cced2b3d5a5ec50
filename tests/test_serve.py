"""`monitor serve`: both schedules in one process, scheduled by a real local Prefect server that
serve runs as its child; the schedules fire by themselves (no trigger from the test), a
restarted serve carries on with them, and serve stops promptly on SIGTERM or Ctrl-C, mid-run
included, leaving nothing running and the database usable."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.procs import clean_env, run_lock_held
from tests.synthetic import make_seed_dir

pytestmark = pytest.mark.slow

STOP_WITHIN_S = 10.0
NEVER_DUE = "0 0 1 1 *"


EVERY_MINUTE = "* * * * *"


def write_config(tmp_path: Path, seeds: Path, cron: str = NEVER_DUE, port: int = 0) -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(
        "sources = []\n"
        f'[storage]\ndb = "{tmp_path / "monitor.duckdb"}"\n'
        f'[seeds]\ndirs = ["{seeds}"]\n'
        f'[digest]\nout_dir = "{tmp_path / "digests"}"\n'
        # NEVER_DUE: crons that do not come due during a test (only --run-now runs).
        f'[schedule]\ningest_cron = "{cron}"\ndigest_cron = "{cron}"\nserver_port = {port}\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the module: later starts reuse the temporary API's database."""
    return tmp_path_factory.mktemp("prefect-home")


def environment(prefect_home: Path) -> dict[str, str]:
    # No PREFECT_API_URL: serve starts its own local Prefect server, as for a user without one.
    # Its scheduler looks for due deployments every 5 s (60 s by default) and the runner polls
    # for scheduled runs every 2 s, so an every-minute cron fires within the minute.
    return clean_env(
        PREFECT_HOME=str(prefect_home),
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
    )


def start_serve(
    tmp_path: Path, prefect_home: Path, config: Path, *extra: str
) -> subprocess.Popen[bytes]:
    log = (tmp_path / "serve.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config), *extra],
        env=environment(prefect_home),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def runs(db: Path) -> list[tuple[str, int]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT status, articles_new FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def stop_and_time(proc: subprocess.Popen[bytes], signum: int) -> float:
    sent = time.monotonic()
    proc.send_signal(signum)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=60)
    return time.monotonic() - sent


def cleanup(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def log_tail(tmp_path: Path) -> str:
    return (tmp_path / "serve.log").read_text(errors="replace")[-3000:]


def wait_for(condition, timeout: float, proc: subprocess.Popen[bytes], tmp_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"monitor serve exited {proc.returncode}:\n{log_tail(tmp_path)}")
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met after {timeout:.0f} s:\n{log_tail(tmp_path)}")
        time.sleep(0.2)


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def alive(pids: list[int]) -> list[int]:
    import psutil

    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def scheduled_runs(api: str) -> list[dict[str, object]]:
    """The flow runs the server holds, with their deployment's name and state."""
    import httpx

    found = httpx.post(f"{api}/flow_runs/filter", json={"limit": 200}, timeout=10).json()
    return [r for r in found if isinstance(r, dict)]


def test_the_schedules_fire_by_themselves_and_a_restarted_serve_carries_on(
    tmp_path: Path, prefect_home: Path
) -> None:
    from tests.procs import free_port

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    config = write_config(
        tmp_path, make_seed_dir(tmp_path / "seeds", 0), cron=EVERY_MINUTE, port=port
    )
    db = tmp_path / "monitor.duckdb"
    digests = tmp_path / "digests"

    def completed_runs() -> int:
        if not db.exists() or run_lock_held(db):
            return 0
        try:
            return sum(1 for status, _ in runs(db) if status == "completed")
        except duckdb.Error:  # still being written
            return 0

    proc = start_serve(tmp_path, prefect_home, config)  # no --run-now: only the schedule runs
    try:
        t0 = time.monotonic()
        wait_for(
            lambda: completed_runs() >= 1 and any(digests.glob("digest-*")), 150, proc, tmp_path
        )
        print(f"first scheduled ingest and digest after {time.monotonic() - t0:.1f} s")
        # The server's scheduler made these runs: none was created by hand.
        made = [r for r in scheduled_runs(api) if r["state_type"] == "COMPLETED"]
        assert made and all(r["auto_scheduled"] for r in made), made
        children = descendants(proc.pid)
        assert children, "serve runs its Prefect server as a child"
        took = stop_and_time(proc, signal.SIGTERM)
        print(f"stopped {took:.1f} s after SIGTERM")
        assert proc.returncode == 0 and took < STOP_WITHIN_S, log_tail(tmp_path)
        assert alive(children) == [], "processes outlived serve"
    finally:
        cleanup(proc)
    assert f"UI: http://127.0.0.1:{port}" in (tmp_path / "serve.log").read_text(errors="replace")
    before = completed_runs()

    (tmp_path / "serve.log").rename(tmp_path / "first-serve.log")
    again = start_serve(tmp_path, prefect_home, config)
    try:
        wait_for(lambda: completed_runs() > before, 150, again, tmp_path)
        took = stop_and_time(again, signal.SIGTERM)
        assert again.returncode == 0 and took < STOP_WITHIN_S, log_tail(tmp_path)
    finally:
        cleanup(again)
    assert all(status == "completed" for status, _ in runs(db))


def test_serve_runs_ingest_now_and_stops_on_ctrl_c(tmp_path: Path, prefect_home: Path) -> None:
    config = write_config(tmp_path, make_seed_dir(tmp_path / "seeds", 0))
    db = tmp_path / "monitor.duckdb"
    proc = start_serve(tmp_path, prefect_home, config, "--run-now")
    try:

        def ingested() -> bool:
            if not db.exists() or run_lock_held(db):
                return False
            try:
                return ("completed", 5) in runs(db)
            except duckdb.Error:  # still being written
                return False

        t0 = time.monotonic()
        wait_for(ingested, 150, proc, tmp_path)
        print(f"ingested after {time.monotonic() - t0:.1f} s")
        # One serve per database: a second one says so in one line and exits 2.
        second = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config)],
            env=environment(prefect_home),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert "another `monitor serve` is already serving" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        took = stop_and_time(proc, signal.SIGINT)
        print(f"stopped {took:.1f} s after SIGINT")
        assert proc.returncode == 0, log_tail(tmp_path)
        assert took < STOP_WITHIN_S, log_tail(tmp_path)
        assert "Stopped." in log_tail(tmp_path)
        log = (tmp_path / "serve.log").read_text(errors="replace")
        assert "5 new, 0 duplicates" in log  # the run's summary, logged
        assert f"Serving ingest ({NEVER_DUE}) and digest ({NEVER_DUE}, UTC)" in log
        # Every DuckDB connection was closed before exit: DuckDB 2 would report leaks here.
        assert "nanobind" not in log and "leaked" not in log
    finally:
        cleanup(proc)
    assert runs(db) == [("completed", 5)]


def test_sigterm_mid_run_stops_promptly_and_next_run_completes(
    tmp_path: Path, prefect_home: Path
) -> None:
    seeds = make_seed_dir(tmp_path / "seeds", 800)  # a run of several seconds
    config = write_config(tmp_path, seeds)
    db = tmp_path / "monitor.duckdb"
    proc = start_serve(tmp_path, prefect_home, config, "--run-now")
    try:
        t0 = time.monotonic()
        wait_for(lambda: run_lock_held(db), 150, proc, tmp_path)
        print(f"run started after {time.monotonic() - t0:.1f} s")
        time.sleep(1.0)
        assert run_lock_held(db), "the run ended before it could be interrupted"
        took = stop_and_time(proc, signal.SIGTERM)
        print(f"stopped {took:.1f} s after SIGTERM, mid-run")
        assert proc.returncode == 0, log_tail(tmp_path)
        assert took < STOP_WITHIN_S, log_tail(tmp_path)
    finally:
        cleanup(proc)

    # Nothing is left holding the database: the run lock is free and the file opens for writing.
    assert not run_lock_held(db)
    duckdb.connect(str(db)).close()

    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "run", "--no-fetch", "--config", str(config)],
        env=environment(prefect_home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nanobind" not in done.stderr and "leaked" not in done.stderr
    print(f"next run took {time.monotonic() - t0:.1f} s")
    history = runs(db)
    assert history[-1][0] == "completed"
    assert all(status in ("completed", "interrupted") for status, _ in history), history
    con = duckdb.connect(str(db), read_only=True)
    try:
        pending = con.execute(
            "SELECT count(*) FROM core.articles WHERE processed_at IS NULL"
        ).fetchone()
        classified = con.execute("SELECT count(*) FROM core.classifications").fetchone()
        stored = con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone()
    finally:
        con.close()
    assert stored == (805, 805)
    assert pending == (0,)
    assert classified == (805,)


def group_alive(pgid: int) -> bool:
    """Whether any process of this process group (serve and all it started) is alive."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def zombies_only(pgid: int) -> bool:
    """Whether what is left of the group is only exited processes not yet reaped."""
    import psutil

    left = [p for p in psutil.process_iter(["pid", "status"]) if _pgid(p.pid) == pgid]
    return all(p.info["status"] == psutil.STATUS_ZOMBIE for p in left)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_serve_killed_right_after_submitting_its_first_run_leaves_nothing_held(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """The wedge of issue 13: a serve stopped 1-2 s after "ingest starting now" (while the
    runner submits the run) used to leave a concurrency slot taken for good."""
    home = tmp_path / "prefect-home"  # this test's own, shared by both serves
    config = write_config(tmp_path, make_seed_dir(tmp_path / "seeds", 0))
    db = tmp_path / "monitor.duckdb"
    first = start_serve(tmp_path, home, config, "--run-now")
    try:
        log = tmp_path / "serve.log"
        wait_for(lambda: b"ingest starting now" in log.read_bytes(), 150, first, tmp_path)
        time.sleep(1.5)
        first.send_signal(signum)  # to serve alone: what it started must end by itself
        first.wait(timeout=60)
        # Nothing serve started outlives it: the temporary API server and the flow-run
        # child end with it, SIGKILL included (the kernel's parent-death signal, a watchdog).
        deadline = time.monotonic() + 20
        while group_alive(first.pid) and not zombies_only(first.pid):
            assert time.monotonic() < deadline, f"processes outlived serve:\n{log_tail(tmp_path)}"
            time.sleep(0.2)
        assert not run_lock_held(db)
    finally:
        cleanup(first)
    (tmp_path / "serve.log").rename(tmp_path / "first-serve.log")

    second = start_serve(tmp_path, home, config, "--run-now")
    try:

        def ingested() -> bool:
            if not db.exists() or run_lock_held(db):
                return False
            try:
                return any(status == "completed" for status, _ in runs(db))
            except duckdb.Error:  # still being written
                return False

        wait_for(ingested, 150, second, tmp_path)
        took = stop_and_time(second, signal.SIGINT)
        assert second.returncode == 0 and took < STOP_WITHIN_S, log_tail(tmp_path)
    finally:
        cleanup(second)
    log = (tmp_path / "serve.log").read_text(errors="replace")
    # The second serve says in one line what it released (the first one's flow run).
    released = [line for line in log.splitlines() if "released what an earlier serve" in line]
    assert len(released) == 1, log[-3000:]
    assert "flow run(s) left running marked Crashed" in released[0]
    assert "Traceback" not in log, log[-3000:]
    assert runs(db)[-1] == ("completed", 5)
