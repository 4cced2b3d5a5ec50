"""The reader in the browser (`monitor web`): stories unread first with facets, a story's
reports side by side, articles with the label form, storylines as timelines, search, Atom.

    library   where pages read (the snapshot, else the database) and write (read marks)
    security  loopback or token, CSRF per form, a strict Content-Security-Policy
    app       the routes and their Jinja2 templates (`templates/`), script and styles (`static/`)

One process, in the foreground: Ctrl-C or SIGTERM stops it within seconds and leaves nothing
running. docs/reader.md describes the pages, the shortcuts and the guards.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from types import FrameType

import uvicorn

from monitor.errors import ConfigError
from monitor.search import SearchIndex, index_path
from monitor.settings import Settings
from monitor.store import Store
from monitor.web.app import create_app
from monitor.web.library import Library
from monitor.web.security import check_bind, is_loopback

__all__ = ["Library", "check_bind", "check_port", "create_app", "serve"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Uvicorn, except that a signal ends `serve` normally instead of being raised again."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop serving (a second Ctrl-C: at once)."""
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        else:
            self.should_exit = True


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    token: str | None,
    started: threading.Event | None = None,
) -> None:
    """Serve the reader until Ctrl-C or SIGTERM (ConfigError for an unguarded public bind)."""
    check_bind(host, token)
    check_port(host, port)
    store = Store.existing(settings.storage)
    library = Library(store)
    index = SearchIndex(index_path(store.path))
    builder = None
    if not index.exists():  # e.g. a database from before search: build it beside the reader
        builder = threading.Thread(
            target=_build_index, args=(index, library), name="search-index", daemon=True
        )
        builder.start()
    # The working set (one row per story) loads while the server starts, not on the first page.
    threading.Thread(target=_warm, args=(library,), name="working-set", daemon=True).start()
    app = create_app(library, settings, token=token, loopback=is_loopback(host))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    server = _Server(config)
    if started is not None:
        threading.Thread(target=_announce, args=(server, started), daemon=True).start()
    try:
        server.run()
    finally:
        if builder is not None:
            builder.join(timeout=1)
        library.close()


def check_port(host: str, port: int) -> None:
    """ConfigError, in one line, if the address cannot be listened on (in use, not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _announce(server: uvicorn.Server, started: threading.Event) -> None:
    while not server.started and not server.should_exit:
        threading.Event().wait(0.05)
    started.set()


def _warm(library: Library) -> None:
    try:
        library.story_row("")
    except Exception as exc:  # the first page will say what is wrong
        log.info("reader: working set not loaded ahead: %s", exc)


def _build_index(index: SearchIndex, library: Library) -> None:
    try:
        index.refresh(library.reading)
    except Exception as exc:  # the reader works without search; the next run builds it
        log.warning("search index not built: %s", exc)
