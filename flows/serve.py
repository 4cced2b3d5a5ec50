"""`monitor serve`: the ingest and digest flows on their schedules, in one long-running process.

Both flows are Prefect deployments served from this process (a Prefect runner) on the crons of
`[schedule]`. Their scheduled runs are made by a Prefect server's scheduler: the one at
PREFECT_API_URL, else a local `prefect server start` that serve runs as its own child
(flows/server.py, database under PREFECT_HOME). Each flow run is a child process of serve.

Stopping: SIGTERM or Ctrl-C ends the runner, then any flow run still going (SIGTERM, then
SIGKILL after CHILD_GRACE_S), then the local server. Every pipeline step commits its own short
transaction and the run lock is an flock, so the database is left consistent and unlocked, and
the next run finishes the work (start_run marks the cut-short run 'interrupted').

Nothing serve holds outlives it, however it ends (docs/scheduling.md):

- no Prefect concurrency limit on its deployments: a slot lives in the server's database under
  a lease that a killed flow run holds for minutes; one ingest at a time is the run lock's job
  (an flock, which the kernel drops with its process);
- one serve per database: `<db>.serve.lock` (monitor/locks.py), held for serve's lifetime;
- the local server and the flow-run children end when serve dies, even by SIGKILL
  (flows/lifetime.py);
- at start, what a killed serve left in the API (flow runs still "running", the slots of the
  concurrency limits older versions set) is released, and serve says so in one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from uuid import UUID

import psutil  # type: ignore[import-untyped]
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import State, StateType
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.runner import Runner
from prefect.schedules import Cron
from prefect.states import Cancelled, Crashed

from flows.digest import digest_flow
from flows.ingest import ingest_flow
from flows.lifetime import SERVE_PID_ENV
from flows.server import Api, prefect_api
from monitor.locks import serve_lock
from monitor.settings import Settings

log = logging.getLogger(__name__)

# A scheduled ingest that finds the previous one still running waits this long, then skips.
LOCK_WAIT_S = 60.0
# How long a flow run cut short by stopping gets to end on SIGTERM before it is killed.
CHILD_GRACE_S = 3.0

# Flow runs in these states have a process working on them, or had one.
_LIVE = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED]
# The runner deployments of older versions of serve, which had a concurrency limit.
_LEGACY = ("ingest/ingest", "digest/digest")


def deployment_name(db: Path) -> str:
    """The name of serve's deployments for a database: one name per database file.

    Two serves of different databases may share a PREFECT_HOME (or a server); under one
    name each would pick up the other's scheduled runs, with its own parameters.
    """
    key = hashlib.sha256(str(db.resolve()).encode("utf-8")).hexdigest()[:8]
    return f"serve-{key}"


def build_deployments(settings: Settings) -> tuple[RunnerDeployment, RunnerDeployment]:
    """The ingest and digest deployments on the crons of `[schedule]`, for these settings.

    No Prefect concurrency limit (see the module docstring): two ingests never overlap,
    because the second waits for the run lock up to LOCK_WAIT_S, then skips and says so.
    """
    common: dict[str, Any] = {
        "config": str(settings.config_path) if settings.config_path else None,
        "db": str(settings.storage.db.resolve()),
    }
    name = deployment_name(settings.storage.db)
    tz = settings.schedule.timezone
    ingest: RunnerDeployment = ingest_flow.to_deployment(  # type: ignore[assignment]
        name=name,
        schedules=[Cron(settings.schedule.ingest_cron, timezone=tz)],
        parameters={
            **common,
            "seeds": [str(d.resolve()) for d in settings.seeds.dirs],
            "fetch": True,
            "lock_wait_s": LOCK_WAIT_S,
            "skip_if_locked": True,
        },
        description="Scheduled ingest (monitor serve).",
    )
    digest: RunnerDeployment = digest_flow.to_deployment(  # type: ignore[assignment]
        name=name,
        schedules=[Cron(settings.schedule.digest_cron, timezone=tz)],
        parameters=common,
        description="Scheduled digest (monitor serve).",
    )
    return ingest, digest


@dataclass
class Released:
    """What an earlier serve had left in the Prefect API, released at start."""

    runs_crashed: int = 0
    runs_cancelled: int = 0
    slots: int = 0
    deployments: int = 0

    def __bool__(self) -> bool:
        return bool(self.runs_crashed or self.runs_cancelled or self.slots or self.deployments)

    def describe(self) -> str:
        """What was released, in one line."""
        parts = []
        if self.runs_crashed:
            parts.append(f"{self.runs_crashed} flow run(s) left running marked Crashed")
        if self.runs_cancelled:
            parts.append(f"{self.runs_cancelled} run(s) waiting for a slot cancelled")
        if self.slots:
            parts.append(f"{self.slots} concurrency slot(s) freed")
        if self.deployments:
            parts.append(f"{self.deployments} deployment(s) of an older serve removed")
        return "released what an earlier serve left behind: " + ", ".join(parts)


async def _release_runs(client: PrefectClient, deployment_id: UUID, released: Released) -> None:
    wanted = FlowRunFilterStateType(any_=[*_LIVE, StateType.SCHEDULED])
    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=wanted)),
    )
    for run in runs:
        if run.state is None:
            continue
        if run.state.type in _LIVE:
            # The serve lock is ours, so no live serve runs it: its process is gone.
            crashed: State[Any] = Crashed(message="the monitor serve running it was killed")
            await client.set_flow_run_state(run.id, crashed, force=True)
            released.runs_crashed += 1
        elif run.state.name == "AwaitingConcurrencySlot":
            cancelled: State[Any] = Cancelled(message="left waiting for a concurrency slot")
            await client.set_flow_run_state(run.id, cancelled, force=True)
            released.runs_cancelled += 1


async def release_stale(names: list[str]) -> Released:
    """Release what an earlier serve left for these deployments ("flow/deployment" names).

    Call it holding the serve lock, so that no live serve owns them. Runs still pending or
    running are marked Crashed; runs an old concurrency limit left waiting are cancelled;
    the runner deployments of older versions (ingest/ingest, digest/digest without a work
    pool) are deleted, and their concurrency limits and slots with them.
    """
    released = Released()
    async with get_client() as client:
        for name in [*names, *_LEGACY]:
            try:
                deployment = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if name in _LEGACY and deployment.work_pool_name is not None:
                continue  # a prefect.yaml deployment (the server path), not serve's
            await _release_runs(client, deployment.id, released)
            limit = deployment.global_concurrency_limit
            if limit is not None:
                # Applying the deployment without a limit deletes the limit and its slots.
                released.slots += limit.active_slots
            if name in _LEGACY:
                await client.delete_deployment(deployment.id)
                released.deployments += 1
    return released


async def _trigger_now(deployment: RunnerDeployment) -> None:
    """Register the deployment and schedule one run of it for right now."""
    deployment_id = await deployment.aapply()
    async with get_client() as client:
        await client.create_flow_run_from_deployment(deployment_id)


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
    settings: Settings, *, run_now: bool = False, on_start: Callable[[Api], None] | None = None
) -> None:
    """Run ingest and digest on their schedules until SIGTERM or Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with serve_lock(settings.storage.db), prefect_api(settings.schedule.server_port) as api:
            keep = {p.pid for p in _children()}  # the local server: stopped after the runs
            # The flow-run children end themselves once this process is gone (lifetime.py).
            os.environ[SERVE_PID_ENV] = str(os.getpid())
            try:
                ingest, digest = build_deployments(settings)
                names = [f"{d.flow_name}/{d.name}" for d in (ingest, digest)]
                released = asyncio.run(release_stale(names))
                if released:
                    log.warning("%s", released.describe())
                if run_now:
                    asyncio.run(_trigger_now(ingest))
                runner = _Runner(name="monitor-serve")
                runner.add_deployment(ingest)
                runner.add_deployment(digest)
                if on_start is not None:
                    on_start(api)
                asyncio.run(runner.start())
            finally:
                # A second signal must not cut the cleanup short.
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.environ.pop(SERVE_PID_ENV, None)
                # A run cut short leaves the database consistent; the next run completes it.
                _end_children(keep, grace_s=CHILD_GRACE_S)
    except KeyboardInterrupt:
        log.info("stop requested; serve stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _children() -> list[Any]:
    return list(psutil.Process().children(recursive=True))
