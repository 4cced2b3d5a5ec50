"""A Prefect API server kept between `monitor run`s, that stops by itself when no run uses it.

Starting Prefect's temporary API server costs a `monitor run` 3.5-4 s of wall time (importing
the server, then its database) and more CPU than a run that finds nothing new spends on
everything else. With `[runner] keep_api_minutes` above 0, the first run starts this process
instead; it runs the same server (`flows.api.temporary_server`, on a free port of 127.0.0.1)
and writes `monitor-api.json` in PREFECT_HOME: its address and process id. Later runs find it
there, check it answers, and use it. Each run *leases* the server by touching that file while
it runs; the server stops once the file has not been touched for `keep_api_minutes`, or when
the file is gone or names another server, or when its uvicorn child dies. So nothing outlives
the last run by more than the keep time, and a server that is killed is simply started again
by the next run. Unused for a minute, the server is paused (SIGSTOP): an idle Prefect server
still spends 2-3 CPU-seconds a minute polling its in-memory task queue, more over an hour than
a temporary server per run would cost. The next run touches the file and wakes it (SIGCONT).

    python -m flows.kept_api RECORD KEEP_SECONDS
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("monitor.kept_api")

POLL_S = 2.0
PAUSE_AFTER_S = 60.0  # unused this long (or half the keep time), the server is paused


class _Stop(Exception):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _ours(record: Path) -> bool:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("pid") == os.getpid()


def _write(record: Path, data: dict[str, object]) -> None:
    tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, record)


def serve_kept(record: Path, keep_s: float) -> None:
    """Run the API server until its lease on `record` runs out (see the module's docstring)."""
    from flows.api import temporary_server

    signal.signal(signal.SIGTERM, _on_sigterm)
    server = temporary_server()
    process: subprocess.Popen[Any] | None = None
    paused = False
    try:
        server.start(timeout=120)
        process = server.server_process
        assert process is not None
        _write(
            record,
            {
                "url": server.api_url,
                "pid": os.getpid(),
                "server_pid": process.pid,
                "keep_s": keep_s,
                "started": time.time(),
            },
        )
        log.info("kept Prefect API at %s; stops after %.0f s unused", server.api_url, keep_s)
        while True:
            time.sleep(POLL_S)
            if process.poll() is not None:
                log.warning("the API server process ended; stopping")
                break
            if not _ours(record):
                log.info("%s no longer names this server; stopping", record)
                break
            idle = time.time() - record.stat().st_mtime
            if idle > keep_s:
                log.info("unused for %.0f s; stopping", idle)
                break
            paused = _pause(process, paused, idle > min(PAUSE_AFTER_S, keep_s / 2))
    except (_Stop, KeyboardInterrupt):
        log.info("told to stop")
    finally:
        if _ours(record):
            record.unlink(missing_ok=True)
        if process is not None and paused:
            _pause(process, paused, False)  # a stopped process would not see the SIGTERM
        server.stop()


def _pause(process: subprocess.Popen[Any], paused: bool, pause: bool) -> bool:
    """Stop (SIGSTOP) or continue (SIGCONT) the server process; return whether it is paused.

    Idle, Prefect's server is not idle: its in-memory task queue (docket) polls, 2-3 CPU-s a
    minute, which over an hour between runs cost more than starting a server per run. A
    paused server costs nothing; a run wakes it (flows.api) and this loop sees the lease.
    """
    if pause == paused:
        return paused
    with contextlib.suppress(OSError):
        os.kill(process.pid, signal.SIGSTOP if pause else signal.SIGCONT)
    log.info("%s the API server", "paused" if pause else "woke")
    return pause


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m flows.kept_api RECORD KEEP_SECONDS", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve_kept(Path(argv[0]), float(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
