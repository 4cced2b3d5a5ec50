"""Saving a digest: the file (written whole, then moved into place) and its `core.digests` row,
so that the next `--since last` starts after it.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from monitor.digest.build import build_digest
from monitor.digest.model import FORMATS, Digest, DigestResult, Format, Since
from monitor.digest.render import render_digest
from monitor.errors import ConfigError
from monitor.store import Store, digests

log = logging.getLogger(__name__)


def record_digest(store: Store, digest: Digest, *, fmt: str, path: Path | None) -> None:
    """Record the digest in core.digests, so `--since last` next time starts after it."""
    with store.write() as con:
        # Writing the same digest in a second format adds the format to the same row.
        digests.record(
            con,
            digest_id=digest.digest_id,
            generated_at=digest.generated_at,
            since=digest.since,
            fmt=fmt,
            path=str(path) if path is not None else None,
            stories=len(digest.stories),
            articles=digest.overview.new_articles,
        )


def write_digest(
    store: Store,
    *,
    since: Since,
    fmt: Format,
    out: Path | None,
    include_all: bool = False,
    now: datetime | None = None,
) -> DigestResult:
    """Build, render, write (or return the text for stdout when out is None) and record."""
    _check_format(fmt)
    digest = build_digest(store, since=since, include_all=include_all, now=now)
    return save_digest(store, digest, fmt=fmt, out=out)


def save_digest(store: Store, digest: Digest, *, fmt: Format, out: Path | None) -> DigestResult:
    """Render a built digest, write it (unless out is None) and record it.

    For several formats of one digest (a file and the Markdown artifact), build once and
    save each: they share one core.digests row, so `--since last` stays right.
    """
    _check_format(fmt)
    text = render_digest(digest, fmt)
    path: Path | None = None
    if out is not None:
        path = write_text(Path(out), text)
        log.info("wrote %s digest to %s", fmt, path)
    record_digest(store, digest, fmt=fmt, path=path)
    return DigestResult(digest=digest, fmt=fmt, text=text, path=path)


def write_text(path: Path, text: str) -> Path:
    """Write a report whole or not at all (a temporary file beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # newline="" keeps the CSV writer's \r\n row ends as they are.
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
