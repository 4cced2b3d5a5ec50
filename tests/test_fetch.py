"""Fetching against a real HTTP server on 127.0.0.1: faults, politeness, safety, health."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from monitor.collect import collect
from monitor.fetch import Fetcher, host_delay, retry_after_s
from monitor.health import save_fetch_state, source_health
from monitor.pipeline import open_store, run_ingest
from monitor.settings import FetchSettings, RunnerSettings, Settings
from monitor.store import Store
from monitor.transport import GuardedBackend, build_client
from tests.fetch_server import (
    CHARSET_SENTENCE,
    ROBOTS,
    LocalServer,
    aeb_pages,
    article_html,
    bomb,
    gzip_bomb,
    huge,
    redirect,
    reset,
    rss,
    running,
    sleeper,
    static,
    status,
    then_ok,
    with_etag,
)

PAGES = aeb_pages()
needs_aeb = pytest.mark.skipif(
    not PAGES, reason="../shared/data/realworld/aeb is absent (real pages for fetch tests)"
)

FAST_FETCH: dict[str, Any] = {
    "per_host_delay_s": 0,
    "timeout_s": 1.5,
    "max_retries": 2,
    "max_retry_delay_s": 0.2,
    "per_host_concurrency": 4,
    "concurrency": 8,
    "trusted_hosts": ["127.0.0.1"],
}


def make_settings(tmp_path: Path, sources: list[dict[str, Any]], **fetch: Any) -> Settings:
    """Settings for a test: fresh DuckDB file, no seeds, fast fetching to 127.0.0.1 only."""
    return Settings.model_validate(
        {
            "storage": {"db": str(tmp_path / "monitor.duckdb"), "lock_timeout_s": 5},
            "seeds": {"dirs": []},
            "sources": sources,
            "fetch": {**FAST_FETCH, **fetch},
            "runner": {"workers": 2},
        }
    )


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes["/robots.txt"] = static(ROBOTS, "text/plain")
    with running(srv):
        yield srv


def fetches(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for url, outcome, error, code in store.query(
        "SELECT url, outcome, nullif(concat_ws(': ', error_kind, error), ''), status_code "
        "FROM fetches ORDER BY fetched_at"
    ):
        out.setdefault(url, []).append((outcome, error, code))
    return out


FAULTS = {
    "/fault/timeout": (sleeper(5.0), "error", "FetchTimeout"),
    "/fault/500": (status(500), "error", "FetchHTTPStatus"),
    "/fault/reset": (reset, "error", "FetchConnection"),
    "/fault/loop": (redirect("/fault/loop2"), "error", "redirects"),
    "/fault/huge": (huge(), "error", "FetchTooLarge"),
    "/fault/bomb": (bomb, "error", "FetchTooLarge"),
    "/fault/pdf": (
        static(b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", "application/pdf"),
        "skipped",
        "FetchUnsupported",
    ),
    "/fault/pdf-as-html": (static(b"%PDF-1.4\n1 0 obj <<>>\n"), "skipped", "FetchUnsupported"),
    "/fault/image": (
        static(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png"),
        "skipped",
        "FetchUnsupported",
    ),
    "/fault/empty": (static(b""), "error", "empty body"),
    "/fault/404": (status(404), "error", "FetchHTTPStatus"),
    "/private/secret.html": (static(b"<html>secret</html>"), "skipped", "robots.txt"),
}


@needs_aeb
def test_a_run_over_faults_ends_every_url_with_an_outcome_and_loses_nothing(
    server: LocalServer, tmp_path: Path
) -> None:
    gzip_bomb()  # built before serving, so the route answers at once
    stems = list(PAGES)[:6]
    for stem in stems:
        server.routes[f"/news/{stem}.html"] = static(PAGES[stem])
    for path, (route, _, _) in FAULTS.items():
        server.routes[path] = route
    server.routes["/fault/loop2"] = redirect("/fault/loop")
    server.routes["/fault/429"] = then_ok(status(429, {"Retry-After": "1"}), PAGES[list(PAGES)[6]])
    lying = article_html("Caf\u00e9 talk in Erbil", [CHARSET_SENTENCE] * 6).encode("cp1252")
    server.routes["/fault/charset"] = static(lying, "text/html; charset=utf-8")
    links = [f"/news/{s}.html" for s in stems] + list(FAULTS) + ["/fault/429", "/fault/charset"]
    items = [{"title": p, "link": server.url(p)} for p in links]
    items.append({"title": "metadata", "link": "http://169.254.169.254/latest/meta-data/"})
    items.append({"title": "intranet", "link": "http://10.0.0.1/admin"})
    items.append({"title": "not http", "link": "ftp://127.0.0.1/file"})
    server.routes["/feed.xml"] = with_etag(rss(items), '"v1"', "application/rss+xml")
    settings = make_settings(
        tmp_path, [{"name": "local", "kind": "feed", "url": server.url("/feed.xml")}]
    )

    summary = run_ingest(settings)

    assert summary.status == "completed"
    store = open_store(settings)
    log = fetches(store)
    assert server.url("/feed.xml") in log
    for path in links:
        assert server.url(path) in log, f"{path} has no fetch record"
    for path, (_, outcome, reason) in FAULTS.items():
        got_outcome, error, _ = log[server.url(path)][-1]
        assert got_outcome == outcome, (path, got_outcome, error)
        assert reason in (error or ""), (path, error)
    # Retries are bounded: max_retries + 1 attempts, no more.
    assert server.hits["/fault/timeout"] == 3
    assert server.hits["/fault/500"] == 3
    assert server.hits["/fault/429"] == 2
    assert server.hits["/fault/loop"] + server.hits["/fault/loop2"] == 6  # max_redirects + 1
    assert log[server.url("/fault/429")][-1][0] == "new"
    # The hostile links were refused without a request; ftp is not followed either.
    assert log["http://169.254.169.254/latest/meta-data/"][-1][0] == "skipped"
    assert "non-public" in log["http://169.254.169.254/latest/meta-data/"][-1][1]
    assert log["http://10.0.0.1/admin"][-1][0] == "skipped"
    assert "/private/secret.html" not in server.hits
    # A lying charset header does not garble the text.
    texts = dict(store.query("SELECT url, text FROM articles"))
    assert "café owner in Erbil" in texts[server.url("/fault/charset")]
    assert summary.articles_new == len(stems) + 2
    assert summary.errors >= 8 and summary.skipped >= 5

    # Second run: the feed answers 304, no known article is fetched again, nothing is lost.
    before = set(store.query("SELECT article_id, text FROM articles"))
    page_hits = {s: server.hits[f"/news/{s}.html"] for s in stems}
    second = run_ingest(settings)
    assert second.status == "completed"
    assert fetches(store)[server.url("/feed.xml")][-1][0] == "not_modified"
    assert server.request_headers["/feed.xml"][-1].get("if-none-match") == '"v1"'
    assert {s: server.hits[f"/news/{s}.html"] for s in stems} == page_hits
    assert set(store.query("SELECT article_id, text FROM articles")) == before


HOSTILE = {
    "http://0177.0.0.1/x.html": "ambiguous numeric host",  # octal
    "http://0x7f.0.0.1/x.html": "ambiguous numeric host",  # hex
    "http://127.1/x.html": "ambiguous numeric host",  # short form
    "http://2130706433/x.html": "ambiguous numeric host",  # one number
    "http://example.org:99999/x.html": "Port out of range",
    "http://example.org:-1/x.html": "Port could not be cast",
    "http://[::1/x.html": "Invalid IPv6 URL",
    "http://exa\u00e4mple..org/x.html": "invalid host name",  # bad IDNA: an empty label
    "http://\u2603.example/x.html": "invalid URL",  # IDNA 2008 refuses the snowman
    "javascript:alert(1)": "scheme 'javascript'",
    "ftp://127.0.0.1/file": "scheme 'ftp'",
    "http://user:secret@127.0.0.1/x.html": "credentials",
}


def test_each_hostile_link_is_one_failed_fetch_and_the_run_goes_on(
    server: LocalServer, tmp_path: Path
) -> None:
    good = article_html(
        "Troops leave Ain al-Asad", ["US troops left the base, officials said."] * 6
    )
    server.routes["/news/good.html"] = static(good.encode())
    links = [server.url("/news/good.html"), *HOSTILE]
    server.routes["/feed.xml"] = static(
        rss([{"title": f"item {i}", "link": link} for i, link in enumerate(links)]),
        "application/rss+xml",
    )
    settings = make_settings(
        tmp_path, [{"name": "local", "kind": "feed", "url": server.url("/feed.xml")}]
    )

    report = run_ingest(settings)

    assert report.status == "completed"
    assert report.articles_new == 1
    assert report.pages_failed == {"bad URL": len(HOSTILE)}
    store = open_store(settings)
    log = fetches(store)
    assert log[server.url("/news/good.html")][-1][0] == "new"
    for link, reason in HOSTILE.items():
        outcome, error, status = log[link][-1]
        assert (outcome, status) == ("error", None), (link, outcome)
        assert error.startswith("FetchInvalidURL: ") and reason in error, (link, error)
    assert set(server.hits) == {"/feed.xml", "/robots.txt", "/news/good.html"}
    # A second run fetches none of them again by surprise: each is one record per run.
    again = run_ingest(settings)
    assert again.status == "completed" and again.articles_new == 0


@needs_aeb
def test_a_304_costs_no_extraction_and_an_unchanged_body_is_skipped(server: LocalServer) -> None:
    stem = next(iter(PAGES))
    server.routes["/etag.html"] = with_etag(PAGES[stem], '"abc"')
    server.routes["/plain.html"] = static(PAGES[stem])

    async def go() -> list[Any]:
        async with build_client(FetchSettings(**FAST_FETCH)) as client:
            fetcher = Fetcher(client, FetchSettings(**FAST_FETCH))
            first = await fetcher.fetch(server.url("/etag.html"), "t")
            again = await fetcher.fetch(server.url("/etag.html"), "t", cache=first.cache)
            plain = await fetcher.fetch(server.url("/plain.html"), "t")
            plain2 = await fetcher.fetch(server.url("/plain.html"), "t", cache=plain.cache)
            return [first, again, plain, plain2]

    first, again, plain, plain2 = asyncio.run(go())
    assert first.record.outcome == "new" and first.page is not None
    assert first.cache is not None and first.cache.etag == '"abc"'
    assert again.record.outcome == "not_modified" and again.page is None
    assert again.record.status_code == 304
    assert server.request_headers["/etag.html"][1]["if-none-match"] == '"abc"'
    assert plain.page is not None
    assert plain2.record.outcome == "not_modified" and plain2.page is None


def test_robots_rules_follow_rfc_9309_wildcards_end_anchors_and_longest_match(
    server: LocalServer,
) -> None:
    server.routes["/robots.txt"] = static(
        b"User-agent: *\n"
        b"Disallow: /*?print=\n"
        b"Disallow: /*.pdf$\n"
        b"Disallow: /news/\n"
        b"Allow: /news/iraq\n",
        "text/plain",
    )
    allowed = ["/news/iraq-vote.html", "/story.html", "/doc.pdf.html"]
    refused = ["/story.html?print=1", "/files/report.pdf", "/news/other.html"]
    for path in allowed + refused:
        server.routes[path] = static(b"<html><body><p>page</p></body></html>")
    settings = FetchSettings(**FAST_FETCH)

    async def go() -> dict[str, Any]:
        async with build_client(settings) as client:
            fetcher = Fetcher(client, settings)
            return {p: await fetcher.fetch(server.url(p), "t") for p in allowed + refused}

    results = asyncio.run(go())
    for path in allowed:
        assert results[path].record.outcome == "new", path
    for path in refused:
        record = results[path].record
        assert (record.outcome, record.error_kind) == ("skipped", "FetchBlocked"), path
        assert record.error == "disallowed by robots.txt"
    # Refused without a request: the only hit on /story.html is the allowed one.
    assert server.hits["/story.html"] == 1
    assert "/files/report.pdf" not in server.hits and "/news/other.html" not in server.hits


def test_retry_after_is_honoured_within_the_bound(server: LocalServer) -> None:
    server.routes["/slow-down"] = then_ok(status(429, {"Retry-After": "1"}), b"<p>ok</p>")
    settings = FetchSettings(**{**FAST_FETCH, "max_retry_delay_s": 5, "respect_robots": False})

    async def go() -> Any:
        async with build_client(settings) as client:
            return await Fetcher(client, settings).fetch(server.url("/slow-down"), "t")

    result = asyncio.run(go())
    assert result.record.outcome == "new"
    first, second = server.hit_times["/slow-down"]
    assert second - first >= 0.95
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_s("120") == 120.0


def test_per_host_delay_spaces_requests_and_gdelt_gets_at_least_five_seconds(
    server: LocalServer,
) -> None:
    for i in range(3):
        server.routes[f"/p{i}"] = static(b"<p>page</p>")
    settings = FetchSettings(**{**FAST_FETCH, "per_host_delay_s": 0.6, "respect_robots": False})

    async def go() -> None:
        async with build_client(settings) as client:
            fetcher = Fetcher(client, settings)
            await asyncio.gather(*(fetcher.fetch(server.url(f"/p{i}"), "t") for i in range(3)))

    asyncio.run(go())
    times = sorted(server.hit_times[f"/p{i}"][0] for i in range(3))
    # Seen by the server, whose thread may note a hit late on a loaded machine: a margin.
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times))
    assert host_delay("api.gdeltproject.org", FetchSettings(per_host_delay_s=0)) >= 5
    assert host_delay("127.0.0.1", FetchSettings(per_host_delay_s=0)) == 0


def test_private_addresses_are_refused_unless_allowed(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/page.html"] = static(article_html("Local", ["Some text here."] * 5).encode())
    server.routes["/to-intranet"] = redirect("http://10.0.0.1/admin")
    strict = FetchSettings(**{**FAST_FETCH, "trusted_hosts": []})
    trusted = FetchSettings(**FAST_FETCH)
    allowed = FetchSettings(**{**FAST_FETCH, "trusted_hosts": [], "allow_private_networks": True})

    async def go(settings: FetchSettings, path: str) -> Any:
        async with build_client(settings) as client:
            return await Fetcher(client, settings).fetch(server.url(path), "t")

    refused = asyncio.run(go(strict, "/page.html"))
    assert refused.record.outcome == "skipped" and "non-public" in (refused.record.error or "")
    assert server.hits["/page.html"] == 0
    assert asyncio.run(go(allowed, "/page.html")).record.outcome == "new"
    # Each redirect hop is checked again: a trusted host cannot bounce us into the intranet.
    hop = asyncio.run(go(trusted, "/to-intranet"))
    assert hop.record.outcome == "skipped" and "10.0.0.1" in (hop.record.error or "")

    # A configured source on a private address obeys the same rule.
    settings = make_settings(
        tmp_path,
        [{"name": "lan", "kind": "feed", "url": server.url("/page.html")}],
        trusted_hosts=[],
    )
    store = open_store(settings)
    result = collect(settings, store, "r1")
    assert [r.outcome for r in result.records] == ["skipped"]
    assert server.hits["/page.html"] == 1


def test_failing_source_backs_off_then_is_disabled(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/broken.xml"] = status(503)
    closed = socket_free_port()
    settings = make_settings(
        tmp_path,
        [
            {"name": "broken", "kind": "feed", "url": server.url("/broken.xml")},
            {"name": "gone", "kind": "feed", "url": f"http://127.0.0.1:{closed}/feed.xml"},
        ],
        max_retries=0,
        failure_backoff_s=3600,
        disable_after_failures=2,
    )
    store = open_store(settings)
    first = collect(settings, store, "r1")
    save_fetch_state(store, settings, first.cache, first.updates)
    health = {h.name: h for h in source_health(store, settings)}
    assert health["broken"].consecutive_failures == 1
    assert health["broken"].state == "backing off"
    assert "503" in (health["broken"].last_error or "")
    assert health["gone"].state == "backing off"
    assert health["gone"].last_error_kind == "FetchConnection"
    assert "connection" in (health["gone"].last_error or "").lower()

    # Not due yet: skipped without a request.
    second = collect(settings, store, "r2")
    assert second.records == () and second.not_due == {"backing off": 2}
    assert server.hits["/broken.xml"] == 1

    # An hour later it is due again; a second failure disables it (at disable_after_failures).
    with store.write() as con:
        con.execute("UPDATE core.sources SET next_due_at = next_due_at - INTERVAL 2 HOUR")
    assert {h.state for h in source_health(store, settings)} == {"due"}
    third = collect(settings, store, "r3")
    save_fetch_state(store, settings, third.cache, third.updates)
    health = {h.name: h for h in source_health(store, settings)}
    assert health["broken"].state == "disabled"
    assert health["broken"].consecutive_failures == 2
    with store.write() as con:
        con.execute("UPDATE core.sources SET next_due_at = next_due_at - INTERVAL 24 HOUR")
    collect(settings, store, "r4")
    assert server.hits["/broken.xml"] == 2


def test_unreachable_sources_fail_fast_and_quietly(tmp_path: Path) -> None:
    ports = [socket_free_port() for _ in range(5)]
    settings = make_settings(
        tmp_path,
        [
            {"name": f"s{i}", "kind": "feed", "url": f"http://127.0.0.1:{p}/rss"}
            for i, p in enumerate(ports)
        ],
    )
    store = open_store(settings)
    summary = run_ingest(settings)
    assert summary.status == "completed"
    assert summary.errors == 5
    rows = store.query("SELECT outcome, elapsed_ms FROM fetches")
    assert len(rows) == 5 and all(o == "error" and ms < 2000 for o, ms in rows)


def test_a_client_passed_in_is_used(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/one.xml"] = static(rss([]), "application/rss+xml")
    settings = make_settings(
        tmp_path, [{"name": "one", "kind": "feed", "url": server.url("/one.xml")}]
    )
    store = open_store(settings)
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(str(request.url))

    client = httpx.AsyncClient(event_hooks={"request": [hook]}, follow_redirects=False)
    result = collect(settings, store, "r1", client=client)
    assert seen == [server.url("/one.xml")]
    assert [r.outcome for r in result.records] == ["new"]


def socket_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_executor_passed_in_runs_the_extraction(server: LocalServer, tmp_path: Path) -> None:
    paras = ["Coalition advisers will leave Baghdad by September, officials said on Friday."] * 6
    for i in range(3):
        server.routes[f"/story{i}.html"] = static(article_html(f"Story {i}", paras).encode())
    items = [{"title": f"s{i}", "link": server.url(f"/story{i}.html")} for i in range(3)]
    server.routes["/three.xml"] = static(rss(items), "application/rss+xml")
    settings = make_settings(
        tmp_path, [{"name": "t", "kind": "feed", "url": server.url("/three.xml")}]
    )
    store = open_store(settings)
    assert source_health(store, settings)[0].state == "due"
    calls: list[int] = []

    class CountingPool(concurrent.futures.ProcessPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            calls.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    with CountingPool(max_workers=1) as pool:
        result = collect(settings, store, "r1", executor=pool)
    assert sorted(a.url for a in result.articles) == [
        server.url(f"/story{i}.html") for i in range(3)
    ]
    # Extracted and prepared in the pool: compressed page, hash, signature, classification.
    assert sum(calls) == 3
    assert all(a.html_zlib and a.content_hash and a.signature for a in result.articles)
    assert all(a.classification for a in result.articles)


def test_a_stored_page_linked_again_with_tracking_parameters_is_not_fetched_again(
    server: LocalServer, tmp_path: Path
) -> None:
    paras = ["Coalition advisers will leave Baghdad by September, officials said on Friday."] * 6
    server.routes["/story.html"] = static(article_html("Story", paras).encode())
    server.routes["/first.xml"] = static(
        rss([{"title": "s", "link": server.url("/story.html")}]), "application/rss+xml"
    )
    server.routes["/second.xml"] = static(
        rss([{"title": "s", "link": server.url("/story.html?ocid=rss&smid=tw")}]),
        "application/rss+xml",
    )
    first = make_settings(
        tmp_path, [{"name": "a", "kind": "feed", "url": server.url("/first.xml")}]
    )
    assert run_ingest(first).articles_new == 1
    second = make_settings(
        tmp_path, [{"name": "b", "kind": "feed", "url": server.url("/second.xml")}]
    )
    again = run_ingest(second)
    # collect and dedup share one URL key: the tracking parameters do not make it a new page.
    assert (again.articles_new, again.unchanged) == (0, 1)
    assert server.hits["/story.html"] == 1


class _Recording(httpcore.AsyncNetworkBackend):
    """A network backend that records where it was asked to connect: to 127.0.0.1 for real,
    anywhere else refused (tests never reach the internet)."""

    def __init__(self) -> None:
        self.connected: list[str] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> Any:
        self.connected.append(host)
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"[Errno 111] Connection refused ({host})")
        return await self._real.connect_tcp(host, port, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def test_the_address_checked_is_the_address_connected_to(server: LocalServer) -> None:
    """DNS rebinding: a name answers a public address, then a private one. The check and
    the connection share one resolution, so the private answer is never connected to."""
    server.routes["/page.html"] = static(article_html("Local", ["Some text here."] * 5).encode())
    answers = {"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]}
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    settings = FetchSettings(**{**FAST_FETCH, "trusted_hosts": [], "respect_robots": False})
    inner = _Recording()
    port = server.server_address[1]

    async def go(path: str) -> Any:
        backend = GuardedBackend(settings, resolve=rebinding, inner=inner)
        async with build_client(settings, backend=backend) as client:
            fetcher = Fetcher(client, settings)
            first = await fetcher.fetch(f"http://rebind.test:{port}{path}", "t")
            again = await fetcher.fetch(f"http://rebind.test:{port}{path}?again", "t")
            return first, again

    first, again = asyncio.run(go("/page.html"))
    assert inner.connected == ["93.184.216.34", "93.184.216.34"]  # only what was checked
    assert asked == ["rebind.test"]  # one resolution per host and run
    assert first.record.outcome == again.record.outcome == "error"
    assert "connection refused" in (first.record.error or "")
    assert server.hits["/page.html"] == 0

    # A name whose answer is private is refused before any connection, even at connect time.
    answers["rebind.test"] = [["127.0.0.1"]]
    inner.connected.clear()
    asked.clear()
    refused, _ = asyncio.run(go("/page.html"))
    assert refused.record.outcome == "skipped" and refused.record.error_kind == "FetchBlocked"
    assert "rebind.test resolves to non-public address 127.0.0.1" in (refused.record.error or "")
    assert inner.connected == [] and server.hits["/page.html"] == 0


def test_trusted_hosts_and_private_networks_are_allowed_at_connect_time(
    server: LocalServer,
) -> None:
    server.routes["/page.html"] = static(article_html("Local", ["Some text here."] * 5).encode())
    port = server.server_address[1]

    async def go(settings: FetchSettings, host: str) -> str:
        async with build_client(settings) as client:
            got = await Fetcher(client, settings).fetch(f"http://{host}:{port}/page.html", "t")
            return got.record.outcome

    strict = FetchSettings(**{**FAST_FETCH, "trusted_hosts": []})
    assert asyncio.run(go(strict, "localhost")) == "skipped"
    trusted = FetchSettings(**{**FAST_FETCH, "trusted_hosts": ["localhost"]})
    assert asyncio.run(go(trusted, "localhost")) == "new"
    lan = FetchSettings(**{**FAST_FETCH, "trusted_hosts": [], "allow_private_networks": True})
    assert asyncio.run(go(lan, "localhost")) == "new"


def test_elapsed_ms_is_the_request_not_the_wait_for_a_slot(server: LocalServer) -> None:
    server.routes["/quick"] = static(b"<html><body>quick</body></html>")
    server.routes["/slow"] = sleeper(0.4)
    # One request at a time to the host, 0.5 s apart: the last of four waits 1.5 s to start.
    settings = FetchSettings(
        **{
            **FAST_FETCH,
            "per_host_concurrency": 1,
            "per_host_delay_s": 0.5,
            "respect_robots": False,
        }
    )

    async def go() -> list[Any]:
        async with build_client(settings) as client:
            fetcher = Fetcher(client, settings)
            urls = [server.url(f"/quick?{i}") for i in range(3)] + [server.url("/slow")]
            return list(await asyncio.gather(*(fetcher.fetch(u, "t") for u in urls)))

    started = time.monotonic()
    results = asyncio.run(go())
    assert time.monotonic() - started >= 1.5
    quick, slow = [r.record for r in results[:3]], results[3].record
    assert all(r.elapsed_ms < 300 for r in quick), [r.elapsed_ms for r in quick]
    assert 400 <= slow.elapsed_ms < 1200, slow.elapsed_ms


def _pages_behind_a_feed(server: LocalServer, names: list[str]) -> None:
    items = []
    for i, name in enumerate(names):
        paragraphs = [f"Report {i} on the withdrawal of US troops from Iraq, in detail."] * 6
        server.routes[f"/{name}.html"] = static(article_html(f"Report {i}", paragraphs).encode())
        items.append({"link": server.url(f"/{name}.html"), "title": f"Report {i}"})
    server.routes["/feed.xml"] = static(rss(items), "application/rss+xml")


def test_a_dead_extraction_worker_does_not_stop_the_run(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-chunk breaks the process pool: that chunk is recorded as failed,
    a new pool takes the later chunks, and the run completes."""
    from tests.crashing import extract_or_die

    monkeypatch.setattr("monitor.workers.extract_pages", extract_or_die)
    names = ["die"] + [f"p{i:02d}" for i in range(23)]  # the first chunk kills its worker
    _pages_behind_a_feed(server, names)
    settings = make_settings(
        tmp_path, [{"name": "feed", "kind": "feed", "url": server.url("/feed.xml")}]
    )
    settings = settings.model_copy(update={"runner": RunnerSettings(workers=1)})
    summary = run_ingest(settings)
    assert summary.status == "completed"
    store = Store(settings.storage.db)
    rows = dict(
        store.query("SELECT url, coalesce(error, outcome) FROM fetches WHERE url LIKE '%.html'")
    )
    assert rows[server.url("/die.html")].startswith("worker failed")
    extracted = [u for u, r in rows.items() if r == "new"]
    assert len(extracted) >= 12, rows  # the chunks after the break went to a new pool
    assert summary.articles_new == len(extracted)


