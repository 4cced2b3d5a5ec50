"""The scheduled path with the real parts: a Prefect server, a process work pool, the
deployments from prefect.yaml, a worker, and the DuckDB rows the triggered run wrote.

Slow (a server start, a deploy, a worker): about a minute on two cores.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.procs import PREFECT, prefect_server, stop, tail

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


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
    """A real Prefect server with its own PREFECT_HOME; only the runs the test triggers."""
    with prefect_server(tmp_path / "prefect-home") as env:
        yield {**env, "PREFECT_LOGGING_LEVEL": "INFO"}, env["PREFECT_API_URL"]


def prefect_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [*PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)} exited {done.returncode}:\n"
        + (done.stdout + done.stderr)[-4000:]
    )
    return done.stdout + done.stderr


def wait_for_logs(api: str, flow_run_id: str, wanted: list[str]) -> list[str]:
    """The flow run's log messages once each wanted text is in one (or after 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        logs = httpx.post(
            f"{api}/logs/filter",
            json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200},
            timeout=10,
        ).json()
        messages = [str(entry["message"]) for entry in logs]
        if all(any(w in m for m in messages) for w in wanted) or time.monotonic() > deadline:
            return messages
        time.sleep(1)


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
    # No server-side concurrency limit: nothing a killed run could leave taken (the run lock
    # keeps ingests one at a time).
    assert ingest["global_concurrency_limit"] is None and digest["global_concurrency_limit"] is None
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
        assert state == "COMPLETED", f"{run['state']}\n{tail(worker_log)}"
        elapsed = time.monotonic() - started
        print(f"deploy + trigger + worker run: {elapsed:.1f} s")
        # The flow run's logs, the library's (extra logger "monitor") among them, reach the
        # server as the flow-run process flushes them: wait for them before stopping the worker.
        messages = wait_for_logs(api, flow_run_id, ["5 new", "applied migration"])
    finally:
        stop(worker)
    assert any("5 new" in m for m in messages), messages  # the flow's summary
    assert any("applied migration" in m for m in messages), messages  # from monitor.store

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
