"""A database for the reader's tests, and `monitor web` on it as a real process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from monitor.store import Store
from tests.procs import clean_env, free_port, stop
from tests.test_digest import build_pipeline_db

# An Arabic report written for these tests (not from the labelled folders), with diacritics,
# hamza forms and tatweel, and markup that must stay text.
ARABIC_SEED = (
    "البرلمان العراقيّ يطالب بانسحاب القوات الأمريكية <b>عاجل</b>\n\n"
    "طالبَ نوابٌ في البرلمان العراقي اليوم بانسحاب القوّات الأمريكيّة من قاعدة عين الأســـد "
    "الجوية، وقالوا إن مهمة التحالف الدولي في العراق انتهت وإن على الحكومة أن تضع جدولاً "
    "زمنياً لخروج القوات الأجنبية خلال عام. وقال رئيس كتلة برلمانية إن البرلمان صوّت "
    "سابقاً على إخراج القوات الأجنبية وإن القرار ما زال ملزماً للحكومة.\n"
)


@dataclass(frozen=True)
class Running:
    """A reader process and where it listens."""

    url: str
    proc: subprocess.Popen[str]
    log: Path


def reader_db(tmp: Path) -> Store:
    """The digest tests' pipeline database (seeds with markup payloads, a copy, an off-topic
    one) plus one Arabic report, ingested by the real pipeline."""
    store = build_pipeline_db(tmp, {"910_arabic.txt": ARABIC_SEED})
    with store.write() as con:
        # Seed files are stored as English (monitor/seeds.py); a fetched page's language is
        # read from its text. This one is Arabic.
        con.execute("UPDATE core.articles SET language = 'ar' WHERE url LIKE '%910_arabic%'")
    return store


@contextlib.contextmanager
def running_reader(db: Path, *args: str, log: Path) -> Iterator[Running]:
    """`monitor web --db DB --port P ARGS` until the block ends (then SIGTERM)."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "web",
                "--db",
                str(db),
                "--port",
                str(port),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(),
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"monitor web exited: {log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/static/reader.css", timeout=2)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"monitor web did not start: {log.read_text()}")
            time.sleep(0.2)
        yield Running(url, proc, log)
    finally:
        stop(proc)  # type: ignore[arg-type]
