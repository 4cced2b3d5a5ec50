"""The scheduled path with the real parts: a Prefect server, a process work pool, the
deployments from prefect.yaml, a worker, and the DuckDB rows the triggered run wrote.

Slow (a server start, a deploy, a worker): about a minute on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a subprocess (its whole process group), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


def tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (flows, library, prefect.yaml): deploying writes nothing here."""
    dest = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("flows", "monitor"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copy(ROOT / "prefect.yaml", dest / "prefect.yaml")
    return dest


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A real `prefect server start` on a free port, with its own PREFECT_HOME and database."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        # Only the run this test triggers: no hourly/daily runs created behind its back.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_CLI_COLORS": "false",
        "PREFECT_CLI_WRAP_LINES": "false",
    }
    env.pop("MONITOR_CONFIG", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited {proc.returncode}:\n{tail(log)}")
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after 120 s:\n{tail(log)}")
            time.sleep(0.5)
        yield env, api
    finally:
        stop(proc)


def prefect_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [*PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)} exited {done.returncode}:\n"
        + (done.stdout + done.stderr)[-4000:]
    )
    return done.stdout + done.stderr


def test_worker_runs_the_deployed_ingest_and_writes_the_database(
    project: Path, server: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, api = server
    started = time.monotonic()
    db = tmp_path / "data" / "monitor.duckdb"

    prefect_cli(["work-pool", "create", "monitor-pool", "--type", "process"], env, project)
    prefect_cli(["--no-prompt", "deploy", "--all"], env, project)

    # Both deployments exist with the schedules, pool and limits of prefect.yaml.
    ingest = httpx.get(f"{api}/deployments/name/ingest/ingest", timeout=10).json()
    digest = httpx.get(f"{api}/deployments/name/digest/digest", timeout=10).json()
    assert ingest["work_pool_name"] == digest["work_pool_name"] == "monitor-pool"
    assert [s["schedule"]["cron"] for s in ingest["schedules"]] == ["0 * * * *"]
    assert [s["schedule"]["cron"] for s in digest["schedules"]] == ["0 7 * * *"]
    assert ingest["global_concurrency_limit"]["limit"] == 1
    assert ingest["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert ingest["pull_steps"][0]["prefect.deployments.steps.set_working_directory"] == {
        "directory": str(project)
    }
    assert ingest["job_variables"]["env"]["PREFECT_LOGGING_EXTRA_LOGGERS"] == "monitor"

    params = {"db": str(db), "seeds": [str(SEEDS)], "fetch": False}
    out = prefect_cli(
        ["deployment", "run", "ingest/ingest", "--params", json.dumps(params)], env, project
    )
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert match, out
    flow_run_id = match.group(1)

    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log_out:
        worker = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "monitor-pool", "--type", "process"],
            env=env,
            cwd=tmp_path,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            run = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()
            state = run["state"]["type"]
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if worker.poll() is not None:
                pytest.fail(f"worker exited {worker.returncode}:\n{tail(worker_log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"flow run still {state} after 180 s:\n{tail(worker_log)}")
            time.sleep(1)
    finally:
        stop(worker)
    assert state == "COMPLETED", f"{run['state']}\n{tail(worker_log)}"
    elapsed = time.monotonic() - started
    print(f"deploy + trigger + worker run: {elapsed:.1f} s")

    # The run wrote the database named in its parameters.
    con = duckdb.connect(str(db), read_only=True)
    try:
        articles = con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone()
        runs = con.execute("SELECT status, articles_new FROM runs").fetchall()
        classified = con.execute("SELECT count(*) FROM core.classifications").fetchone()
    finally:
        con.close()
    assert articles == (5, 5)
    assert runs == [("completed", 5)]
    assert classified == (5,)

    # The flow's logs, the library's (extra logger "monitor") among them, reached the server.
    logs = httpx.post(
        f"{api}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200},
        timeout=10,
    ).json()
    messages = [entry["message"] for entry in logs]
    assert any("5 new" in m for m in messages), messages
    assert any("applied migration" in m for m in messages), messages  # from monitor.store
