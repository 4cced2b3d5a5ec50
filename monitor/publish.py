"""What a finished ingest run (and an analyst's label) hands on to readers, in order:

    snapshot   the read-only copy of the database readers open (`<db stem>.snapshot.duckdb`)
    search     the full-text index of titles and texts (`monitor search`, the reader)
    alerts     new relevant stories that match an `[[alerts]]` rule, sent once each

Each step records its own failures and never fails the run: the run's data is stored already,
and the next run publishes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.store import Store

log = logging.getLogger(__name__)


def after_run(store: Store, settings: Settings) -> None:
    """Publish what readers see after an ingest run."""
    from monitor import alerts, search
    from monitor.store import snapshot

    _step("snapshot", lambda: snapshot.publish(store))
    _step("search", lambda: search.refresh_index(store, settings))
    _step("alerts", lambda: alerts.send_new(store, settings))


def after_label(store: Store, settings: Settings) -> None:
    """Publish what readers see after an analyst's label."""
    from monitor.store import snapshot

    _step("snapshot", lambda: snapshot.publish(store))


def _step(name: str, step: Callable[[], object]) -> None:
    """Run one step; a failure is logged (a warning, shown without -v) and the rest go on."""
    try:
        step()
    except MonitorError as exc:
        log.warning("publishing %s failed (the next run publishes again): %s", name, exc)
