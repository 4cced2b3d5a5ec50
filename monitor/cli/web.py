"""`monitor web`: the reader in the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    VerboseOpt,
    clean_errors,
    err_console,
    settings_for,
    setup_logging,
)


@clean_errors
def web(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; not loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="MONITOR_WEB_TOKEN",
            help="Require this token (open the reader once with ?token=T; then a cookie).",
        ),
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """The reader in the browser: stories unread first, search, labels, storylines, Atom."""
    setup_logging(verbose)
    from monitor.web import check_bind, check_port, serve

    check_bind(host, token)  # before anything is opened: a refused bind is one line
    check_port(host, port)
    settings = settings_for(config, db)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(
        f"Reader on http://{shown}:{port}/ for {settings.storage.db} (Ctrl-C stops it)",
        highlight=False,
        soft_wrap=True,
    )
    serve(settings, host=host, port=port, token=token)
