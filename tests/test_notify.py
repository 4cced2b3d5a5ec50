"""Digest delivery through Apprise: real HTTP on 127.0.0.1, failures recorded and retried."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.notify import deliver, pending_deliveries, redact_text, redact_url, url_hash
from monitor.store import Store, digests, utcnow

SECRET_PASSWORD = "s3cretPassw0rd"
SECRET_TOKEN = "T0KENabcdef123456"


@dataclass
class Receiver:
    """A local webhook: records each JSON POST; answers with `status`."""

    server: ThreadingHTTPServer
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _start(port: int = 0) -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            receiver = holder["r"]
            receiver.posts.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    **json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    holder["r"] = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return holder["r"]


def _stop(receiver: Receiver) -> None:
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = _start()
    yield r
    _stop(r)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "m.duckdb")
    s.migrate()
    return s


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _url(port: int) -> str:
    return f"json://digest:{SECRET_PASSWORD}@127.0.0.1:{port}/hooks/{SECRET_TOKEN}"


def _rows(store: Store) -> list[tuple[Any, ...]]:
    return store.query(
        "SELECT delivery_id, url_hash, url_redacted, status, attempts, last_error, delivered_at "
        "FROM core.deliveries ORDER BY created_at, delivery_id"
    )


def _assert_no_secret(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    everything = json.dumps(
        store.query("SELECT * EXCLUDE (body) FROM core.deliveries"), default=str
    )
    for secret in (SECRET_PASSWORD, SECRET_TOKEN):
        assert secret not in everything
        assert secret not in caplog.text


def test_digest_is_posted_to_a_json_webhook(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report = deliver(store, "# Digest\n\nTwo new stories.", "Iraq digest", [_url(receiver.port)])
    assert report.ok and report.sent == 1 and report.retried == 0
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["title"] == "Iraq digest" and post["message"] == "# Digest\n\nTwo new stories."
    assert post["path"] == f"/hooks/{SECRET_TOKEN}" and post["auth"]  # the real URL was used
    [(_, h, redacted, status, attempts, error, delivered)] = _rows(store)
    assert (status, attempts, error) == ("sent", 1, None) and delivered is not None
    assert h == url_hash(_url(receiver.port))
    assert redacted == f"json://digest:****@127.0.0.1:{receiver.port}/…"
    _assert_no_secret(store, caplog)


def test_failed_delivery_is_recorded_and_resent_first_on_the_next_call(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = _closed_port()
    url = _url(port)
    first = deliver(store, "first digest", "Digest 1", [url])
    assert not first.ok and first.failed == 1
    [(first_id, _, _, status, attempts, error, delivered)] = _rows(store)
    assert (status, attempts, delivered) == ("failed", 1, None)
    assert error and "Connection" in error
    assert pending_deliveries(store)[0][0] == first_id
    assert "will retry" in caplog.text
    _assert_no_secret(store, caplog)

    receiver = _start(port)  # the endpoint comes back
    try:
        second = deliver(store, "second digest", "Digest 2", [url])
    finally:
        _stop(receiver)
    assert second.ok and second.sent == 2 and second.retried == 1
    assert next(o.delivery_id for o in second.outcomes) == first_id
    assert [p["message"] for p in receiver.posts] == ["first digest", "second digest"]
    assert [p["title"] for p in receiver.posts] == ["Digest 1", "Digest 2"]
    rows = _rows(store)
    assert [(r[3], r[4]) for r in rows] == [("sent", 2), ("sent", 1)]
    assert pending_deliveries(store) == []
    _assert_no_secret(store, caplog)


def test_one_failing_url_does_not_stop_the_others(store: Store, receiver: Receiver) -> None:
    report = deliver(store, "body", "title", [_url(_closed_port()), _url(receiver.port)])
    assert report.sent == 1 and report.failed == 1
    assert len(receiver.posts) == 1


def test_http_error_status_counts_as_failure(store: Store, receiver: Receiver) -> None:
    receiver.status = 500
    report = deliver(store, "body", "title", [_url(receiver.port)])
    assert report.failed == 1 and len(receiver.posts) == 1
    receiver.status = 200
    again = deliver(store, "body 2", "title 2", [_url(receiver.port)])
    assert again.sent == 2 and [p["message"] for p in receiver.posts] == ["body", "body", "body 2"]


def test_delivery_to_a_url_removed_from_config_is_abandoned_not_dropped(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(store, "old", "t", [_url(_closed_port())])
    report = deliver(store, "new", "t", [_url(receiver.port)])
    assert report.abandoned == 1 and report.sent == 1
    statuses = [(r[3], r[5]) for r in _rows(store)]
    assert statuses[0] == ("abandoned", "URL no longer configured")
    assert "abandoned digest delivery" in caplog.text


def test_delivery_gives_up_after_max_attempts(store: Store) -> None:
    url = _url(_closed_port())
    assert deliver(store, "x", "t", [url], max_attempts=2).failed == 1
    report = deliver(store, "y", "t", [url], max_attempts=2)
    assert [o.status for o in report.outcomes] == ["abandoned", "failed"]


def test_invalid_apprise_url_is_recorded_as_failed(store: Store) -> None:
    report = deliver(store, "x", "t", ["notaservice://whatever"])
    assert report.failed == 1
    assert (report.outcomes[0].error or "").startswith("not a valid Apprise URL")


def test_delivery_is_linked_to_the_latest_recorded_digest(store: Store, receiver: Receiver) -> None:
    with store.write() as con:
        digests.record(
            con,
            digest_id="dg1",
            generated_at=utcnow(),
            since=None,
            fmt="md",
            path=None,
            stories=1,
            articles=1,
        )
    deliver(store, "x", "t", [_url(receiver.port)])
    deliver(store, "y", "t", [_url(receiver.port)], digest_id="explicit")
    assert [
        r[0] for r in store.query("SELECT digest_id FROM core.deliveries ORDER BY created_at")
    ] == [
        "dg1",
        "explicit",
    ]


def test_redaction_masks_passwords_tokens_and_paths() -> None:
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    for url, secrets in [
        (_url(8080), [SECRET_PASSWORD, SECRET_TOKEN]),
        (slack, ["T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ"]),
        ("mailtos://alerts:mailpw123@mail.example.org?to=analyst@example.org", ["mailpw123"]),
    ]:
        shown = redact_url(url)
        message = redact_text(f"could not reach {url} ({secrets[-1]})", url)
        for secret in secrets:
            assert secret not in shown and secret not in message
    assert redact_url("mailtos://alerts:mailpw123@mail.example.org").startswith(
        "mailtos://alerts:****@"
    )
