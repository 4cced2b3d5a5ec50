"""The Prefect API for `monitor run` and `monitor serve`: the configured one, else a temporary
local one that never outlives the command.

Prefect starts a temporary API server by itself when no PREFECT_API_URL is set, but as a plain
child process: a `monitor run` or `monitor serve` killed with SIGKILL leaves it running for good
(an orphaned uvicorn per kill). Ours asks the kernel to end it when the command's process dies
(PR_SET_PDEATHSIG), and hands its address to the flow-run children, so one process tree shares
one API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import prefect
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from flows.lifetime import die_with_parent


class _TemporaryServer(SubprocessASGIServer):
    """Prefect's temporary API server (the same command), ended by the kernel with our process."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        # As SubprocessASGIServer starts it (prefect 3.8), plus the parent-death signal. Only
        # the main thread starts it, and for the kernel the "parent" is the forking thread.
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


@contextmanager
def local_api() -> Iterator[str]:
    """The configured Prefect API, else a temporary local one for this process and its children.

    The flow-run children of `monitor serve` get PREFECT_API_URL, so they use this server
    rather than each starting another (one API, one set of flow runs for the process tree).
    """
    configured = PREFECT_API_URL.value()
    if configured:
        yield str(configured)
        return
    server = _TemporaryServer()
    server.start(timeout=120)
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        # Send the logs and events still queued while the server is up (Prefect drains them
        # at exit, when ours would be gone already: "Error logging to API").
        APILogWorker.drain_all(timeout=5)
        EventsWorker.drain_all(timeout=5)
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()
