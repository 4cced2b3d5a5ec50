"""The `monitor` command as a user runs it: real processes, real Prefect flow runs, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def monitor(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project(tmp_path: Path, seeds_dir: Path) -> Path:
    """A working folder with the seeds, as a new user's checkout has."""
    (tmp_path / "seeds").symlink_to(seeds_dir)
    return tmp_path


def test_run_then_digest_then_sql(project: Path) -> None:
    # --no-fetch: the packaged default sources are on the internet, which tests never touch.
    first = monitor("run", "--no-fetch", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "5 new, 0 duplicates, 0 failed" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr
    assert (project / "data" / "monitor.duckdb").is_file()

    again = monitor("run", "--no-fetch", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "Nothing new: 5 article(s) already stored" in again.stdout

    out = project / "digest.md"
    digest = monitor("digest", "--out", str(out), cwd=project)
    assert digest.returncode == 0, digest.stderr
    text = out.read_text(encoding="utf-8")
    assert "Iraq parliament passes resolution to expel US-led coalition troops" in text

    as_json = monitor("digest", "--format", "json", cwd=project)
    data = json.loads(as_json.stdout)
    assert data["schema_version"] and len(data["stories"]) >= 1

    rows = monitor("sql", "SELECT count(*) AS n FROM articles", "--format", "json", cwd=project)
    assert json.loads(rows.stdout) == [{"n": 5}]
    # Every DuckDB connection is closed before exit: DuckDB 2 reports leaked ones on stderr.
    for done in (first, again, digest, as_json, rows):
        assert "nanobind" not in done.stderr and "leaked" not in done.stderr, done.stderr


def test_sql_is_read_only(project: Path) -> None:
    assert monitor("run", "--no-fetch", cwd=project).returncode == 0
    result = monitor("sql", "DELETE FROM core.articles", cwd=project)
    assert result.returncode == 2
    assert "read-only" in result.stderr.lower()
    count = monitor("sql", "SELECT count(*) FROM core.articles", "--format", "csv", cwd=project)
    assert count.stdout.splitlines()[1] == "5"


def test_bad_config_is_a_one_line_error_naming_the_key(project: Path) -> None:
    (project / "monitor.toml").write_text('[fetch]\ntimeout_s = "soon"\nbogus = 1\n')
    result = monitor("run", cwd=project)
    assert result.returncode == 2
    assert "fetch.bogus" in result.stderr and "fetch.timeout_s" in result.stderr
    assert "Traceback" not in result.stderr
    (project / "monitor.toml").write_text(
        '[[sources]]\nname = "x"\nkind = "feed"\nurl = "ftp://example.org/feed"\n'
    )
    result = monitor("run", cwd=project)
    assert result.returncode == 2 and "sources.0.url" in result.stderr


def test_digest_and_sql_succeed_while_an_ingest_is_writing(tmp_path: Path, seeds_dir: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    base = next(seeds_dir.glob("004_*.txt")).read_text(encoding="utf-8")
    for i in range(400):  # enough work that the ingest writes for a while
        (seeds / f"{i:04d}.txt").write_text(f"Report number {i}\n\n{base}\nUpdate {i}.")
    db = tmp_path / "m.duckdb"
    assert (
        monitor(
            "run", "--no-fetch", "--db", str(db), "--seeds", str(seeds_dir), cwd=tmp_path
        ).returncode
        == 0
    )
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "run",
            "--no-fetch",
            "--db",
            str(db),
            "--seeds",
            str(seeds),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        readers = 0
        deadline = time.monotonic() + 120
        while ingest.poll() is None and time.monotonic() < deadline:
            digest = monitor("digest", "--db", str(db), "--format", "json", "--all", cwd=tmp_path)
            assert digest.returncode == 0, digest.stderr
            json.loads(digest.stdout)
            query = monitor("sql", "SELECT count(*) FROM articles", "--db", str(db), cwd=tmp_path)
            assert query.returncode == 0, query.stderr
            readers += 1
        out, err = ingest.communicate(timeout=120)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert ingest.returncode == 0, err
    assert "400 new" in out
    assert readers >= 1


def test_storylines_listed_shown_and_renamed(project: Path) -> None:
    assert monitor("run", "--no-fetch", cwd=project).returncode == 0
    listed = monitor("storylines", "--format", "json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    lines = json.loads(listed.stdout)
    assert lines and {"storyline_id", "title", "story_count", "article_count"} <= set(lines[0])
    first = lines[0]["storyline_id"]
    shown = monitor("storyline", first, "--format", "md", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"# {lines[0]['title']}")
    renamed = monitor("storyline", "rename", first, "A", "thread", "renamed", cwd=project)
    assert renamed.returncode == 0, renamed.stderr
    again = json.loads(monitor("storylines", "--format", "json", cwd=project).stdout)
    assert {x["title"] for x in again if x["storyline_id"] == first} == {"A thread renamed"}
    missing = monitor("storyline", "0000000000000000", cwd=project)
    assert missing.returncode == 2
    assert "no storyline" in missing.stderr and "Traceback" not in missing.stderr
