"""Typed settings: packaged defaults (`defaults.toml`) with the user's partial file on top.

Parsed once per command and passed down; nothing is built at import time.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.errors import ConfigError

DEFAULT_DB = Path("data/monitor.duckdb")


log = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Section):
    """Where the DuckDB file lives and how long to wait for its lock."""

    db: Path = DEFAULT_DB
    lock_timeout_s: float = Field(default=60.0, ge=0)


class SeedSettings(_Section):
    """Folders of seed article files."""

    dirs: list[Path] = Field(default_factory=lambda: [Path("seeds")])
    max_bytes: int = Field(default=2_000_000, gt=0)


def check_url(value: str) -> str:
    """The value, if it is an http(s) URL with a host; else ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class SourceSettings(_Section):
    """One configured source of new articles."""

    name: str = Field(min_length=1)
    kind: Literal["feed", "sitemap", "gdelt", "url"]
    url: str
    enabled: bool = True
    min_interval_s: float = Field(default=0, ge=0)
    # A hint for pages that declare no language (the text decides: language.py).
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)?$")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)


class FetchSettings(_Section):
    """Politeness, limits and safety of HTTP fetching."""

    user_agent: str = (
        "iraq-troop-monitor/0.1 (+https://github.com/iraq-troop-monitor/iraq-troop-monitor)"
    )
    timeout_s: float = Field(default=20, gt=0)
    per_host_delay_s: float = Field(default=5, ge=0)
    max_bytes: int = Field(default=5_000_000, gt=0)
    allow_private_networks: bool = False
    # Hosts exempt from the private-address check (an intranet feed server, a test server).
    trusted_hosts: list[str] = Field(default_factory=list)
    concurrency: int = Field(default=8, ge=1)
    per_host_concurrency: int = Field(default=1, ge=1)
    max_retries: int = Field(default=3, ge=0)
    max_retry_delay_s: float = Field(default=60, ge=0)
    max_redirects: int = Field(default=5, ge=0)
    respect_robots: bool = True
    max_articles_per_source: int = Field(default=200, ge=1)
    # Child sitemaps read from one sitemap index source per run (its index chain included).
    max_child_sitemaps: int = Field(default=10, ge=0)
    failure_backoff_s: float = Field(default=300, ge=0)
    disable_after_failures: int = Field(default=20, ge=1)


def _check_cron(value: str) -> str:
    # Prefect's own rule (its vendored croniter): a valid expression, no random or hashed
    # fields, so what passes here is what `monitor serve` can schedule.
    if not croniter.is_valid(value) or any(f.casefold() in ("r", "h") for f in value.split()):
        raise ValueError(f"not a cron expression: {value!r} (e.g. '0 * * * *' for hourly)")
    return value


class ScheduleSettings(_Section):
    """Cron schedules for `monitor serve` and the prefect.yaml deployments."""

    ingest_cron: str = "0 * * * *"
    digest_cron: str = "0 7 * * *"
    timezone: str = "UTC"
    # The local Prefect server `monitor serve` starts when no PREFECT_API_URL is set listens
    # here (its UI too); a taken port falls back to a free one. 0: any free port.
    server_port: int = Field(default=4200, ge=0, le=65535)

    @field_validator("ingest_cron", "digest_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. 'UTC' or 'Asia/Baghdad')"
            ) from None
        return value


class DigestSettings(_Section):
    """Where scheduled digests are written."""

    out_dir: Path = Path("digests")
    format: Literal["md", "html", "json", "csv"] = "md"


class NotifySettings(_Section):
    """Apprise URLs that receive each scheduled digest."""

    urls: list[str] = Field(default_factory=list)


_APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.I)


class AlertMatch(_Section):
    """What a story must have for an alert: every list given (or the storyline) must match, one
    of its entries is enough; all empty: every new relevant story."""

    actors: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)
    event_types: list[str] = Field(default_factory=list)
    storyline: str = ""


class AlertSettings(_Section):
    """One `[[alerts]]` rule: new relevant stories that match it go to its Apprise URLs."""

    name: str = Field(min_length=1)
    match: AlertMatch = AlertMatch()
    urls: list[str] = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        # The shape only: Apprise itself (slow to load) checks each URL when it sends, and a
        # URL it does not know is recorded as a failed send (`monitor alerts` shows it).
        for number, url in enumerate(value, 1):
            if not _APPRISE_URL.match(url.strip()):  # not echoed: it may hold a password
                raise ValueError(f"URL {number} is not an Apprise URL (scheme://...)")
        return [url.strip() for url in value]


class ClassifySettings(_Section):
    """Classifier options."""

    taxonomy: Path | None = None
    # A retrained relevance model (`monitor train`); None: the packaged one.
    model: Path | None = None
    relevance_threshold: float = Field(default=0.5, ge=0, le=1)


class RunnerSettings(_Section):
    """How extraction fans out: local processes, or a Dask cluster."""

    task_runner: Literal["process", "dask"] = "process"
    workers: int | None = Field(default=None, ge=1)
    dask_address: str | None = None
    # Read, and ignored with a warning: `monitor run` no longer starts a Prefect API to keep.
    keep_api_minutes: float | None = Field(default=None, ge=0)


class Settings(_Section):
    """The whole configuration of one command."""

    storage: StorageSettings = StorageSettings()
    seeds: SeedSettings = SeedSettings()
    sources: list[SourceSettings] = Field(default_factory=list)
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    digest: DigestSettings = DigestSettings()
    notify: NotifySettings = NotifySettings()
    classify: ClassifySettings = ClassifySettings()
    runner: RunnerSettings = RunnerSettings()
    alerts: list[AlertSettings] = Field(default_factory=list)
    config_path: Path | None = None

    @field_validator("alerts")
    @classmethod
    def _alert_names(cls, value: list[AlertSettings]) -> list[AlertSettings]:
        names = [rule.name for rule in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"alert names must be unique: {', '.join(map(repr, twice))}")
        return value


def _packaged_defaults() -> dict[str, Any]:
    text = resources.files("monitor").joinpath("defaults.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def describe(error: ValidationError) -> str:
    """A validation error as one line naming each bad key (unknown keys said so)."""
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:
            # pydantic prefixes a validator's own message with "Value error, ".
            parts.append(f"{key}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def find_config(explicit: Path | None) -> Path | None:
    """The config file to use: --config, else $MONITOR_CONFIG, else ./monitor.toml if present."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    env = os.environ.get("MONITOR_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from $MONITOR_CONFIG)")
        return path
    local = Path("monitor.toml")
    return local if local.is_file() else None


def load_settings(
    config: Path | None = None,
    *,
    db: Path | None = None,
    seeds: list[Path] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Read packaged defaults, the user's config on top, then command-line overrides."""
    data = _packaged_defaults()
    path = find_config(config)
    if path is not None:
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        data = _merge(data, user)
    if overrides:
        data = _merge(data, overrides)
    if db is not None:
        data = _merge(data, {"storage": {"db": str(db)}})
    if seeds:
        data = _merge(data, {"seeds": {"dirs": [str(s) for s in seeds]}})
    data["config_path"] = str(path) if path else None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}{describe(exc)}") from exc
    if settings.runner.keep_api_minutes is not None:
        log.warning(
            "%s: runner.keep_api_minutes is ignored: `monitor run` runs in-process and starts "
            "no Prefect API any more; remove the key",
            path,
        )
    return settings
