"""`monitor web` as a real process on 127.0.0.1 over a database the real pipeline wrote: pages,
escaping, CSRF, the token, the CSP, labels like `monitor label`'s, read marks, Atom, a quiet
stop."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.store import Store
from tests.procs import clean_env
from tests.reader_server import Running, reader_db, running_reader
from tests.test_digest import IMG_PAYLOAD, PWN_IMG, PWN_SCRIPT, SCRIPT_PAYLOAD

pytestmark = pytest.mark.slow  # a real server process per module (a few seconds each)

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return reader_db(tmp_path_factory.mktemp("reader"))


@pytest.fixture(scope="module")
def reader(db: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    log = tmp_path_factory.mktemp("reader-log") / "web.log"
    with running_reader(db.path, log=log) as running:
        yield running


def _client(reader: Running) -> httpx.Client:
    return httpx.Client(base_url=reader.url, timeout=30, follow_redirects=False)


def _ids(db: Store, sql: str) -> list[str]:
    with db.read() as con:
        return [r[0] for r in con.execute(sql).fetchall()]


def _csrf(html: str, action: str) -> str:
    form = html[html.index(f'action="{action}"') :]
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', form)
    assert found, f"no CSRF token in the form posting to {action}"
    return found.group(1)


def test_every_page_answers_escaped_and_under_a_strict_csp(reader: Running, db: Store) -> None:
    story = _ids(db, "SELECT story_id FROM stories ORDER BY story_id LIMIT 1")[0]
    article = _ids(db, "SELECT article_id FROM articles WHERE title LIKE '%<script>%'")[0]
    line = _ids(db, "SELECT storyline_id FROM storylines LIMIT 1")[0]
    with _client(reader) as web:
        for path in (
            "/",
            "/?show=all&scope=all",
            f"/stories/{story}",
            f"/articles/{article}",
            "/storylines",
            f"/storylines/{line}",
            "/search?q=troops",
        ):
            page = web.get(path)
            assert page.status_code == 200, path
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert page.headers["x-content-type-options"] == "nosniff"
            for payload in (SCRIPT_PAYLOAD, IMG_PAYLOAD, PWN_SCRIPT, PWN_IMG):
                assert payload not in page.text, f"{path} shows {payload!r} unescaped"
            assert "<script>" not in page.text.replace('<script src="/static/reader.js"', "")
            assert " style=" not in page.text  # no inline style either
        # The story's dates and its counts read apart ("2020-01-06 · 11 reports", not "…06· 11").
        meta = re.search(r'<p class="meta">(.*?)</p>', web.get(f"/stories/{story}").text, re.S)
        assert meta and re.search(r"\S · \d+ reports? from", " ".join(meta.group(1).split()))
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in web.get(f"/articles/{article}").text
        assert web.get("/stories/nope").status_code == 404
        assert web.get("/articles/nope").status_code == 404
        assert web.get("/static/../pyproject.toml").status_code == 404


def test_arabic_is_right_to_left_and_search_folds_its_spelling(reader: Running, db: Store) -> None:
    arabic = _ids(db, "SELECT article_id FROM articles WHERE language = 'ar'")[0]
    with _client(reader) as web:
        page = web.get(f"/articles/{arabic}").text
        assert re.search(r'<h1 lang="ar" dir="rtl">البرلمان العراقيّ', page)
        assert '<section class="text" aria-labelledby="h-t" lang="ar" dir="rtl">' in page
        assert "&lt;b&gt;عاجل&lt;/b&gt;" in page
        # Plain spelling (no hamza, ta marbuta as ha, no marks) finds the marked-up text.
        found = web.get("/search", params={"q": "الامريكيه الاسد"}).text
        assert f'href="/articles/{arabic}"' in found
        assert "<mark>الأمريكية</mark>" in found and "<mark>الأســـد</mark>" in found


def test_a_browser_label_lands_like_monitor_label(reader: Running, db: Store) -> None:
    web_id, cli_id = _ids(
        db, "SELECT article_id FROM articles WHERE duplicate_of IS NULL ORDER BY article_id LIMIT 2"
    )
    with _client(reader) as web:
        page = web.get(f"/articles/{web_id}")
        action = f"/articles/{web_id}/label"
        form = {"relevant": "relevant", "stance": "for_withdrawal", "note": "seen in <b>two</b>"}
        refused = web.post(action, data=form)  # no token
        assert refused.status_code == 403
        assert _ids(db, f"SELECT article_id FROM labels WHERE article_id = '{web_id}'") == []
        saved = web.post(action, data={**form, "csrf_token": _csrf(page.text, action)})
        assert saved.status_code == 303 and saved.headers["location"].startswith(
            f"/articles/{web_id}?labelled=1"
        )
        after = web.get(saved.headers["location"]).text
        assert "Label saved" in after and "seen in &lt;b&gt;two&lt;/b&gt;" in after
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "label",
            cli_id,
            "relevant",
            "--stance",
            "for_withdrawal",
            "--note",
            "seen in <b>two</b>",
            "--db",
            str(db.path),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    with db.read() as con:
        rows = con.execute(
            "SELECT a.article_id, l.relevant, l.stance, l.note, a.relevant, a.stance, a.decided_by "
            "FROM labels l JOIN articles a USING (article_id) ORDER BY a.article_id = ?",
            [cli_id],
        ).fetchall()
    assert [r[0] for r in rows] == [web_id, cli_id]
    assert (
        rows[0][1:]
        == rows[1][1:]
        == (True, "for_withdrawal", "seen in <b>two</b>", True, "for_withdrawal", "analyst")
    )


def test_a_post_from_another_origin_or_with_a_wrong_token_is_refused(
    reader: Running, db: Store
) -> None:
    story = _ids(db, "SELECT story_id FROM stories ORDER BY story_id LIMIT 1")[0]
    action = f"/stories/{story}/read"
    with _client(reader) as web:
        token = _csrf(web.get("/?show=all&scope=all").text, action)
        other = _csrf(web.get("/?show=all&scope=all").text, action)
        assert token == other  # one token per form and browser
        evil = web.post(
            action, data={"csrf_token": token}, headers={"origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        wrong_form = web.post(f"/stories/{story}x/read", data={"csrf_token": token})
        assert wrong_form.status_code == 403
    with httpx.Client(base_url=reader.url) as stranger:  # another browser: its own cookie
        assert stranger.post(action, data={"csrf_token": token}).status_code == 403
    with httpx.Client(base_url=reader.url, headers={"host": "evil.example"}) as rebinding:
        assert rebinding.get("/").status_code == 400
    assert _ids(db, f"SELECT story_id FROM read_marks WHERE story_id = '{story}'") == []


def test_marking_read_keeps_the_mark_in_duckdb_and_takes_it_off_the_unread_list(
    reader: Running, db: Store
) -> None:
    with _client(reader) as web:
        home = web.get("/")
        first = re.search(r'<a href="/stories/([0-9a-f]+)" class="title"', home.text)
        assert first, "the unread list is empty"
        story = first.group(1)
        action = f"/stories/{story}/read"
        done = web.post(action, data={"csrf_token": _csrf(home.text, action), "next": "/"})
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert f'href="/stories/{story}" class="title"' not in web.get("/").text
        assert f'href="/stories/{story}" class="title"' in web.get("/?show=all").text
        assert _ids(db, f"SELECT story_id FROM read_marks WHERE story_id = '{story}'") == [story]
        page = web.get(f"/stories/{story}").text
        action_again = f"/stories/{story}/read"
        unread = web.post(
            action_again,
            data={"csrf_token": _csrf(page, action_again), "read": "0", "next": "//evil.example/"},
        )
        assert unread.headers["location"] == f"/stories/{story}"  # only local redirects
        assert _ids(db, f"SELECT story_id FROM read_marks WHERE story_id = '{story}'") == []


def test_atom_lists_relevant_stories_linking_to_the_reader(reader: Running, db: Store) -> None:
    with _client(reader) as web:
        feed = web.get("/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    entries = root.findall(f"{ATOM}entry")
    relevant = _ids(
        db, "SELECT DISTINCT story_id FROM articles WHERE relevant AND story_id IS NOT NULL"
    )
    assert len(entries) == len(relevant) > 0
    for entry in entries:
        link = entry.find(f"{ATOM}link")
        assert link is not None and link.get("href", "").startswith(f"{reader.url}/stories/")
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert any(PWN_SCRIPT in t for t in titles)  # as text, parsed back from escaped XML


def test_sigterm_stops_it_quietly(db: Store, tmp_path: Path) -> None:
    with running_reader(db.path, log=tmp_path / "web.log") as run:
        assert httpx.get(f"{run.url}/").status_code == 200
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=10) == 0
    lines = [x for x in (tmp_path / "web.log").read_text().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Reader on http://127.0.0.1:")


def test_a_token_is_required_then_kept_in_a_cookie(db: Store, tmp_path: Path) -> None:
    secret = "s3cret-token-42"
    with running_reader(db.path, "--token", secret, log=tmp_path / "web.log") as run:
        with httpx.Client(base_url=run.url) as web:
            assert web.get("/").status_code == 401
            assert web.get("/", params={"token": "wrong-token"}).status_code == 401
            opened = web.get("/", params={"token": secret, "show": "all"})
            assert opened.status_code == 303 and opened.headers["location"] == "/?show=all"
            assert web.get("/?show=all").status_code == 200  # the cookie now
            assert "httponly" in opened.headers["set-cookie"].lower()
        header = httpx.get(f"{run.url}/", headers={"x-monitor-token": secret})
        assert header.status_code == 200
        feed = httpx.get(f"{run.url}/feed.atom", params={"token": secret})
        assert feed.status_code == 200 and feed.content.startswith(b"<?xml")


def test_a_public_bind_without_a_token_is_one_line_and_exit_2(db: Store) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "web", "--host", "0.0.0.0", "--db", str(db.path)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--token" in done.stderr


def test_a_port_in_use_is_one_line_and_exit_2(db: Store) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "web", "--port", str(port), "--db", str(db.path)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"configuration error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_the_reader_reads_the_snapshot_and_writes_marks_to_the_database(
    db: Store, tmp_path: Path
) -> None:
    import shutil

    from monitor.store.snapshot import snapshot_path

    work = Store(tmp_path / "m.duckdb")
    shutil.copy(db.path, work.path)
    snap = snapshot_path(work.path)
    shutil.copy(db.path, snap)  # as publish writes it: a copy of the file, renamed into place
    story = _ids(
        work,
        "SELECT story_id FROM stories WHERE story_id IN "
        "(SELECT story_id FROM articles WHERE relevant) ORDER BY story_id LIMIT 1",
    )[0]
    with Store(snap).write() as con:  # what only the snapshot says
        con.execute(
            "UPDATE core.articles SET title = 'Seen in the snapshot' WHERE article_id = "
            "(SELECT representative_article_id FROM core.stories WHERE story_id = ?)",
            [story],
        )
    with running_reader(work.path, log=tmp_path / "web.log") as run, _client(run) as web:
        home = web.get("/?show=all").text
        assert "Seen in the snapshot" in home
        action = f"/stories/{story}/read"
        done = web.post(action, data={"csrf_token": _csrf(home, action), "next": "/"})
        assert done.status_code == 303
        assert f'href="/stories/{story}" class="title"' not in web.get("/").text
    assert _ids(work, "SELECT story_id FROM read_marks") == [story]  # in the database
    assert _ids(Store(snap), "SELECT story_id FROM read_marks") == []  # not the snapshot
    # A reader started afterwards, on the same (older) snapshot, still knows the mark.
    with running_reader(work.path, log=tmp_path / "web2.log") as run, _client(run) as web:
        assert f'href="/stories/{story}" class="title"' not in web.get("/").text
        assert f'href="/stories/{story}" class="title"' in web.get("/?show=all").text
