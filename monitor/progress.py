"""How far a run has got, for whoever watches it.

The pipeline calls these methods as it goes; the base class ignores them, so the library never
prints. `monitor run`, `monitor eval` and `monitor reclassify` pass a subclass that draws a
progress display on a terminal (monitor/cli/progress.py) and nothing when the output is not one.

A run started through Prefect (`monitor run` with PREFECT_API_URL set) cannot be handed an object
as a flow parameter; the command sets it with `watching` around the flow call instead, and
`run_ingest` takes it from there (`current`). Calls come from the run's thread, or from collect's
event loop in its own thread, one at a time.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager


class Progress:
    """Events of one ingest run; every method is a no-op here."""

    def begin(self, label: str) -> None:
        """One of several runs begins (e.g. `monitor eval`'s three); label names it."""

    def stage(self, name: str) -> None:
        """A stage begins: 'seeds', 'sources', 'pages', 'processing'."""

    def sources_due(self, count: int) -> None:
        """This many sources will be read."""

    def source_read(self, name: str, links: int) -> None:
        """One source was read (or failed) and gave this many links."""

    def pages_to_fetch(self, count: int) -> None:
        """This many new pages will be fetched and extracted."""

    def page_fetched(self) -> None:
        """One page's fetch ended (a body, a 304, or an error)."""

    def pages_extracted(self, count: int) -> None:
        """This many fetched pages were extracted (or failed extraction)."""

    def processed(self, count: int, total: int) -> None:
        """Deduplication, stories and classification have covered count of total articles."""


#: The default: nobody is watching.
SILENT = Progress()


_WATCHING: contextvars.ContextVar[Progress] = contextvars.ContextVar("monitor_progress")


@contextmanager
def watching(progress: Progress) -> Iterator[None]:
    """Runs started in this block report to `progress` unless given another."""
    token = _WATCHING.set(progress)
    try:
        yield
    finally:
        _WATCHING.reset(token)


def current() -> Progress:
    """The progress set by `watching`, else SILENT."""
    return _WATCHING.get(SILENT)
