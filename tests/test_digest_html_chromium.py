"""The HTML digest in real headless Chromium: escaped markup, no script, no request, phone width.

Proof that no script from article content runs: two seed titles carry payloads that, if they
ran, would mark the DOM (`document.title='PWNED'`, `data-pwned` on <body>). A control page
with the same payloads unescaped shows that this check does catch them. Proof that no
request leaves the page: Chromium's net log lists no request made for the page other than
the file itself (the control page's remote image does show up there).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.digest import write_digest
from tests.test_digest import (
    IMG_PAYLOAD,
    PWN_IMG,
    PWN_SCRIPT,
    SCRIPT_PAYLOAD,
    build_pipeline_db,
)

CHROMIUM = next(
    (p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p),
    None,
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (Debian: apt-get install -y chromium); "
        "the headless rendering check needs a real browser",
    ),
]
PHONE = (412, 2000)


def _chromium(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{name}"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data
        elif not (self._in and self._in[-1] == "style"):
            self.text.append(data)


def _dump(tmp_path: Path, name: str, page: Path) -> tuple[_Dom, list[dict[str, str]]]:
    """Load the page, return its DOM after any script ran, and the page's own requests."""
    netlog = tmp_path / f"{name}.netlog.json"
    result = _chromium(tmp_path, name, f"--log-net-log={netlog}", "--dump-dom", page.as_uri())
    dom = _Dom()
    dom.feed(result.stdout)
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # Requests made for the page carry its (file://) network isolation key; Chromium's own
    # background traffic (update checks) does not.
    page_requests = [
        e["params"]
        for e in log["events"]
        if e["type"] == start_job
        and "file://" in e.get("params", {}).get("network_isolation_key", "")
    ]
    return dom, page_requests


@pytest.fixture(scope="module")
def digest_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("chromium-digest")
    store = build_pipeline_db(tmp)
    out = tmp / "digest.html"
    write_digest(store, since=None, fmt="html", out=out, include_all=True)
    return out


def test_article_markup_shows_as_text_and_never_runs(digest_page: Path, tmp_path: Path) -> None:
    dom, _ = _dump(tmp_path, "digest", digest_page)
    text = "".join(dom.text)
    for payload in (SCRIPT_PAYLOAD, IMG_PAYLOAD, PWN_SCRIPT, PWN_IMG):
        assert payload in text, f"{payload!r} should be shown literally"
    body = next(attrs for tag, attrs in dom.elements if tag == "body")
    assert "data-pwned" not in body
    assert "PWNED" not in dom.title and dom.title.startswith("Iraq troop monitor digest")
    assert not [tag for tag, _ in dom.elements if tag in ("script", "img", "iframe")]


def test_control_page_proves_the_check_detects_running_payloads(tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text(
        f"<!doctype html><html><head><title>control</title></head><body><p>unescaped</p>"
        f"{PWN_IMG}{PWN_SCRIPT}<img src='https://example.org/remote.png'></body></html>",
        encoding="utf-8",
    )
    dom, requests = _dump(tmp_path, "control", control)
    body = next(attrs for tag, attrs in dom.elements if tag == "body")
    assert body.get("data-pwned") == "1" and dom.title == "PWNED"
    assert "https://example.org/remote.png" in [r["url"] for r in requests]


def test_digest_page_makes_no_request(digest_page: Path, tmp_path: Path) -> None:
    _, requests = _dump(tmp_path, "network", digest_page)
    assert [r["url"] for r in requests if not r["url"].startswith("file://")] == []


def test_screenshot_at_phone_width(digest_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "digest-phone.png"
    _chromium(
        tmp_path,
        "shot",
        f"--screenshot={shot}",
        f"--window-size={PHONE[0]},{PHONE[1]}",
        digest_page.as_uri(),
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == PHONE
    assert len(data) > 20_000, "a blank page compresses to almost nothing"
    keep = os.environ.get("DIGEST_SCREENSHOT_DIR")
    if keep:  # CI keeps the picture as an artifact
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
