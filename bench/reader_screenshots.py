"""Screenshots of the reader for docs/: the list, a story and an Arabic article, taken by headless
Chromium from a real `monitor web` on the given databases.

    python bench/reader_screenshots.py --db EN.duckdb --arabic AR.duckdb [--out docs]

Use databases kept by `monitor eval ../shared/data/eval --keep DIR` (and `eval-ar`): the
pictures then show real ingested articles (images only; no text goes into the repository).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from procs import free_port, stop  # noqa: E402

from monitor.store import Store  # noqa: E402


def shot(url: str, out: Path, size: tuple[int, int]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.exists():
        raise SystemExit(f"chromium wrote no {out}")
    print(f"wrote {out}")


def serving(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "web", "--db", str(db), "--port", str(port)],
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url + "/static/reader.css")
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    stop(proc)
    raise SystemExit("monitor web did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--arabic", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with Store(args.db).read() as con:
        story = con.execute(
            "SELECT s.story_id FROM stories s JOIN articles a USING (story_id) "
            "WHERE a.relevant GROUP BY s.story_id HAVING count(*) >= 3 "
            "ORDER BY count(DISTINCT a.article_id) DESC, s.story_id LIMIT 1"
        ).fetchall()[0][0]
    with Store(args.arabic).read() as con:
        arabic = con.execute(
            # Arabic by its script: the stored language comes from the page's <html lang>.
            "SELECT article_id FROM articles WHERE regexp_matches(text, '^[\u0621-\u064a]') "
            "AND word_count BETWEEN 150 AND 400 ORDER BY relevant DESC, article_id LIMIT 1"
        ).fetchall()[0][0]
    proc, url = serving(args.db)
    try:
        shot(f"{url}/?show=all", args.out / "reader-list.png", (1280, 1000))
        shot(f"{url}/stories/{story}", args.out / "reader-story.png", (1280, 1200))
        shot(f"{url}/?show=all", args.out / "reader-list-phone.png", (412, 915))
    finally:
        stop(proc)  # type: ignore[arg-type]
    proc, url = serving(args.arabic)
    try:
        shot(f"{url}/articles/{arabic}", args.out / "reader-arabic.png", (1000, 1200))
    finally:
        stop(proc)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
