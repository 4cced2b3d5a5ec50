"""The Prefect API `monitor serve` schedules against: the configured one (PREFECT_API_URL), else a
real local Prefect server that serve runs as its own child.

Why a real server and not Prefect's temporary one: a temporary ("ephemeral") server starts only
the services marked to run there, and the scheduler, which turns a deployment's cron into
scheduled flow runs, is not one of them; deployments served against it never run on their
schedule. The child is `prefect server start` (its UI included) with the scheduler on, its
database under PREFECT_HOME (`prefect.db`), so a restarted serve finds its deployments and
their schedule where it left them. The kernel ends it when serve's process dies, even by
SIGKILL (flows/lifetime.py); a normal stop terminates it and waits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from flows.lifetime import die_with_parent
from monitor.errors import StoreError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0  # the first start migrates a new database; a busy 2-core machine is slow
STOP_GRACE_S = 6.0
LOG_NAME = "monitor-serve-server.log"  # in PREFECT_HOME
PREFECT_SERVER = [sys.executable, "-m", "prefect", "server", "start"]


class ServerError(StoreError):
    """The local Prefect server could not be started."""


@dataclass(frozen=True)
class Api:
    """The Prefect API serve uses: its address, its UI's, and whether serve started it."""

    url: str
    ui: str | None
    started: bool


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_port(wanted: int) -> int:
    """`wanted` when it is free (0: any), else a free port (said in a warning)."""
    if wanted and _port_free(wanted):
        return wanted
    port = _free_port()
    if wanted:
        log.warning("port %d is taken; the local Prefect server uses %d instead", wanted, port)
    return port


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def _server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": env.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
            "PREFECT_CLI_COLORS": "false",
        }
    )
    return env


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise ServerError(
                f"the local Prefect server exited ({proc.returncode}): {_tail(log_path)} "
                f"(log: {log_path})"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2.0, trust_env=False).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ServerError(
                f"the local Prefect server did not answer within {START_TIMEOUT_S:.0f}s "
                f"(log: {log_path})"
            )
        time.sleep(0.25)


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; waits for it to end."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace_s)


@contextmanager
def local_server(port: int) -> Iterator[Api]:
    """`prefect server start` with its scheduler, as this process's child, for the block."""
    home = Path(get_current_settings().home).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    port = choose_port(port)
    url = f"http://127.0.0.1:{port}/api"
    log_path = home / LOG_NAME
    with open(log_path, "ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(port)],
            env=_server_env(home),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        _wait_healthy(proc, url, log_path)
        log.info("local Prefect server at %s (log: %s)", url, log_path)
        os.environ["PREFECT_API_URL"] = url  # for the flow-run children
        try:
            with temporary_settings({PREFECT_API_URL: url}):
                yield Api(url, f"http://127.0.0.1:{port}", True)
        finally:
            # Send the logs and events still queued while the server is up (Prefect drains
            # them at exit, when ours would be gone already: "Error logging to API").
            APILogWorker.drain_all(timeout=2)
            EventsWorker.drain_all(timeout=2)
            os.environ.pop("PREFECT_API_URL", None)
    finally:
        stop_process(proc)


@contextmanager
def prefect_api(port: int) -> Iterator[Api]:
    """The configured Prefect API, else a local server started for the block."""
    configured = PREFECT_API_URL.value()
    if configured:
        yield Api(str(configured), None, False)
        return
    with local_server(port) as api:
        yield api
