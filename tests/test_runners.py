"""Fan-out on a task runner: a local Dask cluster gives the same results as running in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow
from prefect.task_runners import ProcessPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

import flows.runners
from flows.ingest import ingest_flow
from flows.runners import chunked, extraction_executor, make_task_runner, map_in_chunks
from monitor.seeds import clean_text
from monitor.settings import RunnerSettings
from tests.fetch_server import LocalServer, article_html, rss, running, static

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


def test_process_runner_leaves_extraction_to_the_library_pool() -> None:
    with extraction_executor(RunnerSettings()) as executor:
        assert executor is None


def test_dask_executor_starts_no_cluster_until_used() -> None:
    with extraction_executor(RunnerSettings(task_runner="dask", workers=1)) as executor:
        assert isinstance(executor, flows.runners.DaskExecutor)
        assert executor._client is None  # a run with nothing to extract pays nothing


def test_ingest_extracts_fetched_pages_on_a_local_dask_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    server = LocalServer()
    server.routes["/robots.txt"] = static(b"User-agent: *\nDisallow:\n", "text/plain")
    places = ["Baghdad", "Erbil", "Anbar", "Basra"]
    for i, place in enumerate(places):
        paras = [
            f"Coalition advisers will leave the base near {place} by September, officials said.",
            f"Iraqi lawmakers in {place} asked for a timetable for the withdrawal of US troops.",
            f"The talks on the future of the mission in {place} resume next month, {i} said.",
        ] * 3
        page = article_html(f"Troops in {place}", paras).encode()
        server.routes[f"/story{i}.html"] = static(page)
    submitted: list[int] = []
    original = flows.runners.DaskExecutor.submit

    def counting_submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        submitted.append(len(args[0]))
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(flows.runners.DaskExecutor, "submit", counting_submit)
    with running(server):
        items = [{"title": p, "link": server.url(f"/story{i}.html")} for i, p in enumerate(places)]
        server.routes["/feed.xml"] = static(rss(items), "application/rss+xml")
        config = tmp_path / "monitor.toml"
        config.write_text(
            f'[storage]\ndb = "{tmp_path / "monitor.duckdb"}"\n'
            "[seeds]\ndirs = []\n"
            "[[sources]]\n"
            f'name = "local"\nkind = "feed"\nurl = "{server.url("/feed.xml")}"\n'
            "[fetch]\nper_host_delay_s = 0\ntimeout_s = 5\n"
            'trusted_hosts = ["127.0.0.1"]\n'
            '[runner]\ntask_runner = "dask"\nworkers = 2\n',
            encoding="utf-8",
        )
        summary = ingest_flow(config=str(config), fetch=True)
    assert summary["status"] == "completed", summary
    assert summary["articles_new"] == len(places), summary
    assert sum(submitted) == len(places)  # every page was extracted on the Dask cluster
