"""Subprocess helpers for the slow tests: free ports, a real Prefect server, clean stops."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a subprocess started in its own session (whole group), kill it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def tail(path: Path, n: int = 40) -> str:
    """The last lines of a log file, for failure messages."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without PREFECT_* / MONITOR_CONFIG, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k != "MONITOR_CONFIG"
    }
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.update(extra)
    return env


@contextlib.contextmanager
def prefect_server(home: Path, *, scheduler: bool = False) -> Iterator[dict[str, str]]:
    """A real `prefect server start` on a free port with its own PREFECT_HOME; yields its env."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="true" if scheduler else "false",
        # The scheduler looks for due deployments every 5 s instead of every 60 s.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
        PREFECT_CLI_COLORS="false",
        PREFECT_CLI_WRAP_LINES="false",
    )
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited {proc.returncode}:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after 180 s:\n{tail(log)}")
            time.sleep(0.5)
        yield env
    finally:
        stop(proc)


def run_lock_held(db: Path) -> bool:
    """Whether some process holds the database's run lock (read from /proc/locks, so the
    check itself never takes the lock and cannot make a starting run skip)."""
    lock = db.with_name(db.name + ".run.lock")
    try:
        st = lock.stat()
    except FileNotFoundError:
        return False
    # Match on the inode alone: on overlay filesystems the device numbers differ.
    inode = str(st.st_ino)
    with open("/proc/locks", encoding="ascii") as locks:
        for line in locks:
            fields = line.split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].split(":")[-1] == inode:
                return True
    return False
