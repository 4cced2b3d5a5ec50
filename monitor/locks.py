"""The two locks of a database file, taken with filelock (an flock the kernel drops with the
process, so a run or serve killed any way, SIGKILL included, leaves nothing held):

    <db>.run.lock     one ingest at a time: a second run waits up to its `--wait`, then skips
    <db>.serve.lock   one `monitor serve` per database, held for serve's lifetime

The lock files stay in place between holders (`preserve_lock_file`): removing one while another
process waits on it would let two holders in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from monitor.errors import RunLocked, ServeLocked, StoreError

log = logging.getLogger(__name__)

POLL_S = 0.25


def _lock(path: Path, error: type[StoreError]) -> FileLock:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only or full folder: one line, not a traceback
        raise error(f"cannot create the lock {path}: {exc.strerror}") from exc
    return FileLock(path, thread_local=False, preserve_lock_file=True, poll_interval=POLL_S)


@contextmanager
def run_lock(db: Path, *, wait_s: float) -> Iterator[None]:
    """Hold the one-ingest-at-a-time lock of a database; RunLocked after `wait_s` seconds."""
    path = db.with_name(db.name + ".run.lock")
    lock = _lock(path, StoreError)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if wait_s <= 0:
            raise RunLocked(
                f"another ingest run is still working on {db}; skipping this run"
            ) from None
        log.warning("another ingest run holds %s; waiting up to %.0fs", db, wait_s)
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise RunLocked(
                f"another ingest run is still working on {db} (waited {wait_s:.0f}s); "
                "skipping this run"
            ) from None
    except OSError as exc:
        raise StoreError(f"cannot take the run lock {path}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def serve_lock(db: Path) -> Iterator[None]:
    """Hold `<db>.serve.lock` for serve's lifetime; ServeLocked if another serve holds it."""
    path = db.with_name(db.name + ".serve.lock")
    lock = _lock(path, ServeLocked)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ServeLocked(
            f"another `monitor serve` is already serving {db} (it holds {path})"
        ) from None
    except OSError as exc:
        raise ServeLocked(f"cannot take {path}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()
