"""Source health: how fetching each configured source has gone, when it is next due, and what a
run's failures come to, counted by reason for a person to read.

A source that fails backs off exponentially (`fetch.failure_backoff_s`, doubled per consecutive
failure, at most a week) and is disabled after `fetch.disable_after_failures`; one that answers
waits at least its `min_interval_s`, or what its cache headers ask (at most six hours). The
state is written by `save_fetch_state` after the articles a run found are stored, so a crash in
between refetches rather than loses an article.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.models import CacheEntry, FetchRecord
from monitor.settings import Settings, SourceSettings
from monitor.store import Store, utcnow
from monitor.store import fetches as fetch_state
from monitor.store.fetches import SourceRow

MAX_FAILURE_BACKOFF_S = 7 * 24 * 3600.0
MAX_CACHE_AGE_S = 6 * 3600.0


@dataclass(frozen=True)
class SourceHealth:
    """One configured source and how fetching it has gone."""

    name: str
    kind: str
    url: str
    enabled: bool
    state: str  # due | waiting | backing off | disabled | off
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    next_due_at: datetime | None = None
    last_status: int | None = None
    last_error_kind: str | None = None
    last_cutoff: str | None = None


@dataclass(frozen=True)
class SourceUpdate:
    """The health row to write for one source after this run."""

    name: str
    kind: str
    url: str
    ok: bool
    error: str | None
    status: int | None
    max_age_s: float | None = None
    error_kind: str | None = None
    cutoff: str | None = None  # what this run's discovery left unread (a limit it hit)


@dataclass(frozen=True)
class Outcomes:
    """What collecting came to, counted by reason for a person to read (`monitor run`)."""

    sources_failed: dict[str, int]
    sources_not_due: dict[str, int]
    pages_failed: dict[str, int]


def failure_reason(kind: str | None, error: str | None) -> str:
    """A short reason to count failures by: 'cannot resolve host', 'HTTP 404', 'timed out' ..."""
    text = (error or "").lower()
    if kind == "FetchConnection":
        if "cannot resolve" in text:
            return "cannot resolve host"
        if "refused" in text:
            return "connection refused"
        if "timed out" in text or "timeout" in text:
            return "timed out"
        if "redirects" in text:
            return "too many redirects"
        return "connection failed"
    if kind == "FetchHTTPStatus":
        return (error or "HTTP error").split(";")[0]
    if kind == "FetchBlocked":
        if "robots.txt" in text:
            return "robots.txt"
        if "non-public address" in text:
            return "private address"
        return "blocked"
    reasons = {
        "FetchTimeout": "timed out",
        "FetchTooLarge": "too large",
        "FetchUnsupported": "not a page",
        "FetchInvalidURL": "bad URL",
        "ParseError": "unreadable",
        "ExtractError": "worker failed" if "worker failed" in text else "no article text",
    }
    return reasons.get(kind or "", kind or "failed")


def _count(reasons: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def outcomes(
    updates: Sequence[SourceUpdate],
    records: Sequence[FetchRecord],
    source_urls: Collection[str],
    not_due: Mapping[str, int],
) -> Outcomes:
    """Failed sources and pages by reason, and the sources not due, from one collect."""
    failed = [failure_reason(u.error_kind, u.error) for u in updates if not u.ok]
    pages = [
        failure_reason(r.error_kind, r.error)
        for r in records
        if r.outcome == "error" and r.url not in source_urls
    ]
    return Outcomes(_count(failed), dict(not_due), _count(pages))


# -- source health ------------------------------------------------------------------------------


def _health(
    src: SourceSettings, row: SourceRow | None, settings: Settings, now: datetime
) -> SourceHealth:
    if row is None or row.url != src.url:  # never fetched, or the URL changed: start afresh
        return SourceHealth(
            src.name, src.kind, src.url, src.enabled, "due" if src.enabled else "off"
        )
    failures = row.consecutive_failures
    next_due = row.next_due_at
    if not src.enabled:
        state = "off"
    elif failures >= settings.fetch.disable_after_failures:
        state = "disabled"
    elif next_due is not None and next_due > now:
        state = "backing off" if failures else "waiting"
    else:
        state = "due"
    return SourceHealth(
        src.name,
        src.kind,
        src.url,
        src.enabled,
        state,
        row.last_fetch_at,
        row.last_success_at,
        row.last_error,
        failures,
        next_due,
        row.last_status,
        row.last_error_kind,
        row.last_cutoff,
    )


def source_health(store: Store, settings: Settings) -> list[SourceHealth]:
    """Every configured source with its last fetch, last error, failures and next due time."""
    rows: dict[str, SourceRow] = {}
    if store.path.exists():
        with store.read() as con:
            rows = fetch_state.source_rows(con)
    now = utcnow()
    return [_health(src, rows.get(src.name), settings, now) for src in settings.sources]


def _next_due(
    update: SourceUpdate,
    failures: int,
    src: SourceSettings | None,
    settings: Settings,
    now: datetime,
) -> datetime:
    if not update.ok:
        backoff = settings.fetch.failure_backoff_s * (2 ** max(failures - 1, 0))
        return now + timedelta(seconds=min(backoff, MAX_FAILURE_BACKOFF_S))
    interval = src.min_interval_s if src else 0.0
    if update.max_age_s:
        interval = max(interval, min(update.max_age_s, MAX_CACHE_AGE_S))
    return now + timedelta(seconds=interval)


def save_fetch_state(
    store: Store,
    settings: Settings,
    cache: Mapping[str, CacheEntry],
    updates: Sequence[SourceUpdate],
) -> None:
    """Write HTTP validators and source health in one short transaction (after storing)."""
    if not cache and not updates:
        return
    now = utcnow()
    by_name = {s.name: s for s in settings.sources}
    with store.write() as con:
        fetch_state.save_validators(con, dict(cache), now)
        old = fetch_state.source_rows(con)
        rows = []
        for update in updates:
            prev = old.get(update.name)
            same = prev is not None and prev.url == update.url
            failures = 0 if update.ok else (prev.consecutive_failures if same and prev else 0) + 1
            last_success = now if update.ok else (prev.last_success_at if same and prev else None)
            rows.append(
                SourceRow(
                    update.name,
                    update.kind,
                    update.url,
                    now,
                    last_success,
                    None if update.ok else update.error,
                    failures,
                    _next_due(update, failures, by_name.get(update.name), settings, now),
                    update.status,
                    None if update.ok else update.error_kind,
                    update.cutoff,
                )
            )
        fetch_state.save_sources(con, rows)
