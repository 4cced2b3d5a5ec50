"""What a finished ingest run (and an analyst's label) hands on to readers, in order:

    snapshot   the read-only copy of the database readers open (`<db stem>.snapshot.duckdb`)
    search     the full-text index of titles and texts (`monitor search`, the reader)
    alerts     new relevant stories that match an `[[alerts]]` rule, sent once each

Each step records its own failures and never fails the run: the run's data is stored already,
and the next run publishes again.
"""

from __future__ import annotations

import logging

from monitor import search
from monitor.settings import Settings
from monitor.store import Store

log = logging.getLogger(__name__)


def after_run(store: Store, settings: Settings) -> None:
    """Publish what readers see after an ingest run."""
    search.refresh_index(store, settings)


def after_label(store: Store, settings: Settings) -> None:
    """Publish what readers see after an analyst's label."""
