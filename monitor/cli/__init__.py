"""The `monitor` command line: parse arguments, load settings, call one library function.

Every command accepts --config and --db. A MonitorError becomes a one-line message and a
non-zero exit code; no traceback reaches the user. One module per group of commands:
`ingest` (run, serve, reclassify), `read` (digest, sql, sources), `quality` (eval, label,
train), `storylines`, `alerts`; `common` holds what they share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import metadata
from typing import Annotated

import typer

from monitor.cli import alerts, ingest, quality, read, search, storylines, web
from monitor.cli.common import HelpGroup, console, err_console

app = typer.Typer(
    cls=HelpGroup,
    help="iraq-troop-monitor: ingest, deduplicate and classify news on the US / coalition "
    "troop presence in Iraq; write digests; query with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain prose: Markdown reflows their paragraphs, and leaves "[classify]"
    # alone where rich markup would swallow it as a style tag.
    rich_markup_mode="markdown",
)
# Names are printed as they are: no rich markup, no :emoji: codes, no highlighting (a seed
# called ":tv: [red]x.txt" prints as just that).


def _version() -> str:
    try:
        return metadata.version("iraq-troop-monitor")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        from monitor import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        console.print(f"iraq-troop-monitor {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # The group's own options (the help text is the Typer app's).
    return None


app.command()(ingest.run)
app.command()(read.digest)
app.command()(read.sql)
app.command()(read.sources)
app.command(name="eval")(quality.evaluate)
app.command()(ingest.reclassify)
app.command()(quality.label)
app.command()(quality.train)
app.command(name="storylines")(storylines.list_storylines)
app.command(name="storyline")(storylines.storyline)
app.command()(ingest.serve)
app.command()(alerts.alerts)
app.command()(search.search)
app.command()(web.web)


def main() -> None:
    """Console-script entry point: a usage error (bad option or value) is one line too."""
    try:
        code = app(standalone_mode=False, prog_name="monitor")
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `monitor` alone: the help
            show: Callable[[], None] = exc.show  # type: ignore[attr-defined]
            show()
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        err_console.print(f"usage error: {message}{where}", highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
