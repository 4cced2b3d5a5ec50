"""Alerts: after each ingest run, each new relevant story that matches an `[[alerts]]` rule is
sent once, through Apprise, to each of the rule's URLs.

    [[alerts]]
    name = "Ain al-Asad"
    match = { actors = ["Kataib Hezbollah"], words = ["Ain al-Asad", "عين الأسد"] }
    urls = ["mailtos://user:pass@example.org"]

A story is *new* for a rule when the monitor first saw it (`core.stories.created_at`) at most
NEW_FOR_DAYS before the run, and not before the run in which the rule first appeared: adding a
rule does not send the archive. It *matches* when every part of `match` that is given matches
(one entry of a list is enough): `actors`, an actor the classifier found in one of its reports
(its canonical name, spelling and case aside) or the name written in one; `words`, a word or
phrase in a report's title or text (whole words, any case; in Arabic also after the attached
prepositions و ف ب ل ك and with hamza, alef and ta marbuta forms folded); `event_types`, one of
its reports' event types (`topics`); `storyline`, its storyline's id or title. An empty `match`
takes every new relevant story.

Every send is a row of `core.alert_sends` (the `alerts` view) before it is sent, keyed by rule,
story and URL, so a story is sent once per URL: a failed (or interrupted) send stays `failed`
(`pending`) and is retried first on the next run; after notify.DEFAULT_MAX_ATTEMPTS attempts, or
once its URL has left the rule, it is `abandoned`. As for digests (monitor/notify.py), only a
redacted form and a hash of each URL are stored.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from monitor.notify import DEFAULT_MAX_ATTEMPTS, redact_url, send, url_hash
from monitor.settings import AlertSettings, Settings
from monitor.store import Store, utcnow
from monitor.store import alerts as alert_store
from monitor.store.alerts import Send, StoryFacts

log = logging.getLogger(__name__)

NEW_FOR_DAYS = 7
MAX_REPORTS_LISTED = 5

_ARABIC = re.compile(r"[\u0600-\u06ff]")
_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # and tatweel
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و"})
_GAP = r"[\s\-\u2010-\u2015'’]+"


def fold(text: str) -> str:
    """Text as words are compared: NFKC, case folded, Arabic marks and letter forms folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if _ARABIC.search(text):
        text = _MARKS.sub("", text).translate(_FOLD)
    return text


def word_pattern(word: str) -> re.Pattern[str] | None:
    """The pattern of one of a rule's words (on folded text): a whole word or phrase, spaces
    and hyphens alike, and in Arabic after up to two attached prepositions (و ف ب ل ك)."""
    pieces = [re.escape(p) for p in re.split(_GAP, fold(word).strip()) if p]
    if not pieces:
        return None
    prefix = "[وفبلك]{0,2}" if _ARABIC.search(word) else ""
    return re.compile(f"(?<!\\w){prefix}{_GAP.join(pieces)}(?!\\w)")


