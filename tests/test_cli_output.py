"""What the command line prints, as a user sees it in a real process: SQL errors with DuckDB's hint
and pointer, lists in CSV and tables, help without type tags or words cut in two, --version."""

from __future__ import annotations

import csv
import io
import json
import re
from importlib import metadata
from pathlib import Path

import pytest
import typer

from monitor.cli import app
from tests.conftest import SEEDS
from tests.test_cli import monitor, one_line_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working folder with the seeds, as a new user's checkout has."""
    (tmp_path / "seeds").symlink_to(SEEDS)
    return tmp_path


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the five seeds, made once by a real `monitor run`."""
    work = tmp_path_factory.mktemp("stored")
    (work / "seeds").symlink_to(SEEDS)
    done = monitor("run", "--no-fetch", "--db", "monitor.duckdb", cwd=work)
    assert done.returncode == 0, done.stderr
    return work / "monitor.duckdb"


def test_sql_errors_keep_duckdbs_hint_and_pointer(project: Path, stored_db: Path) -> None:
    typo = monitor("sql", "SELECT title FROM articels", "--db", str(stored_db), cwd=project)
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    lines = typo.stderr.splitlines()
    assert lines[0] == "error: Catalog Error: Table with name articels does not exist!"
    assert 'Did you mean "articles"?' in lines
    pointer = lines.index("LINE 1: SELECT title FROM articels")
    # The carets sit under the misspelt name, as DuckDB placed them.
    carets = lines[pointer + 1]
    start = carets.index("^")
    assert lines[pointer][start : start + len("articels")] == "articels"
    assert carets.strip() == "^" * len("articels")

    column = monitor("sql", "SELECT titel FROM articles", "--db", str(stored_db), cwd=project)
    assert column.returncode == 2
    assert "Candidate bindings:" in column.stderr and '"title"' in column.stderr
    assert "LINE 1: SELECT titel FROM articles" in column.stderr

    syntax = monitor("sql", "SELECT title FROM articles WHERE", "--db", str(stored_db), cwd=project)
    assert syntax.returncode == 2
    assert syntax.stderr.splitlines()[1:] == [
        "LINE 1: SELECT title FROM articles WHERE",
        " " * 35 + "^^^^^",
    ]


LISTS = (
    "SELECT 'x' AS id, ['Al Jazeera', 'FRANCE 24', 'RT'] AS outlets, []::VARCHAR[] AS none_, "
    "[1.5, 2] AS numbers, [['a', 'b'], ['c']] AS nested, {'k': 'v'} AS struct_"
)


def test_csv_and_tables_print_lists_as_lists_not_python_reprs(
    project: Path, stored_db: Path
) -> None:
    done = monitor("sql", LISTS, "--format", "csv", "--db", str(stored_db), cwd=project)
    assert done.returncode == 0, done.stderr
    (row,) = list(csv.DictReader(io.StringIO(done.stdout)))
    assert row["outlets"] == "Al Jazeera; FRANCE 24; RT"
    assert row["none_"] == ""
    assert row["numbers"] == "1.5; 2.0"
    assert json.loads(row["nested"]) == [["a", "b"], ["c"]]
    assert json.loads(row["struct_"]) == {"k": "v"}
    assert "['" not in done.stdout

    table = monitor("sql", LISTS, "--db", str(stored_db), cwd=project, env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "Al Jazeera; FRANCE 24; RT" in table.stdout and "['" not in table.stdout

    as_json = monitor("sql", LISTS, "--format", "json", "--db", str(stored_db), cwd=project)
    assert json.loads(as_json.stdout)[0]["outlets"] == ["Al Jazeera", "FRANCE 24", "RT"]

    stories = monitor(
        "sql",
        "SELECT outlets FROM stories WHERE len(outlets) > 1",
        "--format",
        "csv",
        "--db",
        str(stored_db),
        cwd=project,
    )
    cells = stories.stdout.splitlines()[1:]
    assert cells and all("; " in c and "[" not in c for c in cells), stories.stdout


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return sorted(group.commands)


def _words(text: str) -> list[str]:
    return text.replace("│", " ").replace("╭", " ").replace("╰", " ").split()


@pytest.mark.parametrize("command", _commands())
def test_help_shows_what_to_type_with_no_type_tags_and_no_word_cut(
    project: Path, command: str
) -> None:
    done = monitor(command, "--help", cwd=project, env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert all(len(line) <= 80 for line in out.splitlines())
    assert not re.search(r"<(str|bool|path|int|float|list\[|float range)", out), out
    # Every word of every parameter's help and of the command's own help is printed whole:
    # no word is folded in two, no "[classify]" is swallowed as rich markup.
    printed = set(_words(out))
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    cmd = group.commands[command]
    texts = [p.help or "" for p in cmd.params if hasattr(p, "help")]
    for text in [*texts, (cmd.help or "").split("\n\n")[0]]:
        for word in text.replace("`", "").split():
            assert word in printed, (word, out)


def test_usage_names_what_to_type(project: Path) -> None:
    label = monitor("label", "--help", cwd=project, env={"COLUMNS": "100"})
    assert "Usage: monitor label [OPTIONS] [ARTICLE_ID] [relevant|irrelevant]" in label.stdout
    assert re.search(r"--stance\s+STANCE", label.stdout)
    assert "for_withdrawal, against_withdrawal or neutral" in label.stdout
    run = monitor("run", "--help", cwd=project, env={"COLUMNS": "100"})
    for option, metavar in (("--config", "FILE"), ("--db", "PATH"), ("--seeds", "DIR")):
        assert re.search(rf"{option}\s+{metavar}\b", run.stdout), run.stdout
    assert re.search(r"--no-fetch\s+Ingest", run.stdout)  # a flag takes nothing


def test_version(project: Path) -> None:
    done = monitor("--version", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"iraq-troop-monitor {metadata.version('iraq-troop-monitor')}"
    listed = monitor("--help", cwd=project)
    assert "--version" in listed.stdout
    one_line_error(monitor("--versions", cwd=project), "No such option")
