"""Fan-out of CPU-bound work (extraction) on local processes or a Dask cluster, per the config.

`[runner] task_runner = "process"` keeps everything on this machine (collect's own process
pool); `"dask"` uses a Dask cluster: a local one of `workers` processes, or an existing cluster
at `dask_address` whose workers may run on other machines. Only pure, picklable functions are
fanned out (`extract.extract_pages`); results come back to the run, and the run's own process
alone writes the DuckDB file.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from monitor.errors import ConfigError
from monitor.settings import RunnerSettings

R = TypeVar("R")


def _local_cluster_kwargs(runner: RunnerSettings) -> dict[str, Any]:
    return {
        "n_workers": runner.workers or os.cpu_count() or 1,
        "processes": True,
        "threads_per_worker": 1,
        # The dashboard needs bokeh and a port; a scheduled job wants neither.
        "dashboard_address": None,
    }


class DaskExecutor(concurrent.futures.Executor):
    """A concurrent.futures executor on a Dask cluster, connected on first use: a run that
    extracts nothing (seeds only, nothing new, or skipped) starts no cluster."""

    def __init__(self, runner: RunnerSettings) -> None:
        self._runner = runner
        self._cluster: Any = None
        self._client: Any = None
        self._executor: Any = None

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Any:
        """Submit fn(*args) to the cluster (starting or connecting to it the first time)."""
        if self._executor is None:
            try:
                from distributed import Client, LocalCluster
            except ImportError:
                raise ConfigError(
                    'runner.task_runner = "dask" needs Dask\'s distributed package: '
                    "pip install 'iraq-troop-monitor[dask]'"
                ) from None

            if self._runner.dask_address:
                self._client = Client(self._runner.dask_address)  # type: ignore[no-untyped-call]
            else:
                options = _local_cluster_kwargs(self._runner)
                self._cluster = LocalCluster(**options)  # type: ignore[no-untyped-call]
                self._client = Client(self._cluster)  # type: ignore[no-untyped-call]
            self._executor = self._client.get_executor()
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Disconnect, and stop the local cluster if this executor started one."""
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._executor = self._client = self._cluster = None


@contextmanager
def extraction_executor(
    runner: RunnerSettings, given: concurrent.futures.Executor | None = None
) -> Iterator[concurrent.futures.Executor | None]:
    """The executor page extraction fans out on: `given` if any; else None (collect's own local
    process pool) for "process", else a Dask cluster's (a local one, or the one at
    dask_address)."""
    if given is not None or runner.task_runner != "dask":
        yield given
        return
    executor = DaskExecutor(runner)
    try:
        yield executor
    finally:
        executor.shutdown()