def test_discovery_cut_offs_are_recorded(server: LocalServer, tmp_path: Path) -> None:
    """A sitemap index chain longer than fetch.max_child_sitemaps, and a feed with more
    items than fetch.max_articles_per_source: a `skipped` row (error_kind CutOff) each, and
    the note in the source's health."""
    # An index chain: each index names the next one.
    for i in range(5):
        nxt = server.url(f"/index{i + 1}.xml")
        server.routes[f"/index{i}.xml"] = static(
            f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9"><sitemap><loc>{nxt}</loc></sitemap></sitemapindex>'.encode(),
            "application/xml",
        )
    _pages_behind_a_feed(server, [f"c{i}" for i in range(6)])
    settings = make_settings(
        tmp_path,
        [
            {"name": "deep", "kind": "sitemap", "url": server.url("/index0.xml")},
            {"name": "many", "kind": "feed", "url": server.url("/feed.xml")},
        ],
        max_child_sitemaps=2,
        max_articles_per_source=4,
    )
    summary = run_ingest(settings)
    assert summary.status == "completed" and summary.articles_new == 4
    store = Store(settings.storage.db)
    cut = store.query(
        "SELECT source, url, outcome, error FROM fetches WHERE error_kind = 'CutOff' "
        "ORDER BY source"
    )
    assert [(s, o) for s, _, o, _ in cut] == [("deep", "skipped"), ("many", "skipped")]
    assert "read 2 child sitemaps, 1 more not read" in cut[0][3]
    assert "took the newest 4 of 6" in cut[1][3]
    assert server.hits["/index3.xml"] == 0
    health = {h.name: h for h in source_health(store, settings)}
    assert health["deep"].last_cutoff is not None and "sitemap index cut off" in (
        health["deep"].last_cutoff or ""
    )
    assert "links cut off" in (health["many"].last_cutoff or "")
    assert health["many"].last_error is None  # a cut-off is not a failure
