"""Fan-out of extraction: on collect's own process pool, or on a local Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

import monitor.runners
from monitor.pipeline import run_ingest
from monitor.runners import extraction_executor
from monitor.settings import RunnerSettings, load_settings
from tests.fetch_server import LocalServer, article_html, rss, running, static


def test_process_runner_leaves_extraction_to_the_library_pool() -> None:
    with extraction_executor(RunnerSettings()) as executor:
        assert executor is None


def test_dask_executor_starts_no_cluster_until_used() -> None:
    with extraction_executor(RunnerSettings(task_runner="dask", workers=1)) as executor:
        assert isinstance(executor, monitor.runners.DaskExecutor)
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
    original = monitor.runners.DaskExecutor.submit

    def counting_submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        submitted.append(len(args[0]))
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(monitor.runners.DaskExecutor, "submit", counting_submit)
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
        # `[runner] task_runner = "dask"` is the run's own choice: no executor is passed in.
        summary = run_ingest(load_settings(config))
    assert summary.status == "completed", summary
    assert summary.articles_new == len(places), summary
    assert sum(submitted) == len(places)  # every page was extracted on the Dask cluster
