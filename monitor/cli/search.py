"""`monitor search QUERY`: ranked full-text search over titles and texts, English and Arabic."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from monitor.cli.common import (
    ConfigOpt,
    DbOpt,
    TableFormat,
    clean_errors,
    console,
    err_console,
    print_rows,
    settings_for,
    setup_logging,
    when,
)

COLUMNS = [
    "rank",
    "article_id",
    "score",
    "published_at",
    "outlet",
    "language",
    "title",
    "snippet",
    "matches",
    "url",
    "story_id",
    "relevant",
    "stance",
    "copies",
]


@clean_errors
def search(
    query: Annotated[
        str,
        typer.Argument(
            help='Words (all must match), "a phrase", OR between alternatives, -word to '
            "exclude, word* for a prefix. Arabic spellings and word forms are matched loosely."
        ),
    ],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Results to show.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many first.")] = 0,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Make the search index again from scratch first.")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Search titles and texts, best match first, with the matching words marked."""
    setup_logging(False)
    from monitor.search import ensure_index, reading_store, rebuild_index, run_search
    from monitor.store import Store

    settings = settings_for(config, db)
    store = Store.existing(settings.storage)
    if rebuild:
        done = rebuild_index(store)
        if done is not None:
            err_console.print(
                f"search index rebuilt: {done.total} articles in {done.seconds:.1f}s",
                highlight=False,
            )
    index = ensure_index(store)
    found = run_search(index, reading_store(store).read, query, limit=limit, offset=offset)
    if fmt is not TableFormat.table:
        rows = [
            (
                found.offset + n,
                r.article_id,
                round(r.score, 4),
                r.published_at,
                r.outlet,
                r.language,
                r.title_text,
                r.snippet_text,
                sorted({p.text for p in (*r.title, *r.snippet) if p.hit}),
                r.url,
                r.story_id,
                r.relevant,
                r.stance,
                r.copies,
            )
            for n, r in enumerate(found.results, 1)
        ]
        print_rows(COLUMNS, rows, fmt)
        return
    for n, r in enumerate(found.results, found.offset + 1):
        head = Text(f"{n}. ", style="bold")
        for piece in r.title:
            head.append(piece.text, style="bold reverse" if piece.hit else "bold")
        console.print(head, soft_wrap=True)
        meta = [r.outlet, when(r.published_at)[:10] or "undated", r.article_id]
        if r.copies:
            meta.append(f"{r.copies} cop{'y' if r.copies == 1 else 'ies'}")
        console.print("   " + " · ".join(meta), style="dim", soft_wrap=True)
        body = Text("   ")
        for piece in r.snippet:
            body.append(piece.text, style="reverse" if piece.hit else "")
        console.print(body, soft_wrap=True)
    shown = len(found.results)
    more = f"; --offset {found.offset + shown} for more" if shown == limit else ""
    console.print(f"{found.total} matching article(s), {shown} report(s) shown{more}", style="dim")
