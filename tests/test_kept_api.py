"""The Prefect API that `monitor run` keeps for later runs: reused, leased, stopped, restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.test_cli import monitor


def _record(home: Path) -> dict[str, object]:
    data = json.loads((home / "monitor-api.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: the kept server is not our child, so look at its state.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


def _flow_runs(url: str) -> list[str]:
    response = httpx.post(f"{url}/flow_runs/filter", json={}, timeout=10, trust_env=False)
    response.raise_for_status()
    return [run["state_type"] for run in response.json()]


def _uvicorn_children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def project(tmp_path: Path, seeds_dir: Path) -> Path:
    (tmp_path / "seeds").symlink_to(seeds_dir)
    return tmp_path


def test_later_runs_reuse_the_kept_api_and_a_killed_one_is_started_again(project: Path) -> None:
    home = project / ".prefect-home"
    keep = {"MONITOR_KEEP_API_MINUTES": "5"}
    pids: list[int] = []
    try:
        first = monitor("run", "--no-fetch", cwd=project, env=keep)
        assert first.returncode == 0, first.stderr
        assert "Prefect API kept at http://127.0.0.1:" in first.stdout
        kept = _record(home)
        pids.append(int(str(kept["pid"])))
        assert _alive(pids[0])

        again = monitor("run", "--no-fetch", cwd=project, env=keep)
        assert again.returncode == 0, again.stderr
        assert "Nothing new" in again.stdout and "Prefect API kept" not in again.stdout
        assert _record(home)["pid"] == pids[0]  # the same server
        # Prefect recorded both flow runs, on the kept server.
        assert _flow_runs(str(kept["url"])) == ["COMPLETED", "COMPLETED"]

        # Killed outright: its API server child goes with it, the next run starts another.
        children = _uvicorn_children(pids[0])
        assert children
        os.kill(pids[0], signal.SIGKILL)
        assert _wait_gone(pids[0], 10)
        assert all(_wait_gone(child, 10) for child in children)
        third = monitor("run", "--no-fetch", cwd=project, env=keep)
        assert third.returncode == 0, third.stderr
        assert "Prefect API kept at" in third.stdout
        pids.append(int(str(_record(home)["pid"])))
        assert pids[1] != pids[0] and _alive(pids[1])
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
    assert all(_wait_gone(pid, 20) for pid in pids)
    assert not (home / "monitor-api.json").exists()  # a stopped server removes its record


def test_the_kept_api_stops_when_unused_for_the_keep_time(project: Path) -> None:
    home = project / ".prefect-home"
    run = monitor("run", "--no-fetch", cwd=project, env={"MONITOR_KEEP_API_MINUTES": "0.05"})
    assert run.returncode == 0, run.stderr
    pid = int(str(_record(home)["pid"]))
    try:
        # 3 s after the run's end (its last lease), checked every 2 s; then uvicorn stops.
        assert _wait_gone(pid, 45), "the kept API outlived its keep time"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    assert not (home / "monitor-api.json").exists()
    assert "unused for" in (home / "monitor-api.log").read_text()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]


def test_an_idle_kept_api_is_paused_and_the_next_run_wakes_it(project: Path) -> None:
    """Idle, Prefect's server polls its task queue (2-3 CPU-s a minute): paused, it costs
    nothing. Half the keep time (here 9 s of 18) without a run pauses it."""
    home = project / ".prefect-home"
    keep = {"MONITOR_KEEP_API_MINUTES": "0.3"}
    first = monitor("run", "--no-fetch", cwd=project, env=keep)
    assert first.returncode == 0, first.stderr
    kept = _record(home)
    pid, server = int(str(kept["pid"])), int(str(kept["server_pid"]))
    try:
        assert server in _uvicorn_children(pid)
        deadline = time.monotonic() + 20
        while _state(server) != "T":
            assert time.monotonic() < deadline, "the idle server was not paused"
            time.sleep(0.2)
        again = monitor("run", "--no-fetch", cwd=project, env=keep)
        assert again.returncode == 0, again.stderr
        assert "Nothing new" in again.stdout and "Prefect API kept" not in again.stdout
        assert _record(home)["pid"] == pid  # woken, not replaced
        assert _state(server) != "T"
        assert _flow_runs(str(kept["url"])) == ["COMPLETED", "COMPLETED"]
        while _state(server) != "T":  # paused again; killed so, the next run ends it
            assert time.monotonic() < deadline + 30, "the idle server was not paused again"
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        assert _wait_gone(pid, 10)
        third = monitor("run", "--no-fetch", cwd=project, env=keep)
        assert third.returncode == 0, third.stderr
        assert "Prefect API kept at" in third.stdout  # a new one
        assert _wait_gone(server, 20), "the paused server outlived its killed supervisor"
        pid, server = int(str(_record(home)["pid"])), int(str(_record(home)["server_pid"]))
        deadline = time.monotonic() + 20
        while _state(server) != "T":  # and a stop while paused still ends it
            assert time.monotonic() < deadline, "the new idle server was not paused"
            time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        assert _wait_gone(pid, 20) and _wait_gone(server, 20)
    finally:
        for each in (pid, server):
            if _alive(each):
                os.kill(each, signal.SIGKILL)
    log = (home / "monitor-api.log").read_text()
    assert "paused the API server" in log and "woke the API server" in log


def test_keep_zero_starts_a_temporary_api_that_ends_with_the_run(project: Path) -> None:
    run = monitor("run", "--no-fetch", cwd=project, env={"MONITOR_KEEP_API_MINUTES": "0"})
    assert run.returncode == 0, run.stderr
    assert "Prefect API kept" not in run.stdout
    assert not (project / ".prefect-home" / "monitor-api.json").exists()


def test_a_bad_keep_value_is_one_line(project: Path) -> None:
    run = monitor("run", "--no-fetch", cwd=project, env={"MONITOR_KEEP_API_MINUTES": "soon"})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "configuration error: MONITOR_KEEP_API_MINUTES='soon' is not a number of minutes"
    ]
    assert "Traceback" not in run.stderr
