"""`monitor alerts`: the `[[alerts]]` rules and what each has sent."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    TableFormat,
    clean_errors,
    console,
    jsonable,
    print_rows,
    print_table,
    settings_for,
    setup_logging,
    when,
)

SEND_COLUMNS = ["rule", "story_id", "title", "matched", "url", "status", "attempts", "last_error"]


@clean_errors
def alerts(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
    limit: Annotated[
        int, typer.Option("--limit", min=1, metavar="N", help="Sends shown per rule, newest first.")
    ] = 20,
) -> None:
    """The alert rules of the config ([[alerts]]) and what each has sent, newest first."""
    setup_logging(False)
    from monitor.alerts import overview
    from monitor.store import Store

    settings = settings_for(config, db)
    store = Store.existing(settings.storage)
    rules = overview(store, settings, limit=limit)
    if fmt is TableFormat.json:
        data = [
            {**asdict(r), "sends": [asdict(s) for s in r.sends]} | {"match": r.match} for r in rules
        ]
        for rule in data:
            for item in rule["sends"]:
                item.pop("url_hash")
                item["url"] = item.pop("url_redacted")
        sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
        return
    rows = [
        (s.rule, s.story_id, s.title, list(s.matched), s.url_redacted, s.status, s.attempts, err)
        for r in rules
        for s in r.sends
        for err in [s.last_error]
    ]
    if fmt is TableFormat.csv:
        print_rows(SEND_COLUMNS, rows, fmt)
        return
    if not rules:
        console.print(
            "No alert rules: add [[alerts]] to the config (see docs/operations.md#alerts)."
        )
        return
    print_table(
        ["rule", "matches", "sends to", "sent", "waiting", "abandoned"],
        [
            [
                r.name if r.configured else f"{r.name} (no longer configured)",
                r.match,
                "\n".join(r.urls),
                str(r.counts.get("sent", 0)),
                str(r.counts.get("pending", 0) + r.counts.get("failed", 0)),
                str(r.counts.get("abandoned", 0)),
            ]
            for r in rules
        ],
    )
    for r in rules:
        for problem in r.problems:
            console.print(f"{r.name}: {problem}", style="yellow")
    sends = [s for r in rules for s in r.sends]
    if not sends:
        console.print("Nothing sent yet.", style="dim")
        return
    print_table(
        ["when", "rule", "story", "to", "status", "why / error"],
        [
            [
                when(s.sent_at or s.created_at),
                s.rule,
                s.title.removeprefix(f"[{s.rule}] "),
                s.url_redacted,
                s.status if s.status == "sent" else f"{s.status} ({s.attempts} attempts)",
                s.last_error or "; ".join(s.matched),
            ]
            for s in sorted(
                sends, key=lambda s: s.sent_at or s.created_at or datetime.min, reverse=True
            )
        ],
    )
    console.print(
        f"{len(sends)} send(s) shown (at most {limit} per rule); every one: the alerts view "
        "in SQL, or --format json",
        style="dim",
    )
