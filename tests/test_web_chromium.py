"""The reader in real headless Chromium, driven through Debian's chromedriver (selenium): open
the list, read a story with the keyboard, label an article through the form, search in Arabic,
follow the Atom link; no title runs under its "Mark read" button (Arabic ones start on its side);
no script from an article runs and the CSP blocks nothing of ours."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.reader_server import Running, reader_db, running_reader

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="Chromium and its driver are not installed "
        "(Debian: apt-get install -y chromium chromium-driver)",
    ),
]

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PHONE = (412, 915)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Store]]:
    tmp = tmp_path_factory.mktemp("reader-chromium")
    store = reader_db(tmp)
    with running_reader(store.path, log=tmp / "web.log") as running:
        yield running, store


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: webdriver.Chrome, seconds: float = 20) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def _ids(store: Store, sql: str) -> list[str]:
    with store.read() as con:
        return [r[0] for r in con.execute(sql).fetchall()]


def _csp_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security" in e["message"]]


_PAGE_WIDTH = "return document.documentElement.scrollWidth"
_WIDER_THAN = """
const out = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.right > arguments[0] + 0.5) {
    out.push(`${el.tagName}.${el.className} ${Math.round(r.right)}`);
  }
}
return [document.documentElement.scrollWidth, out.slice(0, 10)];
"""

_TITLES_UNDER_BUTTONS = """
const out = [];
let checked = 0;
for (const li of document.querySelectorAll('li.item')) {
  const a = li.querySelector('a.title'), b = li.querySelector('form.mark button');
  if (!a || !b) continue;
  if (a.getAttribute('dir') === 'rtl') checked += 1;
  const range = document.createRange();
  range.selectNodeContents(a);
  const box = b.getBoundingClientRect();
  for (const t of range.getClientRects()) {
    if (t.left < box.right && t.right > box.left && t.top < box.bottom && t.bottom > box.top) {
      out.push(a.textContent.trim());
      break;
    }
  }
}
return [checked, out];
"""


@pytest.mark.parametrize("size", [PHONE, (1280, 1000)])
def test_no_title_runs_under_its_mark_read_button(
    setup: tuple[Running, Store], browser: webdriver.Chrome, size: tuple[int, int]
) -> None:
    # An Arabic title runs right to left, from the side the button sits on. (Before the test
    # below reads stories: it needs the Arabic one unread, with its button.)
    reader, _ = setup
    browser.set_window_size(*size)
    browser.get(reader.url + "/")
    checked, under = browser.execute_script(_TITLES_UNDER_BUTTONS)
    assert checked >= 1, "no unread right-to-left title to check"
    assert under == []


def test_read_label_search_and_follow_atom(
    setup: tuple[Running, Store], browser: webdriver.Chrome
) -> None:
    reader, store = setup
    keys = webdriver.ActionChains

    # The list, and a story opened and marked read with the keyboard (j, o, m).
    browser.get(reader.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text.endswith("unread stories")
    first = browser.find_element(By.CSS_SELECTOR, "[data-item] a[data-open]")
    story_url = first.get_attribute("href")
    assert story_url and "/stories/" in story_url
    keys(browser).send_keys("j").perform()
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-item].selected")))
    keys(browser).send_keys("o").perform()
    _wait(browser).until(ec.url_to_be(story_url))
    story_id = story_url.rsplit("/", 1)[1]
    assert browser.find_element(By.ID, "h-who").text == "Who says what"
    reports = browser.find_elements(By.CSS_SELECTOR, ".reports-grid > li")
    assert reports and "first report" in reports[0].text
    keys(browser).send_keys("m").perform()
    _wait(browser).until(lambda d: d.current_url != story_url)
    assert _ids(store, f"SELECT story_id FROM read_marks WHERE story_id = '{story_id}'") == [
        story_id
    ]
    browser.get(reader.url + "/")
    assert story_url not in [
        a.get_attribute("href")
        for a in browser.find_elements(By.CSS_SELECTOR, "[data-item] a[data-open]")
    ]

    # An article labelled through its form.
    article = _ids(store, "SELECT article_id FROM articles WHERE title LIKE 'Drawdown talks%'")[0]
    browser.get(f"{reader.url}/articles/{article}")
    assert browser.title != "PWNED"
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-pwned") is None
    browser.find_element(By.CSS_SELECTOR, "input[name=relevant][value=relevant]").click()
    browser.find_element(By.CSS_SELECTOR, "#stance option[value=against_withdrawal]").click()
    note = browser.find_element(By.ID, "note")
    note.clear()
    note.send_keys("checked in the browser")
    browser.find_element(By.CSS_SELECTOR, "#label button[type=submit]").click()
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#label .ok")))
    with store.read() as con:
        label = con.execute(
            "SELECT relevant, stance, note FROM labels WHERE article_id = ?", [article]
        ).fetchall()
    assert label == [(True, "against_withdrawal", "checked in the browser")]

    # Search in plain Arabic spelling, found in the marked-up text; the result opens right to left.
    box = browser.find_element(By.ID, "q")
    box.send_keys("القوات الامريكيه\n")
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "ol.results mark")))
    marks = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "ol.results mark")]
    assert "الأمريكية" in marks
    browser.find_element(By.CSS_SELECTOR, "ol.results a[data-open]").click()
    heading = _wait(browser).until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
    assert heading.get_attribute("dir") == "rtl"
    assert (
        browser.execute_script("return getComputedStyle(arguments[0]).direction", heading) == "rtl"
    )

    # The Atom link, followed: the feed of relevant stories.
    browser.find_element(By.ID, "atom").click()
    _wait(browser).until(ec.url_to_be(reader.url + "/feed.atom"))
    source = browser.page_source
    assert "Iraq troop monitor: relevant stories" in source and "/stories/" in source
    assert _csp_errors(browser) == []


def test_phone_width_shows_the_list_first(
    setup: tuple[Running, Store], browser: webdriver.Chrome
) -> None:
    reader, _ = setup
    browser.set_window_size(*PHONE)
    browser.get(reader.url + "/")
    # Once the layout has settled: one CI run measured 428 px right after the load (412 on
    # every rerun). What still sticks out after 5 s is named in the failure.
    try:
        _wait(browser, 5).until(lambda d: d.execute_script(_PAGE_WIDTH) <= PHONE[0])
    except TimeoutException:
        wide = browser.execute_script(_WIDER_THAN, PHONE[0])
        pytest.fail(f"the page scrolls sideways on a phone: {wide}")
    stories = browser.find_element(By.CSS_SELECTOR, "section.stories")
    facets = browser.find_element(By.CSS_SELECTOR, "aside.facets")
    assert stories.location["y"] < facets.location["y"]
    assert _csp_errors(browser) == []
