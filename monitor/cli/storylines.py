"""`monitor storylines` and `monitor storyline`: the threads of the issue, and an analyst's
decisions about them."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    FormatOpt,
    TableFormat,
    clean_errors,
    console,
    err_console,
    existing_store,
    print_records,
    print_table,
    when,
)
from monitor.errors import ConfigError


@clean_errors
def list_storylines(
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """The threads of the issue across months and years, the most recently active first."""
    from monitor.store import storylines as storyline_store

    _, store = existing_store(config, db)
    with store.read() as con:
        lines = storyline_store.summaries(con)
    if fmt is not TableFormat.table:
        print_records(lines, fmt, storyline_store.Summary)
        return
    print_table(
        ["storyline", "title", "from", "to", "stories", "articles", "outlets"],
        [
            [
                line.storyline_id,
                line.title,
                when(line.first_published_at)[:10],
                when(line.last_published_at)[:10],
                str(line.story_count),
                str(line.article_count),
                str(len(line.outlets)),
            ]
            for line in lines
        ],
    )
    console.print(
        f"{len(lines)} storyline(s); `monitor storyline ID` shows one as a timeline", style="dim"
    )


class StorylineFormat(StrEnum):
    table = "table"
    md = "md"
    json = "json"
    html = "html"


_STORYLINE_ACTIONS = ("rename", "merge", "split", "detach")


@clean_errors
def storyline(
    args: Annotated[
        list[str],
        typer.Argument(
            help="ID (show it), or: rename ID TITLE · merge ID OTHER (OTHER continues as ID) · "
            "split ID STORY_ID... (those stories become a storyline of their own) · "
            "detach STORY_ID... (they stand alone)",
            metavar="ID | ACTION ...",
        ),
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: Annotated[
        StorylineFormat, typer.Option("--format", help="Output format (showing a storyline).")
    ] = StorylineFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the storyline to this file.")
    ] = None,
) -> None:
    """One storyline as a timeline, or an analyst's decision about storylines (recorded)."""
    _, store = existing_store(config, db)
    if args[0] in _STORYLINE_ACTIONS:
        console.print(_storyline_action(store, args[0], args[1:]), highlight=False, markup=False)
        return
    if len(args) != 1:
        raise ConfigError(f"unknown storyline action {args[0]!r} ({', '.join(_STORYLINE_ACTIONS)})")
    from monitor.digest.storyline import build_storyline, render_storyline

    view = build_storyline(store, args[0])
    if fmt is StorylineFormat.table:
        _print_storyline_table(view)
        return
    text = render_storyline(view, fmt.value)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
    else:
        from monitor.digest.save import write_file

        write_file(out, text)
        err_console.print(f"Wrote {out}.", highlight=False)


def _storyline_action(store: Any, action: str, args: list[str]) -> str:
    from monitor import curation

    if action == "rename":
        if len(args) < 2:
            raise ConfigError("usage: monitor storyline rename ID TITLE")
        target = curation.rename(store, args[0], " ".join(args[1:]))
        return f"Renamed storyline {target}."
    if action == "merge":
        if len(args) != 2:
            raise ConfigError("usage: monitor storyline merge ID OTHER")
        moved = curation.merge(store, args[0], args[1])
        return f"Merged {args[1]} into {args[0]}: {moved} story(ies) moved."
    if action == "split":
        if len(args) < 2:
            raise ConfigError("usage: monitor storyline split ID STORY_ID...")
        new_id = curation.split(store, args[0], args[1:])
        return f"Split {len(args) - 1} story(ies) off {args[0]} into storyline {new_id}."
    if not args:
        raise ConfigError("usage: monitor storyline detach STORY_ID...")
    return f"Detached {curation.detach(store, args)} story(ies): they stand alone."


def _print_storyline_table(view: Any) -> None:
    s = view.summary
    console.print(
        f"{s.title}\n{s.storyline_id} · {when(s.first_published_at)[:10]} to "
        f"{when(s.last_published_at)[:10]} · {s.story_count} story(ies) · "
        f"{s.article_count} articles · {len(s.outlets)} outlets",
        highlight=False,
        markup=False,
    )
    rows = []
    for t in view.stories:
        mix = t.row.stance_mix
        rows.append(
            [
                when(t.row.first_published_at)[:10] or "undated",
                t.row.title,
                t.row.origin_outlet or "",
                str(t.row.article_count),
                str(mix["for_withdrawal"]),
                str(mix["against_withdrawal"]),
                str(mix["neutral"]),
                t.status,
            ]
        )
    print_table(
        ["date", "story", "first in", "articles", "for", "against", "neutral", "new?"], rows
    )
    since = f"since the previous digest ({when(view.since)})" if view.since else "no digest yet"
    console.print(
        f"{view.new_stories} new, {view.grown_stories} grown {since}", style="dim", highlight=False
    )
