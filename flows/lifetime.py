"""Processes that end with the `monitor` command that started them, even when it is SIGKILLed.

A SIGKILL gives a process no chance to clean up, so whatever it started must notice by itself:

- the temporary Prefect API server gets the kernel's parent-death signal (`die_with_parent`,
  a `preexec_fn`);
- a flow run that `monitor serve` started (a Prefect runner child process) watches its parent
  (`follow_serve`) and ends itself as soon as serve is gone, so no orphaned ingest keeps the
  run lock or writes on after the service was stopped. The watch starts when the child imports
  the `flows` package, before its flow run's first API call: once serve is gone its temporary
  API server is gone too, and Prefect's client would retry against it for half a minute before
  the flow body ever ran.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)

#: Set by `monitor serve` for its flow-run children: serve's process id.
SERVE_PID_ENV = "MONITOR_SERVE_PID"
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5


def die_with_parent() -> None:
    """In a freshly forked child (a `preexec_fn`): the kernel sends SIGTERM when the parent dies.

    For the kernel the parent is the forking *thread*: call it from a thread that lives as
    long as the process (the main thread).
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    # Serve is gone (killed): end at once. Every pipeline step commits its own short
    # transaction, so the database is consistent and the next run finishes the work.
    os.kill(os.getpid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def follow_serve() -> None:
    """In a flow run started by `monitor serve`: end this process when serve ends.

    Does nothing elsewhere (`monitor run`, a Prefect worker's flow runs).
    """
    value = os.environ.get(SERVE_PID_ENV, "")
    if not value.isdigit() or int(value) == os.getpid():
        return
    parent = int(value)
    if os.getppid() != parent:
        if _alive(parent):
            return  # a grandchild of serve (an extraction worker): its parent ends it
        log.warning("monitor serve (pid %d) is gone; this flow run ends", parent)
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=_watch, args=(parent,), name="follow-serve", daemon=True).start()
