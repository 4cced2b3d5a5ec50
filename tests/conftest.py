"""Shared fixtures: the repository's seeds, the shared data folder, fresh settings per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def own_prefect_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test its own PREFECT_HOME, and no Prefect API from the environment: Prefect keeps
    state there, and a test must neither read nor leave another's."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.fixture
def seeds_dir() -> Path:
    """The five seed articles shipped with the project."""
    return SEEDS


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has no shared folder beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a fresh DuckDB file, seeds only, no config file from the environment."""
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return load_settings(db=tmp_path / "monitor.duckdb", seeds=[SEEDS])
