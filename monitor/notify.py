"""Delivery of digests to Apprise URLs (e-mail, Slack, Matrix, webhooks ...).

Every delivery is a row of `core.deliveries` before anything is sent, so nothing is lost
silently: a failed (or interrupted) delivery stays `failed` (or `pending`) and is re-sent
first on the next call, to the configured URL with the same hash. A delivery whose URL has
left the configuration, or that failed `max_attempts` times, becomes `abandoned` with the
reason logged and stored.

Apprise URLs carry secrets (passwords, tokens, webhook paths). Only a redacted form and a
hash are stored or logged, and while sending, the `apprise` and `urllib3` loggers (which
log full request URLs at debug level) are captured here and redacted instead of
propagating to the application's handlers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

import apprise

from monitor.store import Store, digests, utcnow

log = logging.getLogger(__name__)

Status = Literal["pending", "sent", "failed", "abandoned"]
DEFAULT_MAX_ATTEMPTS = 10
_CAPTURED_LOGGERS = ("apprise", "urllib3")
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one delivery in this call."""

    delivery_id: str
    url: str  # redacted
    status: Status
    attempts: int
    error: str | None
    retried: bool


@dataclass
class DeliveryReport:
    """All deliveries attempted by one deliver() call, retries first."""

    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """Deliveries that succeeded in this call."""
        return sum(1 for o in self.outcomes if o.status == "sent")

    @property
    def failed(self) -> int:
        """Deliveries that failed in this call (to be retried next time)."""
        return sum(1 for o in self.outcomes if o.status == "failed")

    @property
    def abandoned(self) -> int:
        """Deliveries given up in this call (URL removed, or too many attempts)."""
        return sum(1 for o in self.outcomes if o.status == "abandoned")

    @property
    def retried(self) -> int:
        """Earlier deliveries re-sent in this call."""
        return sum(1 for o in self.outcomes if o.retried)

    @property
    def ok(self) -> bool:
        """True when nothing failed or was abandoned."""
        return self.failed == 0 and self.abandoned == 0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.sent} sent, {self.failed} failed (will retry), {self.abandoned} abandoned, "
            f"{self.retried} retried from earlier runs"
        )


def url_hash(url: str) -> str:
    """Stable hash identifying an Apprise URL without storing it."""
    return hashlib.sha256(url.strip().encode("utf-8")).hexdigest()[:24]


def redact_url(url: str) -> str:
    """A display form of an Apprise URL: scheme, user and host, secrets and path masked."""
    text = url.strip()
    with _captured_library_logs():  # Apprise logs the URL it parses
        try:
            plugin = apprise.Apprise.instantiate(text, suppress_exceptions=True)
        except Exception:  # Apprise raises plugin-specific errors on odd input
            plugin = None
        if plugin is not None:
            text = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
    parts = urlsplit(text)
    if not parts.scheme:
        return "<unparseable url>"
    if plugin is None:  # not a URL Apprise knows: nothing about it is safe to show
        return f"{parts.scheme}://…"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:****@{host}" if user else host
    path = "/…" if parts.path.strip("/") else "/"
    return f"{parts.scheme}://{netloc}{path}"


def _secret_fragments(url: str) -> list[str]:
    """Pieces of the URL that are not in its redacted form: these must never be printed."""
    shown = set(re.split(r"[/:@?&=#,+]+", redact_url(url)))
    pieces: set[str] = set()
    for token in re.split(r"[/:@?&=#,+]+", url.strip()):
        for variant in (token, unquote(token)):
            if len(variant) >= 3 and variant not in shown and not variant.isdigit():
                pieces.add(variant)
    parts = urlsplit(url.strip())
    for secret in (parts.password, parts.path.strip("/")):
        if secret and len(secret) >= 3:
            pieces.add(secret)
            pieces.add(unquote(secret))
    return sorted(pieces, key=len, reverse=True)


def redact_text(text: str, url: str) -> str:
    """Remove every secret piece of the URL from a message."""
    for piece in _secret_fragments(url):
        text = text.replace(piece, "***")
    return text


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _captured_library_logs() -> Iterator[_Capture]:
    """Keep Apprise's and urllib3's (URL-bearing) log records away from the app's handlers."""
    capture = _Capture()
    saved = []
    for name in _CAPTURED_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.level))
        logger.addHandler(capture)
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        for logger, propagate, level in saved:
            logger.removeHandler(capture)
            logger.propagate = propagate
            logger.setLevel(level)


