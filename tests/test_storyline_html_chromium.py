"""The HTML storyline view in real headless Chromium: escaped markup, no script, no request."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from monitor.digest.save import write_file
from monitor.digest.storyline import build_storyline, render_storyline
from monitor.store import Store
from tests.test_digest import PWN_IMG, PWN_SCRIPT, build_pipeline_db
from tests.test_digest_html_chromium import CHROMIUM, _chromium, _dump

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]


@pytest.fixture(scope="module")
def storyline_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("chromium-storyline")
    store: Store = build_pipeline_db(tmp)
    # The storyline of the seed whose title carries a script and an image payload.
    (storyline_id,) = store.query(
        "SELECT s.storyline_id FROM articles a JOIN stories s USING (story_id) "
        "WHERE a.url = 'seed:901_pwn'"
    )[0]
    assert storyline_id is not None, "the relevant payload seed should be in a storyline"
    view = build_storyline(store, storyline_id)
    return write_file(tmp / "storyline.html", render_storyline(view, "html"))


def test_the_storyline_page_shows_markup_as_text_and_runs_nothing(
    storyline_page: Path, tmp_path: Path
) -> None:
    dom, requests = _dump(tmp_path, "storyline", storyline_page)
    text = "".join(dom.text)
    assert PWN_SCRIPT in text and PWN_IMG in text  # shown literally
    body = next(attrs for tag, attrs in dom.elements if tag == "body")
    assert "data-pwned" not in body and "PWNED" not in dom.title
    assert dom.title.startswith("Storyline: ")
    assert not [tag for tag, _ in dom.elements if tag in ("script", "img", "iframe")]
    assert [tag for tag, _ in dom.elements if tag == "svg"], "the timeline chart is drawn"
    assert [r["url"] for r in requests if not r["url"].startswith("file://")] == []


def test_the_storyline_page_renders_a_screenshot(storyline_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "storyline.png"
    _chromium(
        tmp_path, "shot", f"--screenshot={shot}", "--window-size=900,1200", storyline_page.as_uri()
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (900, 1200)
    assert len(data) > 20_000, "a blank page compresses to almost nothing"
    (Path("/tmp") / "storyline-shot.png").write_bytes(data)
