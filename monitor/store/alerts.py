"""Alerts: `core.alert_rules` (each `[[alerts]]` rule as first seen) and `core.alert_sends` (each
story sent per rule and URL, with its status), and what matching a rule reads of a story."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.store import bulk
from monitor.store.connection import Connection

WAITING = ("pending", "failed")


@dataclass
class StoryFacts:
    """What an alert rule is matched against, and what its message says, of one story."""

    story_id: str
    title: str
    first_published_at: datetime | None
    outlets: list[str]
    storyline_id: str | None = None
    storyline_title: str | None = None
    actors: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)
    reports: list[tuple[str | None, str | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Send:
    """One story sent (or to be sent) to one URL of one rule."""

    rule: str
    story_id: str
    url_hash: str
    url_redacted: str
    title: str
    body: str
    matched: tuple[str, ...]
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None


def register_rules(con: Connection, names: Sequence[str], now: datetime) -> dict[str, datetime]:
    """When each rule was first seen (now, for a rule seen for the first time)."""
    bulk.insert(
        con,
        "core.alert_rules",
        {"name": list(names), "first_seen_at": [now] * len(names)},
        on_conflict="ON CONFLICT DO NOTHING",
    )
    rows = con.execute("SELECT name, first_seen_at FROM core.alert_rules").fetchall()
    return {name: at for name, at in rows if name in set(names)}


def latest_run_start(con: Connection) -> datetime | None:
    """When the latest ingest run started."""
    row = con.execute("SELECT max(started_at) FROM core.runs").fetchone()
    return row[0] if row else None


def new_relevant_stories(con: Connection, since: datetime) -> dict[str, datetime]:
    """Stories first seen since then with a relevant report, and when, oldest first."""
    rows = con.execute(
        "SELECT s.story_id, s.created_at FROM core.stories s WHERE s.created_at >= ? AND EXISTS ("
        "SELECT 1 FROM articles a WHERE a.story_id = s.story_id AND a.relevant) "
        "ORDER BY s.created_at, s.story_id",
        [since],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def sent_pairs(con: Connection, story_ids: Sequence[str]) -> set[tuple[str, str]]:
    """The (rule, story) pairs among these stories that have sends already."""
    rows = bulk.select(
        con,
        "SELECT DISTINCT rule, story_id FROM core.alert_sends "
        "WHERE story_id IN (SELECT story_id FROM {rows})",
        {"story_id": list(story_ids)},
    )
    return {(r[0], r[1]) for r in rows}


def story_facts(con: Connection, story_ids: Sequence[str]) -> dict[str, StoryFacts]:
    """Title, outlets, storyline, actors, event types, texts and reports of these stories."""
    if not story_ids:
        return {}
    ids = {"story_id": list(story_ids)}
    facts = {
        r[0]: StoryFacts(r[0], r[1] or "", r[2], list(r[3] or []), r[4], r[5])
        for r in bulk.select(
            con,
            "SELECT s.story_id, s.title, s.first_published_at, s.outlets, s.storyline_id, "
            "l.title FROM stories s LEFT JOIN storylines l USING (storyline_id) "
            "WHERE s.story_id IN (SELECT story_id FROM {rows})",
            ids,
        )
    }
    for story_id, title, text, outlet, url, topics in bulk.select(
        con,
        "SELECT story_id, title, text, outlet, url, topics FROM articles "
        "WHERE story_id IN (SELECT story_id FROM {rows}) "
        "ORDER BY duplicate_of IS NOT NULL, published_at NULLS LAST, first_seen_at, article_id",
        ids,
    ):
        story = facts[story_id]
        story.texts.append(f"{title or ''}\n{text}")
        story.reports.append((outlet, title, url))
        story.event_types.update(topics or [])
    for story_id, name in bulk.select(
        con,
        "SELECT DISTINCT a.story_id, e.name FROM entities e JOIN articles a USING (article_id) "
        "WHERE a.story_id IN (SELECT story_id FROM {rows})",
        ids,
    ):
        facts[story_id].actors.add(name)
    return facts


def add_sends(con: Connection, sends: Sequence[Send], now: datetime) -> None:
    """Record new sends as pending, before anything is sent."""
    bulk.insert(
        con,
        "core.alert_sends",
        {
            "rule": [s.rule for s in sends],
            "story_id": [s.story_id for s in sends],
            "url_hash": [s.url_hash for s in sends],
            "url_redacted": [s.url_redacted for s in sends],
            "title": [s.title for s in sends],
            "body": [s.body for s in sends],
            "matched": [list(s.matched) for s in sends],
            "status": ["pending"] * len(sends),
            "attempts": [0] * len(sends),
            "created_at": [now] * len(sends),
        },
        on_conflict="ON CONFLICT DO NOTHING",
    )


_COLUMNS = (
    "rule, story_id, url_hash, url_redacted, title, body, matched, status, attempts, "
    "last_error, created_at, sent_at"
)


def _send(row: tuple[Any, ...]) -> Send:
    rule, story_id, h, redacted, title, body, matched, status, attempts, error, at, sent = row
    return Send(
        rule,
        story_id,
        h,
        redacted,
        title,
        body,
        tuple(matched or ()),
        status,
        attempts,
        error,
        at,
        sent,
    )


def waiting(con: Connection) -> list[Send]:
    """Sends not yet made (pending) or that failed, oldest first."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM core.alert_sends WHERE status IN {WAITING} "
        "ORDER BY created_at, rule, story_id"
    ).fetchall()
    return [_send(r) for r in rows]


def finish(
    con: Connection, send: Send, *, status: str, attempts: int, error: str | None, now: datetime
) -> None:
    """Record how a send went."""
    con.execute(
        "UPDATE core.alert_sends SET status = ?, attempts = ?, last_error = ?, "
        "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
        "WHERE rule = ? AND story_id = ? AND url_hash = ?",
        [status, attempts, error, status, now, send.rule, send.story_id, send.url_hash],
    )


def sends(con: Connection, limit: int | None = None) -> list[Send]:
    """Every send, the newest first (the latest `limit`)."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM core.alert_sends "
        "ORDER BY coalesce(sent_at, created_at) DESC, rule, story_id"
        + (f" LIMIT {int(limit)}" if limit is not None else "")
    ).fetchall()
    return [_send(r) for r in rows]


def counts(con: Connection) -> dict[str, dict[str, int]]:
    """Sends by rule and status."""
    out: dict[str, dict[str, int]] = {}
    for rule, status, n in con.execute(
        "SELECT rule, status, count(*) FROM core.alert_sends GROUP BY rule, status"
    ).fetchall():
        out.setdefault(rule, {})[status] = int(n)
    return out
