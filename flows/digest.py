"""The digest flow: write a digest since the previous one, publish it as an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.logs import forward_library_logs
from monitor.digest import write_digest
from monitor.pipeline import open_store
from monitor.settings import load_settings


@task(cache_policy=NO_CACHE)
def write_digest_task(config: str | None, db: str | None, fmt: str | None) -> dict[str, Any]:
    """Write the digest file (and its markdown twin for the artifact)."""
    settings = load_settings(Path(config) if config else None, db=Path(db) if db else None)
    store = open_store(settings)
    chosen = fmt or settings.digest.format
    out_dir = settings.digest.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    result = write_digest(store, since="last", fmt=chosen, out=None)  # type: ignore[arg-type]
    stamp = result.generated_at.strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"digest-{stamp}.{chosen}"
    path.write_text(result.text, encoding="utf-8")
    return {
        "path": str(path),
        "stories": result.stories,
        "articles": result.articles,
        "markdown": result.markdown,
    }


@flow(name="digest")
def digest_flow(
    config: str | None = None, db: str | None = None, fmt: str | None = None
) -> dict[str, Any]:
    """Write a digest since the previous one and publish it as a Prefect markdown artifact."""
    forward_library_logs()
    info = write_digest_task(config, db, fmt)
    create_markdown_artifact(key="digest", markdown=info["markdown"], description=info["path"])
    get_run_logger().info(
        "digest %s: %d stories, %d articles", info["path"], info["stories"], info["articles"]
    )
    return {k: v for k, v in info.items() if k != "markdown"}


if __name__ == "__main__":
    digest_flow()
