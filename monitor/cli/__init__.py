"""The `monitor` command line: parse arguments, load settings, call one library function.

Every command accepts --config and --db. A MonitorError becomes a one-line message and a
non-zero exit code; no traceback reaches the user. One module per group of commands:
`ingest` (run, serve, reclassify), `read` (digest, sql, sources), `quality` (eval, label,
train), `storylines`; `common` holds what they share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from monitor.cli import ingest, quality, read, search, storylines, web
from monitor.cli.common import err_console

app = typer.Typer(
    help="iraq-troop-monitor: ingest, deduplicate and classify news on the US / coalition "
    "troop presence in Iraq; write digests; query with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Names are printed as they are: no rich markup, no :emoji: codes, no highlighting (a seed
# called ":tv: [red]x.txt" prints as just that).

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
app.command()(search.search)
app.command()(web.web)


def main() -> None:
    """Console-script entry point: a usage error (bad option or value) is one line too."""
    try:
        code = app(standalone_mode=False)
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
