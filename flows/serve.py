"""Scheduled mode without a Prefect server: both schedules in one long-running process.

Prefect's `serve` runs the ingest and digest deployments on their crons (from `[schedule]`);
with no PREFECT_API_URL it starts a temporary local API for the lifetime of the process.
Each flow run is a child process, so stopping is a matter of ending the children: a
SIGTERM or Ctrl-C ends the runner, and the child that may be mid-run is terminated
(then killed). Every pipeline step commits its own short transaction and the run lock is
an flock, so the database is left consistent and unlocked, and the next run finishes
the work (start_run marks the cut-short run 'interrupted').
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import psutil  # type: ignore[import-untyped]
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.runner import Runner
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.digest import digest_flow
from flows.ingest import ingest_flow
from monitor.settings import Settings

log = logging.getLogger(__name__)

# A scheduled ingest that finds the previous one still running waits this long, then skips.
LOCK_WAIT_S = 60.0
# How long a flow run cut short by stopping gets to end on SIGTERM before it is killed.
CHILD_GRACE_S = 3.0


def build_deployments(settings: Settings) -> tuple[RunnerDeployment, RunnerDeployment]:
    """The ingest and digest deployments on the crons of `[schedule]`, for these settings."""
    common: dict[str, Any] = {
        "config": str(settings.config_path) if settings.config_path else None,
        "db": str(settings.storage.db.resolve()),
    }
    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
    )
    tz = settings.schedule.timezone
    ingest: RunnerDeployment = ingest_flow.to_deployment(  # type: ignore[assignment]
        name="ingest",
        schedules=[Cron(settings.schedule.ingest_cron, timezone=tz)],
        parameters={
            **common,
            "seeds": [str(d.resolve()) for d in settings.seeds.dirs],
            "fetch": True,
            "lock_wait_s": LOCK_WAIT_S,
            "skip_if_locked": True,
        },
        concurrency_limit=one_at_a_time,
        description="Scheduled ingest (monitor serve).",
    )
    digest: RunnerDeployment = digest_flow.to_deployment(  # type: ignore[assignment]
        name="digest",
        schedules=[Cron(settings.schedule.digest_cron, timezone=tz)],
        parameters=common,
        concurrency_limit=one_at_a_time,
        description="Scheduled digest (monitor serve).",
    )
    return ingest, digest


async def _trigger_now(deployment: RunnerDeployment) -> None:
    """Register the deployment and schedule one run of it for right now."""
    deployment_id = await deployment.aapply()
    async with get_client() as client:
        await client.create_flow_run_from_deployment(deployment_id)


@contextmanager
def local_api() -> Iterator[str]:
    """The configured Prefect API, else a temporary local one shared with the flow-run children.

    Prefect would start a temporary server on its own, but the runner's child processes
    would not know its address and each start another; giving them PREFECT_API_URL keeps
    one API (and one set of concurrency slots) for the whole process tree.
    """
    configured = PREFECT_API_URL.value()
    if configured:
        yield str(configured)
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


class _Runner(Runner):
    """Prefect's runner, stopping on SIGTERM the same way as on Ctrl-C."""

    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        """SIGTERM: unwind like KeyboardInterrupt (Prefect's own handler exits half-stopped)."""
        raise KeyboardInterrupt


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _end_children(keep: set[int], grace_s: float) -> None:
    """Terminate the flow-run processes still alive (SIGTERM, then SIGKILL after grace_s)."""
    children = [p for p in psutil.Process().children(recursive=True) if p.pid not in keep]
    if not children:
        return
    log.warning("stopping %d flow-run process(es) still running", len(children))
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=grace_s)


def serve_schedules(
    settings: Settings, *, run_now: bool = False, on_start: Callable[[], None] | None = None
) -> None:
    """Run ingest and digest on their schedules until SIGTERM or Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with local_api():
            keep = {p.pid for p in _children()}  # the temporary API server, if any
            try:
                ingest, digest = build_deployments(settings)
                if run_now:
                    asyncio.run(_trigger_now(ingest))
                runner = _Runner(name="monitor-serve")
                runner.add_deployment(ingest)
                runner.add_deployment(digest)
                if on_start is not None:
                    on_start()
                asyncio.run(runner.start())
            finally:
                # A second signal must not cut the cleanup short.
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                # A run cut short leaves the database consistent; the next run completes it.
                _end_children(keep, grace_s=CHILD_GRACE_S)
    except KeyboardInterrupt:
        log.info("stop requested; serve stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _children() -> list[Any]:
    return list(psutil.Process().children(recursive=True))