def _patterns(words: Sequence[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((w, p) for w in words if (p := word_pattern(w)) is not None)


def _key(name: str) -> str:
    return re.sub(r"[\W_]+", "", fold(name))


@dataclass(frozen=True)
class Rule:
    """A `[[alerts]]` rule, ready to match stories."""

    settings: AlertSettings
    words: tuple[tuple[str, re.Pattern[str]], ...]
    actor_words: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def of(cls, rule: AlertSettings) -> Rule:
        """The rule with its word patterns compiled."""
        return cls(rule, _patterns(rule.match.words), _patterns(rule.match.actors))

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.settings.name

    def matched(self, story: StoryFacts, texts: Sequence[str]) -> tuple[str, ...] | None:
        """What of the story matched each part of the rule that is given (`texts`: its
        reports' titles and texts, folded); None when a part did not match."""
        match = self.settings.match
        why: list[str] = []
        if match.actors:
            keys = {_key(a) for a in story.actors}
            found = [a for a in match.actors if _key(a) in keys]
            found = found or _found(self.actor_words, texts)
            if not found:
                return None
            why.append("actors: " + ", ".join(found))
        if match.words:
            found = _found(self.words, texts)
            if not found:
                return None
            why.append("words: " + ", ".join(found))
        if match.event_types:
            found = [t for t in match.event_types if t in story.event_types]
            if not found:
                return None
            why.append("event types: " + ", ".join(found))
        if match.storyline:
            wanted = match.storyline.strip()
            title = (story.storyline_title or "").strip()
            if wanted != story.storyline_id and fold(wanted) != fold(title):
                return None
            why.append(f"storyline: {title or story.storyline_id}")
        return tuple(why)


def _found(patterns: Sequence[tuple[str, re.Pattern[str]]], texts: Sequence[str]) -> list[str]:
    return [word for word, p in patterns if any(p.search(t) for t in texts)]


def message(rule: Rule, story: StoryFacts, why: Sequence[str]) -> tuple[str, str]:
    """An alert's title and Markdown body."""
    from monitor.digest.render import md_escape, safe_href

    title = f"[{rule.name}] {story.title}"
    when = f"{story.first_published_at:%Y-%m-%d}" if story.first_published_at else "undated"
    lines = [
        f"**{md_escape(story.title)}**",
        "",
        f"{when} · {len(story.reports)} report(s)"
        + (f" · {md_escape(', '.join(story.outlets))}" if story.outlets else ""),
        f"Matched {md_escape(rule.name)}: {md_escape('; '.join(why) or 'every new story')}",
        "",
    ]
    for outlet, headline, url in story.reports[:MAX_REPORTS_LISTED]:
        text = md_escape(f"{outlet or 'unknown outlet'}: {headline or url}")
        href = safe_href(url)
        lines.append(f"- [{text}](<{href}>)" if href else f"- {text}")
    if len(story.reports) > MAX_REPORTS_LISTED:
        lines.append(f"- and {len(story.reports) - MAX_REPORTS_LISTED} more")
    return title, "\n".join(lines)


@dataclass(frozen=True)
class AlertReport:
    """What one alerts step sent."""

    sent: int = 0
    failed: int = 0
    abandoned: int = 0
    retried: int = 0

    def line(self) -> str:
        """One line for logs."""
        return (
            f"alerts: {self.sent} sent, {self.failed} failed (retried next run), "
            f"{self.abandoned} abandoned, {self.retried} retried from earlier runs"
        )


def send_new(store: Store, settings: Settings) -> AlertReport:
    """Retry the sends that failed before, then send each new matching story once per URL."""
    rules = [Rule.of(r) for r in settings.alerts]
    urls = {r.name: {url_hash(u): u for u in r.settings.urls} for r in rules}
    with store.write() as con:
        earlier = alert_store.waiting(con)
        run_start = alert_store.latest_run_start(con) or utcnow()
        first_seen = alert_store.register_rules(con, [r.name for r in rules], run_start)
    outcomes = [_attempt(store, s, urls.get(s.rule, {}).get(s.url_hash)) for s in earlier]
    if rules:
        window = run_start - timedelta(days=NEW_FOR_DAYS)
        since = max(window, min(first_seen.values()))
        with store.read_write() as con:
            new = alert_store.new_relevant_stories(con, since)
            done = alert_store.sent_pairs(con, list(new))
            facts = alert_store.story_facts(con, list(new))
        fresh: list[Send] = []
        for story_id, created_at in new.items():
            story = facts[story_id]
            texts = [fold(t) for t in story.texts]
            for rule in rules:
                if created_at < first_seen[rule.name] or (rule.name, story_id) in done:
                    continue
                why = rule.matched(story, texts)
                if why is None:
                    continue
                title, body = message(rule, story, why)
                fresh += [
                    Send(rule.name, story_id, h, redact_url(u), title, body, why)
                    for h, u in urls[rule.name].items()
                ]
        if fresh:
            with store.write() as con:
                alert_store.add_sends(con, fresh, utcnow())
        outcomes += [_attempt(store, s, urls[s.rule][s.url_hash]) for s in fresh]
    report = AlertReport(
        sent=outcomes.count("sent"),
        failed=outcomes.count("failed"),
        abandoned=outcomes.count("abandoned"),
        retried=len(earlier),
    )
    if outcomes:
        log.info("%s", report.line())
    return report


def _attempt(store: Store, item: Send, url: str | None) -> str:
    """Send one alert (or abandon it) and record the outcome; its status."""
    attempts, error = item.attempts, None
    if url is None:
        status, error = "abandoned", "URL no longer configured for this rule"
    else:
        error = send(url, item.title, item.body)
        attempts += 1
        if error is None:
            status = "sent"
        else:
            status = "abandoned" if attempts >= DEFAULT_MAX_ATTEMPTS else "failed"
    if status != "sent":
        log.warning(
            "alert %r for story %s to %s %s: %s",
            item.rule,
            item.story_id,
            item.url_redacted,
            "failed (retried next run)" if status == "failed" else "abandoned",
            error,
        )
    with store.write() as con:
        alert_store.finish(con, item, status=status, attempts=attempts, error=error, now=utcnow())
    return status


@dataclass(frozen=True)
class RuleOverview:
    """A rule as `monitor alerts` shows it: what it matches, where it sends, what it sent."""

    name: str
    match: str
    urls: tuple[str, ...]  # redacted
    configured: bool
    counts: dict[str, int]
    sends: tuple[Send, ...]
    problems: tuple[str, ...]


def describe(rule: AlertSettings) -> str:
    """A rule's match in one line."""
    m = rule.match
    parts = [
        f"{label}: {', '.join(values)}"
        for label, values in (
            ("actors", m.actors),
            ("words", m.words),
            ("event types", m.event_types),
            ("storyline", [m.storyline] if m.storyline else []),
        )
        if values
    ]
    return "; ".join(parts) or "every new relevant story"


def problems(rule: AlertSettings, event_types: set[str]) -> list[str]:
    """What in a rule can never work: URLs Apprise does not know, event types no one has."""
    import apprise

    out = [f"unknown event type {t!r}" for t in rule.match.event_types if t not in event_types]
    for number, url in enumerate(rule.urls, 1):
        if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
            out.append(f"URL {number} ({redact_url(url)}) is not a URL Apprise can send to")
    return out


def overview(store: Store, settings: Settings, *, limit: int = 20) -> list[RuleOverview]:
    """The configured rules, and rules no longer configured that sent before, with their sends
    (the latest `limit` of each) and their counts by status."""
    from monitor.classify import Classifier

    known = {t.name for t in Classifier.configured(settings).taxonomy.topics}
    with store.read() as con:
        counts = alert_store.counts(con)
        every = alert_store.sends(con)
    out = [
        RuleOverview(
            rule.name,
            describe(rule),
            tuple(redact_url(u) for u in rule.urls),
            True,
            counts.get(rule.name, {}),
            tuple(s for s in every if s.rule == rule.name)[:limit],
            tuple(problems(rule, known)),
        )
        for rule in settings.alerts
    ]
    configured = {rule.name for rule in settings.alerts}
    for name in sorted(set(counts) - configured):
        sends = tuple(s for s in every if s.rule == name)[:limit]
        out.append(RuleOverview(name, "", (), False, counts[name], sends, ()))
    return out
