"""Fan-out of CPU-bound work (extraction) on local processes or a Dask cluster, per the config.

`[runner] task_runner = "process"` keeps everything on this machine (Prefect's
ProcessPoolTaskRunner); `"dask"` uses prefect-dask's DaskTaskRunner: a local cluster of
`workers` processes, or an existing cluster at `dask_address` whose workers may run on
other machines. Only pure, picklable functions are fanned out; results come back to the
flow, and the flow alone writes the DuckDB file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from monitor.settings import RunnerSettings

T = TypeVar("T")
R = TypeVar("R")


def make_task_runner(runner: RunnerSettings) -> TaskRunner[Any]:
    """The task runner named by `[runner]`: process pool, local Dask cluster, or a remote one."""
    if runner.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if runner.dask_address:
            return DaskTaskRunner(address=runner.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": runner.workers or os.cpu_count() or 1,
                "processes": True,
                "threads_per_worker": 1,
                # The dashboard needs bokeh and a port; a scheduled job wants neither.
                "dashboard_address": None,
            }
        )
    return ProcessPoolTaskRunner(max_workers=runner.workers)


@task(name="map-chunk", cache_policy=NO_CACHE)
def _apply_to_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    """Apply fn to every item of one chunk (runs on a worker process)."""
    return [fn(item) for item in chunk]


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """Split items into lists of at most size items, in order."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def map_in_chunks(fn: Callable[[T], R], items: Sequence[T], chunk: int) -> list[R]:
    """Inside a flow: apply a picklable fn to items, one task per chunk, results in order.

    The tasks run on the calling flow's task runner (see make_task_runner), so the same
    code fans out to local processes or to Dask workers on other machines.
    """
    futures = [_apply_to_chunk.submit(fn, part) for part in chunked(items, chunk)]
    return [result for future in futures for result in future.result()]