def send(url: str, title: str, body: str) -> str | None:
    """Send one Markdown message to one Apprise URL; None on success, else a redacted error."""
    with _captured_library_logs() as capture:
        asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
        client = apprise.Apprise(asset=asset)
        try:
            if not client.add(url):
                error: str | None = "not a valid Apprise URL"
            elif client.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN):
                error = None
            else:
                error = "delivery failed"
        except Exception as exc:  # a plugin bug must not stop the other deliveries
            error = f"{type(exc).__name__}: {exc}"
    if error is None:
        return None
    details = [r.getMessage() for r in capture.records if r.levelno >= logging.WARNING] or [
        r.getMessage() for r in capture.records if "xception" in r.getMessage()
    ][-1:]
    message = "; ".join([error, *details]) if details else error
    return redact_text(message, url)[:_MAX_ERROR_CHARS]


def deliver(
    store: Store,
    digest_text: str,
    title: str,
    urls: list[str],
    *,
    digest_id: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> DeliveryReport:
    """Re-send earlier failed deliveries, then send this digest to every URL; record all."""
    by_hash = {url_hash(u): u for u in urls if u.strip()}
    report = DeliveryReport()
    now = utcnow()
    if digest_id is None:
        with store.read() as con:
            last = digests.latest(con)
        digest_id = last.digest_id if last else None

    fresh = [
        digests.NewDelivery(uuid.uuid4().hex[:16], h, redact_url(u)) for h, u in by_hash.items()
    ]
    with store.write() as con:
        earlier = digests.waiting_deliveries(con)
        digests.add_deliveries(
            con, fresh, digest_id=digest_id, title=title, body=digest_text, now=now
        )

    queue = [(d.delivery_id, d.url_hash, d.url_redacted, d.attempts, True) for d in earlier] + [
        (d.delivery_id, d.url_hash, d.url_redacted, 0, False) for d in fresh
    ]
    for delivery_id, h, redacted, attempts, retried in queue:
        url = by_hash.get(h)
        if url is None:
            reason = "URL no longer configured"
            _finish(store, delivery_id, "abandoned", attempts, reason, counted=False)
            log.warning("abandoned digest delivery %s to %s: %s", delivery_id, redacted, reason)
            report.outcomes.append(
                DeliveryOutcome(delivery_id, redacted, "abandoned", attempts, reason, retried)
            )
            continue
        body_title = _body(store, delivery_id) if retried else (title, digest_text)
        error = send(url, body_title[0], body_title[1])
        attempts += 1
        if error is None:
            status: Status = "sent"
            log.info("delivered digest to %s (attempt %d)", redacted, attempts)
        elif attempts >= max_attempts:
            status = "abandoned"
            log.error(
                "gave up delivering digest to %s after %d attempts: %s", redacted, attempts, error
            )
        else:
            status = "failed"
            log.warning(
                "digest delivery to %s failed (attempt %d, will retry next run): %s",
                redacted,
                attempts,
                error,
            )
        _finish(store, delivery_id, status, attempts, error, counted=True)
        report.outcomes.append(
            DeliveryOutcome(delivery_id, redacted, status, attempts, error, retried)
        )
    if report.outcomes:
        log.info("digest delivery: %s", report.summary())
    return report


def _body(store: Store, delivery_id: str) -> tuple[str, str]:
    with store.read() as con:
        return digests.delivery_message(con, delivery_id)


def _finish(
    store: Store,
    delivery_id: str,
    status: Status,
    attempts: int,
    error: str | None,
    *,
    counted: bool,
) -> None:
    with store.write() as con:
        digests.finish_delivery(
            con,
            delivery_id,
            status=status,
            attempts=attempts,
            error=error,
            attempted=counted,
            now=utcnow(),
        )


def pending_deliveries(store: Store) -> list[tuple[str, str, str, int, str | None]]:
    """Deliveries waiting for a retry: (delivery_id, redacted url, status, attempts, error)."""
    with store.read() as con:
        waiting = digests.waiting_deliveries(con)
    return [(d.delivery_id, d.url_redacted, d.status, d.attempts, d.last_error) for d in waiting]


__all__: Sequence[str] = (
    "DeliveryOutcome",
    "DeliveryReport",
    "deliver",
    "pending_deliveries",
    "redact_text",
    "redact_url",
    "send",
    "url_hash",
)
