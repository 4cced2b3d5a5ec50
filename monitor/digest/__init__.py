"""Digests: what changed, at a glance, with every report one click away.

    model    the records (Digest, Story, Report, Overview ...) and the JSON models, from which
             the published JSON Schema is generated
    build    store -> Digest      (reads only, through monitor.store.digests)
    render   Digest -> str        (md and html from templates/, json, csv)
    chart    the SVG timeline of the HTML digest
    save     the file and the core.digests row, so that `--since last` means since this one
    schema   `python -m monitor.digest.schema`: print, write or check the packaged schema

`write_digest` does it all: build, render, write, record.
"""

from __future__ import annotations

from monitor.digest.build import build_digest, outlet_label, parse_since
from monitor.digest.chart import Chart, timeline_chart
from monitor.digest.model import (
    FORMATS,
    SCHEMA_VERSION,
    STANCES,
    DayCount,
    Digest,
    DigestJSON,
    DigestResult,
    Format,
    Overview,
    Report,
    Since,
    Story,
    digest_to_json,
    json_schema,
)
from monitor.digest.render import CSV_COLUMNS, md_escape, render_digest, safe_href
from monitor.digest.save import record_digest, save_digest, write_digest

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "SCHEMA_VERSION",
    "STANCES",
    "Chart",
    "DayCount",
    "Digest",
    "DigestJSON",
    "DigestResult",
    "Format",
    "Overview",
    "Report",
    "Since",
    "Story",
    "build_digest",
    "digest_to_json",
    "json_schema",
    "md_escape",
    "outlet_label",
    "parse_since",
    "record_digest",
    "render_digest",
    "safe_href",
    "save_digest",
    "timeline_chart",
    "write_digest",
]
