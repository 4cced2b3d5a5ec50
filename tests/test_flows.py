"""The Prefect flows on a test API (prefect_test_harness): ingest, re-ingest, skip, digest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.exceptions import ObjectNotFound
from prefect.states import Pending
from prefect.testing.utilities import prefect_test_harness

from flows.digest import digest_flow
from flows.ingest import ingest_flow
from flows.serve import release_stale
from monitor.errors import RunLocked, ServeLocked
from monitor.locks import run_lock, serve_lock
from monitor.models import RunReport

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


@pytest.fixture(scope="module", autouse=True)
def harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder as cwd (relative paths such as digests/ land here), no user config."""
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def ingest(db: Path, **kwargs: object) -> RunReport:
    report = ingest_flow(db=str(db), seeds=[str(SEEDS)], fetch=False, **kwargs)
    assert isinstance(report, RunReport)
    return report


def test_ingest_flow_stores_the_five_seeds(workdir: Path) -> None:
    db = workdir / "monitor.duckdb"
    summary = ingest(db)
    assert summary.status == "completed"
    assert summary.articles_new == 5
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchone() == (
            5,
            5,
        )
        assert con.execute("SELECT status, articles_new FROM runs").fetchall() == [("completed", 5)]
        assert con.execute("SELECT count(*) FROM core.classifications").fetchone() == (5,)
    finally:
        con.close()
    # The flow run publishes the run's report as a markdown artifact.
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-report"]))
        )
    assert any(f"# Ingest {summary.run_id}: completed" in str(a.data) for a in artifacts)


def test_running_ingest_again_adds_nothing(workdir: Path) -> None:
    db = workdir / "monitor.duckdb"
    ingest(db)
    again = ingest(db)
    assert again.articles_new == 0
    assert again.unchanged == 5
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (5,)
        assert [r[0] for r in con.execute("SELECT articles_new FROM runs").fetchall()] == [5, 0]
    finally:
        con.close()


def test_scheduled_ingest_skips_while_another_run_holds_the_database(workdir: Path) -> None:
    db = workdir / "monitor.duckdb"
    with run_lock(db, wait_s=0):  # another run at work on this database
        skipped = ingest(db, skip_if_locked=True, lock_wait_s=0.5)
        state = ingest_flow(
            db=str(db), seeds=[str(SEEDS)], fetch=False, lock_wait_s=0, return_state=True
        )
    assert skipped.status == "skipped"
    assert "another ingest run is still working" in str(skipped.reason)
    # Without skip_if_locked (the `monitor run` command) it is an error the CLI reports.
    assert state.is_failed()
    with pytest.raises(RunLocked):
        state.result()
    # Once the other run is done, the next run proceeds.
    assert ingest(db, skip_if_locked=True).articles_new == 5


def test_digest_flow_writes_a_file_and_publishes_an_artifact(workdir: Path) -> None:
    db = workdir / "monitor.duckdb"
    ingest(db)
    info = digest_flow(db=str(db), fmt="md")
    path = Path(str(info["path"]))
    written = path if path.is_absolute() else workdir / path
    assert written.parent.resolve() == (workdir / "digests").resolve()
    assert written.is_file()
    assert written.read_text(encoding="utf-8").strip()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["digest"]))
        )
    assert artifacts
    assert any(a.description == str(path) for a in artifacts)


def test_serve_releases_the_slot_an_older_serve_left_taken(workdir: Path) -> None:
    """Older versions gave serve's deployments a concurrency limit; a serve killed while
    submitting left its slot taken (the lease lived in the dead API server's memory)."""
    legacy = ingest_flow.to_deployment(
        name="ingest",
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
        ),
    )

    async def leave_a_slot_taken() -> int:
        deployment_id = await legacy.aapply()
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(deployment_id)
            await client.set_flow_run_state(run.id, Pending())  # the limit's slot is taken
            deployment = await client.read_deployment_by_name("ingest/ingest")
        assert deployment.global_concurrency_limit is not None
        return deployment.global_concurrency_limit.active_slots

    assert asyncio.run(leave_a_slot_taken()) == 1
    released = asyncio.run(release_stale(["ingest/serve-0000", "digest/serve-0000"]))
    assert (released.runs_crashed, released.slots, released.deployments) == (1, 1, 1)
    assert released.describe() == (
        "released what an earlier serve left behind: 1 flow run(s) left running marked "
        "Crashed, 1 concurrency slot(s) freed, 1 deployment(s) of an older serve removed"
    )

    async def gone() -> bool:
        async with get_client() as client:
            try:
                await client.read_deployment_by_name("ingest/ingest")
            except ObjectNotFound:
                return True
        return False

    assert asyncio.run(gone())
    assert not asyncio.run(release_stale(["ingest/serve-0000"]))  # nothing left the next time


def test_one_serve_per_database(tmp_path: Path) -> None:
    db = tmp_path / "monitor.duckdb"
    with (
        serve_lock(db),
        pytest.raises(ServeLocked, match="another `monitor serve` is already serving"),
        serve_lock(db),
    ):
        pass
    with serve_lock(db):  # released with its holder
        pass
