"""The scheduled path with the real parts, as the README tells a user to set it up: a Prefect
server with its scheduler, a process work pool, `prefect deploy --all` from prefect.yaml, a
worker, and the DuckDB rows of an ingest run the server's scheduler made (nothing triggered).

prefect.yaml's ingest runs hourly; the project copy's cron is every minute, so a scheduled run
comes within the test (the scheduler's loop is at 5 s instead of 60). Slow: up to two minutes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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


HOURLY = 'cron: "0 * * * *"'
EVERY_MINUTE = 'cron: "* * * * *"'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (flows, library, prefect.yaml) with a monitor.toml that ingests
    the seeds into tmp_path/data: deploying and running write nothing into the checkout."""
    dest = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("flows", "monitor"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    deployments = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert deployments.count(HOURLY) == 1, "prefect.yaml's ingest schedule moved"
    (dest / "prefect.yaml").write_text(deployments.replace(HOURLY, EVERY_MINUTE), "utf-8")
    (dest / "monitor.toml").write_text(
        "sources = []\n"
        f'[storage]\ndb = "{tmp_path / "data" / "monitor.duckdb"}"\n'
        f'[seeds]\ndirs = ["{SEEDS}"]\n',
        encoding="utf-8",
    )
    return dest


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A real Prefect server with its scheduler and its own PREFECT_HOME."""
    with prefect_server(tmp_path / "prefect-home", scheduler=True) as env:
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


def first_scheduled_run(api: str, deployment_id: str) -> dict[str, object] | None:
    runs = httpx.post(
        f"{api}/flow_runs/filter",
        json={"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"},
        timeout=10,
    ).json()
    return next((r for r in runs if r["auto_scheduled"]), None)


def test_the_server_schedules_the_deployed_ingest_and_a_worker_runs_it(
    project: Path, server: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, api = server
    started = time.monotonic()
    db = tmp_path / "data" / "monitor.duckdb"

    prefect_cli(["work-pool", "create", "monitor-pool", "--type", "process"], env, project)
    prefect_cli(["--no-prompt", "deploy", "--all"], env, project)

    # Both deployments exist with the schedules, pool and settings of prefect.yaml.
    ingest = httpx.get(f"{api}/deployments/name/ingest/ingest", timeout=10).json()
    digest = httpx.get(f"{api}/deployments/name/digest/digest", timeout=10).json()
    assert ingest["work_pool_name"] == digest["work_pool_name"] == "monitor-pool"
    assert [s["schedule"]["cron"] for s in ingest["schedules"]] == ["* * * * *"]
    assert [s["schedule"]["cron"] for s in digest["schedules"]] == ["0 7 * * *"]
    # No server-side concurrency limit: nothing a killed run could leave taken (the run lock
    # keeps ingests one at a time).
    assert ingest["global_concurrency_limit"] is None and digest["global_concurrency_limit"] is None
    assert ingest["pull_steps"][0]["prefect.deployments.steps.set_working_directory"] == {
        "directory": str(project)
    }
    assert ingest["job_variables"]["env"]["PREFECT_LOGGING_EXTRA_LOGGERS"] == "monitor"

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
        deadline = time.monotonic() + 240
        while True:
            run = first_scheduled_run(api, ingest["id"])
            state = run["state_type"] if run else None
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if worker.poll() is not None:
                pytest.fail(f"worker exited {worker.returncode}:\n{tail(worker_log)}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no scheduled run completed after 240 s ({state}):\n{tail(worker_log)}"
                )
            time.sleep(1)
        assert run is not None and state == "COMPLETED", f"{run}\n{tail(worker_log)}"
        print(f"deploy + scheduled run by the worker: {time.monotonic() - started:.1f} s")
        # The flow run's logs, the library's (extra logger "monitor") among them, reach the
        # server as the flow-run process flushes them: wait for them before stopping the worker.
        messages = wait_for_logs(api, str(run["id"]), ["5 new", "applied migration"])
    finally:
        stop(worker)
    assert any("5 new" in m for m in messages), messages  # the flow's summary
    assert any("applied migration" in m for m in messages), messages  # from monitor.store

    # The run wrote the database its monitor.toml names.
    con = duckdb.connect(str(db), read_only=True)
    try:
        articles = con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone()
        runs = con.execute("SELECT status, articles_new FROM runs").fetchall()
        classified = con.execute("SELECT count(*) FROM core.classifications").fetchone()
    finally:
        con.close()
    assert articles == (5, 5)
    assert runs[0] == ("completed", 5)
    assert classified == (5,)


def test_monitor_run_with_a_prefect_api_set_is_recorded_there_as_a_flow_run(
    server: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, api = server
    (tmp_path / "seeds").symlink_to(SEEDS)
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "run", "--no-fetch"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 new, 0 duplicates, 0 failed" in done.stdout
    runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
    assert [(r["state_type"], r["parameters"]["fetch"]) for r in runs] == [("COMPLETED", False)]
    flow = httpx.get(f"{api}/flows/{runs[0]['flow_id']}", timeout=10).json()
    assert flow["name"] == "ingest"
