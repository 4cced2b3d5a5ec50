"""The digest flow: write a digest since the previous one, publish it, deliver it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.logs import forward_library_logs
from monitor.digest import build_digest, render_digest, save_digest
from monitor.notify import deliver, pending_deliveries
from monitor.pipeline import open_store
from monitor.settings import Settings, load_settings


def _settings(config: str | None, db: str | None) -> Settings:
    return load_settings(Path(config) if config else None, db=Path(db) if db else None)


@task(cache_policy=NO_CACHE)
def write_digest_file(config: str | None, db: str | None, fmt: str | None) -> dict[str, Any]:
    """Build the digest since the previous one, write it to the digest folder, record it."""
    settings = _settings(config, db)
    store = open_store(settings)
    digest = build_digest(store, since="last")
    chosen = fmt or settings.digest.format
    out = settings.digest.out_dir / f"digest-{digest.generated_at:%Y%m%d-%H%M%S}.{chosen}"
    result = save_digest(store, digest, fmt=chosen, out=out)  # type: ignore[arg-type]
    return {
        "path": str(result.path),
        "digest_id": digest.digest_id,
        "stories": len(digest.stories),
        "new_articles": digest.overview.new_articles,
        "empty": digest.is_empty,
        "markdown": render_digest(digest, "md"),
        "title": f"Iraq troop monitor digest {digest.generated_at:%Y-%m-%d}",
    }


# No Prefect retries: deliver() never raises; a failed delivery is recorded and sent again first
# on the next digest run (notify.py).
@task(cache_policy=NO_CACHE)
def deliver_digest(config: str | None, db: str | None, info: dict[str, Any]) -> str:
    """Send the digest to the configured Apprise URLs; failures are recorded and retried."""
    settings = _settings(config, db)
    if not settings.notify.urls:
        return "no [notify] urls configured"
    store = open_store(settings)
    if info["empty"] and not pending_deliveries(store):
        return "nothing new to deliver"
    report = deliver(
        store, info["markdown"], info["title"], settings.notify.urls, digest_id=info["digest_id"]
    )
    return report.summary()


@flow(name="digest")
def digest_flow(
    config: str | None = None, db: str | None = None, fmt: str | None = None
) -> dict[str, Any]:
    """Write a digest since the previous one, publish it as an artifact and deliver it."""
    forward_library_logs()
    logger = get_run_logger()
    info = write_digest_file(config, db, fmt)
    create_markdown_artifact(key="digest", markdown=info["markdown"], description=info["path"])
    delivery = deliver_digest(config, db, info)
    logger.info(
        "digest %s: %d stories, %d new articles; delivery: %s",
        info["path"],
        info["stories"],
        info["new_articles"],
        delivery,
    )
    return {k: v for k, v in info.items() if k != "markdown"} | {"delivery": delivery}


if __name__ == "__main__":
    digest_flow()
