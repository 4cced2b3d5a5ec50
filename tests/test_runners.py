"""Fan-out on a task runner: a local Dask cluster gives the same results as running in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow
from prefect.task_runners import ProcessPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

from flows.runners import chunked, make_task_runner, map_in_chunks
from monitor.seeds import clean_text
from monitor.settings import RunnerSettings

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@pytest.fixture(scope="module", autouse=True)
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _seed_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    assert len(texts) == 5
    return texts


def test_chunked_keeps_order_and_sizes() -> None:
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked([], 3) == []
    with pytest.raises(ValueError):
        chunked([1], 0)


def test_config_chooses_the_task_runner() -> None:
    from prefect_dask import DaskTaskRunner

    assert isinstance(make_task_runner(RunnerSettings()), ProcessPoolTaskRunner)
    local = make_task_runner(RunnerSettings(task_runner="dask", workers=2))
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 2
    remote = make_task_runner(
        RunnerSettings(task_runner="dask", dask_address="tcp://10.0.0.5:8786")
    )
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tcp://10.0.0.5:8786"


def test_dask_local_cluster_maps_chunks_like_in_process() -> None:
    texts = _seed_texts() * 3  # 15 texts in 8 chunks: more tasks than workers
    runner = make_task_runner(RunnerSettings(task_runner="dask", workers=2))

    @flow(task_runner=runner)
    def clean_all(items: list[str]) -> list[object]:
        return map_in_chunks(clean_text, items, 2)

    fanned_out = clean_all(texts)
    assert fanned_out == [clean_text(t) for t in texts]
