"""The `monitor` command as a user runs it: real processes, real files, a real HTTP server."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import clean_env, free_port

ROOT = Path(__file__).resolve().parents[1]


def monitor(
    *args: str,
    cwd: Path,
    timeout: float = 180,
    user: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`monitor ARGS` in a real process, with its own PREFECT_HOME (in cwd); as `user` if given."""
    env = clean_env(PYTHONPATH=str(ROOT), PREFECT_HOME=str(cwd / ".prefect-home"), **(env or {}))
    command = [sys.executable, "-m", "monitor.cli", *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
        env["HOME"] = str(cwd)
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
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


def processes_in(folder: Path) -> list[str]:
    """Processes other than this one whose working directory is `folder`."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
        if proc.info["pid"] == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if proc.info["cwd"] == str(folder):
            found.append(" ".join(proc.info["cmdline"] or []))
    return found


def test_a_run_that_fetches_leaves_no_process_behind(project: Path) -> None:
    from tests.fetch_server import LocalServer, article_html, rss, running, static

    server = LocalServer()
    server.routes["/robots.txt"] = static(b"User-agent: *\nAllow: /\n", "text/plain")
    for i in range(4):
        text = [f"US troops left the base near Baghdad, officials said on day {i}."] * 6
        server.routes[f"/a{i}.html"] = static(article_html(f"Report {i}", text).encode())
    with running(server):
        items = [{"title": f"Report {i}", "link": server.url(f"/a{i}.html")} for i in range(4)]
        server.routes["/feed.xml"] = static(rss(items), "application/rss+xml")
        (project / "monitor.toml").write_text(
            f'[[sources]]\nname = "local"\nkind = "feed"\nurl = "{server.url("/feed.xml")}"\n'
            '[fetch]\nper_host_delay_s = 0\ntrusted_hosts = ["127.0.0.1"]\n',
            encoding="utf-8",
        )
        done = monitor("run", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "9 new" in done.stdout  # the four pages and the five seeds
    # The extraction workers and their forkserver went with the command.
    time.sleep(5)
    assert processes_in(project) == []


def test_digest_and_sql_succeed_while_an_ingest_is_writing(tmp_path: Path, seeds_dir: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    base = next(seeds_dir.glob("004_*.txt")).read_text(encoding="utf-8")
    for i in range(100):  # enough work that the ingest writes for a while
        (seeds / f"{i:04d}.txt").write_text(f"Report number {i}\n\n{base}\nUpdate {i}.")
    db = tmp_path / "m.duckdb"
    assert (
        monitor(
            "run", "--no-fetch", "--db", str(db), "--seeds", str(seeds_dir), cwd=tmp_path
        ).returncode
        == 0
    )
    env = clean_env(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / ".prefect-home"))
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
    assert "100 new" in out
    assert readers >= 1


# -- one line for every failure a user can cause or meet -----------------------------------------

NOBODY = 65534


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the five seeds, made once by a real `monitor run`; tests copy it."""
    work = tmp_path_factory.mktemp("stored")
    (work / "seeds").symlink_to(ROOT / "seeds")
    done = monitor("run", "--no-fetch", "--db", "monitor.duckdb", cwd=work)
    assert done.returncode == 0, done.stderr
    return work / "monitor.duckdb"


def one_line_error(done: subprocess.CompletedProcess[str], *wanted: str) -> str:
    """Assert exit 2 with exactly one line on stderr, no traceback; return that line."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for text in wanted:
        assert text in lines[0], lines[0]
    return lines[0]


@contextlib.contextmanager
def mounted(target: Path, *options: str, source: str = "tmpfs") -> Iterator[Path]:
    """A mount for the test's lifetime (root only); skips where mounting is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small file system")
    target.mkdir(parents=True, exist_ok=True)
    kind = ["-t", "tmpfs"] if source == "tmpfs" else []
    done = subprocess.run(
        ["mount", *kind, *options, source, str(target)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_run_on_a_file_that_is_not_a_duckdb_database_is_one_line(project: Path) -> None:
    (project / "notes.duckdb").write_text("my notes, not a database\n")
    done = monitor("run", "--no-fetch", "--db", "notes.duckdb", cwd=project)
    one_line_error(done, "notes.duckdb", "not a valid DuckDB database file")
    # -v shows the detail: the traceback, after the one line.
    verbose = monitor("run", "--no-fetch", "--db", "notes.duckdb", "-v", cwd=project)
    assert verbose.returncode == 2
    assert verbose.stderr.startswith("error: cannot open database notes.duckdb")
    assert "Traceback" in verbose.stderr and "duckdb" in verbose.stderr


def test_run_on_a_truncated_database_is_one_line(project: Path, stored_db: Path) -> None:
    data = stored_db.read_bytes()
    (project / "cut.duckdb").write_bytes(data[: len(data) // 8])
    done = monitor("run", "--no-fetch", "--db", "cut.duckdb", cwd=project)
    one_line_error(done, "cut.duckdb", "Could not read enough bytes")
    # A reader gets as far as the blocks that are there: either its output or one line.
    for read in (["sql", "SELECT count(*) FROM articles"], ["digest"], ["sources"]):
        done = monitor(*read, "--db", "cut.duckdb", cwd=project)
        if done.returncode != 0:
            one_line_error(done, "cut.duckdb")


def test_run_in_a_read_only_folder_is_one_line(project: Path, stored_db: Path) -> None:
    source = project / "data"
    source.mkdir()
    shutil.copy(stored_db, source / "monitor.duckdb")
    with mounted(project / "ro", "--bind", source=str(source)) as ro:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        existing = monitor("run", "--no-fetch", "--db", "ro/monitor.duckdb", cwd=project)
        one_line_error(existing, "ro/monitor.duckdb.run.lock", "Read-only file system")
        new = monitor("run", "--no-fetch", "--db", "ro/new/monitor.duckdb", cwd=project)
        one_line_error(new, "Read-only file system")
        # Reading needs no write access: sql, sources and digest work (the digest unrecorded).
        query = monitor(
            "sql",
            "SELECT count(*) FROM articles",
            "--format",
            "csv",
            "--db",
            "ro/monitor.duckdb",
            cwd=project,
        )
        assert query.returncode == 0 and query.stdout.splitlines() == ["count_star()", "5"]
        assert monitor("sources", "--db", "ro/monitor.duckdb", cwd=project).returncode == 0
        digest = monitor("digest", "--db", "ro/monitor.duckdb", cwd=project)
        assert digest.returncode == 0, digest.stderr
        assert "is read-only here, so this digest is not recorded" in digest.stderr


def test_run_on_a_full_disk_is_one_line(project: Path) -> None:
    with mounted(project / "disk", "-o", "size=1M"):
        done = monitor("run", "--no-fetch", "--db", "disk/monitor.duckdb", cwd=project)
        one_line_error(done, "disk/monitor.duckdb", "No space left on device")
        again = monitor("run", "--no-fetch", "--db", "disk/monitor.duckdb", cwd=project)
        one_line_error(again, "No space left on device")


@pytest.mark.parametrize("command", ["digest", "sql", "sources", "reclassify"])
def test_read_commands_with_a_mistyped_db_create_nothing(project: Path, command: str) -> None:
    args = [command, "SELECT 1"] if command == "sql" else [command]
    for typo in ("dta/monitor.duckdb", "monitr.duckdb"):
        done = monitor(*args, "--db", typo, cwd=project)
        one_line_error(done, f"no database at {typo} yet: run `monitor run` first")
    assert sorted(p.name for p in project.iterdir()) == ["seeds"]  # nothing created


def test_read_commands_work_as_a_user_who_cannot_write_the_database(stored_db: Path) -> None:
    """Root ignores file permissions, so this runs as `nobody` (setpriv)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    # pytest's tmp folders are private to root: a folder nobody may read (not write).
    work = Path(tempfile.mkdtemp(prefix="monitor-ro-"))
    try:
        work.chmod(0o755)
        shutil.copy(stored_db, work / "monitor.duckdb")
        (work / "monitor.duckdb").chmod(0o644)
        probe = monitor("--help", cwd=work, user=NOBODY)
        if probe.returncode != 0:
            pytest.skip(f"this interpreter does not run as nobody: {probe.stderr[-300:]}")
        query = monitor(
            "sql",
            "SELECT count(*) AS n FROM articles",
            "--format",
            "json",
            "--db",
            "monitor.duckdb",
            cwd=work,
            user=NOBODY,
        )
        assert query.returncode == 0, query.stderr
        assert json.loads(query.stdout) == [{"n": 5}]
        health = monitor("sources", "--db", "monitor.duckdb", cwd=work, user=NOBODY)
        assert health.returncode == 0, health.stderr
        out = work / "out"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        digest = monitor(
            "digest",
            "--since",
            "last",
            "--out",
            "out/d.md",
            "--db",
            "monitor.duckdb",
            cwd=work,
            user=NOBODY,
        )
        assert digest.returncode == 0, digest.stderr
        assert "Iraq parliament passes resolution" in (out / "d.md").read_text()
        assert "not recorded" in digest.stderr
        # Not recorded: as the owner, `--since last` still covers everything ...
        owner = monitor(
            "digest", "--since", "last", "--format", "json", "--db", "monitor.duckdb", cwd=work
        )
        assert owner.returncode == 0 and json.loads(owner.stdout)["stories"]
        # ... and, recorded this time, the next `--since last` has nothing new.
        after = monitor(
            "digest", "--since", "last", "--format", "json", "--db", "monitor.duckdb", cwd=work
        )
        assert json.loads(after.stdout)["stories"] == []
        assert not list(work.glob(".*.tmp")) and not list(out.glob(".*.tmp"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize(
    ("schedule", "key", "reason"),
    [
        ('ingest_cron = "every hour"', "schedule.ingest_cron", "not a cron expression"),
        ('digest_cron = "61 7 * * *"', "schedule.digest_cron", "not a cron expression"),
        ('timezone = "Mars/Olympus_Mons"', "schedule.timezone", "unknown time zone"),
    ],
)
def test_bad_cron_or_timezone_is_caught_when_the_config_is_loaded(
    project: Path, schedule: str, key: str, reason: str
) -> None:
    (project / "monitor.toml").write_text(f"[schedule]\n{schedule}\n")
    for command in (["serve"], ["run", "--no-fetch"], ["sources"]):
        done = monitor(*command, cwd=project)
        line = one_line_error(done, key, reason)
        assert line.startswith("configuration error:"), line


def test_usage_errors_are_one_line(project: Path) -> None:
    one_line_error(monitor("run", "--wait", "-5", cwd=project), "--wait", "greater than or equal")
    one_line_error(monitor("digest", "--format", "pdf", cwd=project), "--format")
    one_line_error(monitor("sql", cwd=project), "Missing argument")
    assert not (project / "data").exists()


@pytest.mark.parametrize("query", ["", "   ", "/* only a comment */"])
def test_empty_sql_is_one_line(project: Path, stored_db: Path, query: str) -> None:
    done = monitor("sql", query, "--db", str(stored_db), cwd=project)
    one_line_error(done, "empty query")


def test_digest_out_on_a_folder_is_one_line_and_leaves_no_temporary_file(
    project: Path, stored_db: Path
) -> None:
    folder = project / "digests"
    folder.mkdir()
    done = monitor("digest", "--out", "digests", "--db", str(stored_db), cwd=project)
    one_line_error(done, "--out digests is a folder")
    assert list(folder.iterdir()) == [] and not list(project.glob(".*.tmp"))


REFUSED = [
    ("COPY articles TO 'copy.csv'", "COPY", "copy.csv"),
    ("COPY (SELECT * FROM articles) TO 'copy.parquet' (FORMAT parquet)", "COPY", "copy.parquet"),
    ("ATTACH 'other.duckdb' (READ_WRITE)", "ATTACH", "other.duckdb"),
    ("ATTACH 'other.duckdb' AS o; CREATE TABLE o.t AS SELECT 1", "ATTACH", "other.duckdb"),
    ("EXPORT DATABASE 'exported'", "EXPORT", "exported"),
    ("INSTALL httpfs", "LOAD", None),
    ("LOAD httpfs", "LOAD", None),
    ("SELECT 1; COPY articles TO 'hidden.csv'", "statement 2 of 2 (COPY)", "hidden.csv"),
    ("SET enable_external_access = true", "SET", None),
    ("SET threads = 1", "SET", None),
    ("RESET threads", "SET", None),
    ("DELETE FROM core.articles", "DELETE", None),
    ("CREATE TABLE t AS SELECT 1", "CREATE", None),
    ("PRAGMA threads = 1", "SET", None),
    ("PRAGMA import_database('exported')", "PRAGMA", None),
]


@pytest.mark.parametrize(("query", "kind", "written"), REFUSED, ids=[q for q, _, _ in REFUSED])
def test_sql_refuses_what_is_not_a_read_in_one_line(
    project: Path, stored_db: Path, query: str, kind: str, written: str | None
) -> None:
    before = stored_db.stat().st_mtime_ns
    done = monitor("sql", query, "--db", str(stored_db), cwd=project)
    line = one_line_error(done, f"refused {kind}", "read-only")
    assert written is None or not (project / written).exists(), line
    assert stored_db.stat().st_mtime_ns == before


def test_sql_guards_hold_even_for_a_read(project: Path, stored_db: Path) -> None:
    """DuckDB's own settings stop what a SELECT could reach: no file but the database."""
    secret = project / "secret.csv"
    secret.write_text("a\n1\n")
    done = monitor(
        "sql", f"SELECT * FROM read_csv('{secret}')", "--db", str(stored_db), cwd=project
    )
    one_line_error(done, "refused", "file system operations are disabled")
    views = monitor(
        "sql",
        "SELECT title FROM stories ORDER BY title LIMIT 1",
        "--format",
        "csv",
        "--db",
        str(stored_db),
        cwd=project,
    )
    assert views.returncode == 0 and len(views.stdout.splitlines()) == 2, views.stderr
    described = monitor("sql", "DESCRIBE articles", "--db", str(stored_db), cwd=project)
    assert described.returncode == 0 and "outlet" in described.stdout


# -- output a person can read ---------------------------------------------------------------------


def test_failed_sources_are_summarised_in_one_line_by_reason(
    tmp_path: Path, seeds_dir: Path
) -> None:
    """Like an offline run of the default sources: every source fails; the summary counts
    them by reason instead of listing URLs, and the next run counts them as backing off."""
    from tests.fetch_server import LocalServer, running, status

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for seed in seeds_dir.iterdir():
        shutil.copy(seed, seeds)
    (seeds / ":tv: [red]broken:elf:.txt").write_bytes(b"\x00\x01binary\x00")
    closed = [free_port() for _ in range(3)]
    server = LocalServer()
    server.routes["/feed.xml"] = status(404)
    with running(server):
        sources = "".join(
            f'[[sources]]\nname = "Closed {i}"\nkind = "feed"\n'
            f'url = "http://127.0.0.1:{port}/rss.xml"\n'
            for i, port in enumerate(closed)
        )
        gone = server.url("/feed.xml")
        sources += f'[[sources]]\nname = "Gone"\nkind = "feed"\nurl = "{gone}"\n'
        (tmp_path / "monitor.toml").write_text(
            sources + '[fetch]\ntrusted_hosts = ["127.0.0.1"]\nmax_retries = 0\n'
            "per_host_delay_s = 0\n"
        )
        first = monitor("run", cwd=tmp_path)
        second = monitor("run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "4 sources failed: 3 connection refused, 1 HTTP 404; see `monitor sources`." in out
    assert "failed http" not in out and "127.0.0.1" not in out  # no list of URLs
    # The bad seed once, its name as it is (no emoji, no markup).
    assert (first.stdout + first.stderr).count(":tv: [red]broken:elf:.txt") == 1, out
    assert second.returncode == 0, second.stderr
    assert "4 sources backing off, not due." in second.stdout
    assert "sources failed" not in second.stdout
    assert first.stderr == "" and second.stderr == ""


def test_sql_tables_stay_readable_at_80_columns(project: Path, stored_db: Path) -> None:
    narrow = {"COLUMNS": "80"}
    stories = monitor(
        "sql",
        "SELECT title, article_count, outlets FROM stories",
        "--db",
        str(stored_db),
        cwd=project,
        env=narrow,
    )
    assert stories.returncode == 0, stories.stderr
    assert "…" not in stories.stdout  # cells wrap instead of being cut
    assert all(len(line) <= 80 for line in stories.stdout.splitlines())
    words = " ".join(stories.stdout.replace("│", " ").split())
    # (outlets are listed by first date: "FRANCE 24" may wrap between its two words)
    assert all(w in words for w in ("Iraq", "parliament", "passes", "resolution", "FRANCE"))
    wide = monitor(
        "sql",
        "SELECT * EXCLUDE (text) FROM articles WHERE title NOT LIKE '%…' "  # a lead title's own …
        "ORDER BY article_id LIMIT 2",
        "--db",
        str(stored_db),
        cwd=project,
        env=narrow,
    )
    assert wide.returncode == 0, wide.stderr
    assert "row 1" in wide.stdout and "row 2" in wide.stdout  # one block per row
    assert "…" not in wide.stdout
    assert all(len(line) <= 80 for line in wide.stdout.splitlines())
    assert any(line.startswith("canonical_url") for line in wide.stdout.splitlines())


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
