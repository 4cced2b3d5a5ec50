"""The Prefect API for `monitor run` and `monitor serve`: the configured one, else a temporary
local one that never outlives the command.

Prefect starts a temporary API server by itself when no PREFECT_API_URL is set, but as a plain
child process: a `monitor run` or `monitor serve` killed with SIGKILL leaves it running for good
(an orphaned uvicorn per kill). Ours asks the kernel to end it when the command's process dies
(PR_SET_PDEATHSIG), and hands its address to the flow-run children, so one process tree shares
one API.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import prefect
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)

from flows.lifetime import die_with_parent
from monitor.errors import ConfigError

log = logging.getLogger(__name__)


def temporary_server() -> Any:
    """Prefect's temporary API server (the same command), ended by the kernel with our process.

    Built on first use: importing Prefect's server takes 2 s, which a run that uses a
    configured or kept API does not pay.
    """
    from prefect.server.api.server import SubprocessASGIServer

    class _TemporaryServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # As SubprocessASGIServer starts it (prefect 3.8), plus the parent-death signal.
            # Only the main thread starts it, and for the kernel the "parent" is the forking
            # thread.
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    "PREFECT_UI_ENABLED": "0",
                    "PREFECT__SERVER_EPHEMERAL": "1",
                    "PREFECT__SERVER_FINAL": "1",
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                },
                preexec_fn=die_with_parent,
            )

    return _TemporaryServer()


#: Overrides `[runner] keep_api_minutes` (tests set 0, so no server outlives them).
KEEP_ENV = "MONITOR_KEEP_API_MINUTES"
KEPT_RECORD = "monitor-api.json"  # in PREFECT_HOME
LEASE_TOUCH_S = 15.0  # at most; the kept server pauses after 60 s untouched
_KEPT_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Api:
    """The Prefect API a command uses, and where it came from."""

    url: str
    origin: Literal["configured", "kept", "started-kept", "temporary"]


def keep_minutes(configured: float) -> float:
    """How long a kept API server outlives its last run: $MONITOR_KEEP_API_MINUTES, else the
    config's `[runner] keep_api_minutes`."""
    value = os.environ.get(KEEP_ENV)
    if value is None or not value.strip():
        return configured
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ConfigError(f"{KEEP_ENV}={value!r} is not a number of minutes") from None


@contextmanager
def local_api(*, keep: float = 0.0, heartbeats: bool = True) -> Iterator[Api]:
    """The configured Prefect API; else, with `keep` minutes > 0, a kept local one (started
    when none answers, see `flows.kept_api`); else a temporary one for this process and its
    children.

    The flow-run children of `monitor serve` get PREFECT_API_URL, so they use this server
    rather than each starting another (one API, one set of flow runs for the process tree).
    `heartbeats=False` turns off Prefect's flow-run heartbeat thread, which a flow waits up to
    a second to join at its end; a single `monitor run` has nobody watching for them.
    """
    updates: dict[Any, Any] = {} if heartbeats else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    configured = PREFECT_API_URL.value()
    if configured:
        with temporary_settings(updates):
            yield Api(str(configured), "configured")
        return
    if keep > 0:
        kept = _kept_api(keep * 60)
        if kept is not None:
            # Touched at least four times per pause time (half the keep time, at most 60 s:
            # flows.kept_api), so the server is never paused or stopped under a run.
            every = min(LEASE_TOUCH_S, keep * 60 / 8)
            record = Path(get_current_settings().home) / KEPT_RECORD
            with _lease(record, every), _using(kept.url, updates):
                yield kept
            return
    server = temporary_server()
    server.start(timeout=120)
    try:
        with _using(server.api_url, updates):
            yield Api(server.api_url, "temporary")
    finally:
        server.stop()


@contextmanager
def _using(url: str, updates: dict[Any, Any]) -> Iterator[None]:
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url, **updates}):
            yield
    finally:
        # Send the logs and events still queued while the server is up (Prefect drains them
        # at exit, when ours would be gone already: "Error logging to API").
        APILogWorker.drain_all(timeout=5)
        EventsWorker.drain_all(timeout=5)
        os.environ.pop("PREFECT_API_URL", None)


@contextmanager
def _lease(record: Path, every: float) -> Iterator[None]:
    """Touch the kept server's record every `every` seconds while the command runs, so it is
    neither paused nor stopped under it."""
    done = threading.Event()

    def touch() -> None:
        while True:
            with contextlib.suppress(OSError):
                os.utime(record)
            if done.wait(every):
                return

    thread = threading.Thread(target=touch, name="kept-api-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)
        with contextlib.suppress(OSError):
            os.utime(record)  # the keep time counts from the end of the last run


def _answering(record: Path) -> str | None:
    """The kept server's API address, if its record names a live server that answers."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        url, pid = str(data["url"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    server_pid = data.get("server_pid")
    try:
        os.kill(pid, 0)
    except OSError:
        # Its supervisor was killed while the server was paused: the parent-death SIGTERM
        # waits in a stopped process until it is continued.
        if isinstance(server_pid, int):
            with contextlib.suppress(OSError):
                os.kill(server_pid, signal.SIGCONT)
        return None
    # An idle kept server is paused (SIGSTOP, see flows.kept_api): lease it, then wake it.
    with contextlib.suppress(OSError):
        os.utime(record)
    for _ in range(3):
        if isinstance(server_pid, int):
            with contextlib.suppress(OSError):
                os.kill(server_pid, signal.SIGCONT)
        try:
            response = httpx.get(f"{url}/health", timeout=2.0, trust_env=False)
        except httpx.HTTPError:
            continue  # paused again in the instant before the lease was seen: once more
        return url if response.status_code == 200 else None
    return None


def _kept_api(keep_s: float) -> Api | None:
    """The kept API server of this PREFECT_HOME, started when none answers; None if it could
    not be started (the caller falls back to a temporary server)."""
    home = Path(get_current_settings().home)
    home.mkdir(parents=True, exist_ok=True)
    record = home / KEPT_RECORD
    with open(home / "monitor-api.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time; the others then find it
        url = _answering(record)
        if url is not None:
            return Api(url, "kept")
        prefect_env = get_current_settings().to_environment_variables(exclude_unset=True)
        with open(home / "monitor-api.log", "ab") as log_file:  # the child keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.kept_api", str(record), str(keep_s)],
                env={**os.environ, **prefect_env},
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # not ended with this command: that is the point
            )
        deadline = time.monotonic() + _KEPT_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.warning("the kept Prefect API did not start (see %s)", home / "monitor-api.log")
                return None
            url = _answering(record)
            if url is not None:
                return Api(url, "started-kept")
            time.sleep(0.1)
        log.warning("the kept Prefect API did not answer within %.0f s", _KEPT_START_TIMEOUT_S)
        process.terminate()
        return None
