"""Migration 0016 (released steps are never edited): alerts, and titles and outlets.

* `core.alert_rules` (each `[[alerts]]` rule as first seen: it alerts on stories seen since) and
  `core.alert_sends` (each story sent once per rule and URL, with its status), and the `alerts`
  view (monitor/alerts.py).
* `core.articles.title_source` (monitor/titles.py) and the `articles` view's column of it.
  Stored articles are brought up to the rules of monitor/titles.py: a title with the site's
  name around it loses it, an uninformative one ("Iraq", "Video", "Shafaq News - Washington")
  or none gives way to one made from the text's lead (`lead`), an outlet that is a domain is
  written as a host, and an outlet taken from a feed gives way to the page's own name where
  the stored page has one. Every story's representative, and so its title, is chosen again.
"""

from __future__ import annotations

import logging
import zlib

import duckdb

log = logging.getLogger(__name__)

SQL = """
CREATE TABLE core.alert_rules (name VARCHAR PRIMARY KEY, first_seen_at TIMESTAMP NOT NULL);
CREATE TABLE core.alert_sends (
    rule VARCHAR NOT NULL,
    story_id VARCHAR NOT NULL,
    url_hash VARCHAR NOT NULL,      -- sha256 of the Apprise URL; the URL is never stored
    url_redacted VARCHAR NOT NULL,  -- secrets masked, for display
    title VARCHAR NOT NULL,
    body VARCHAR NOT NULL,          -- kept so that a failed send is sent again as it was
    matched VARCHAR[] NOT NULL,     -- what of the story matched the rule
    status VARCHAR NOT NULL,        -- pending | sent | failed | abandoned
    attempts INTEGER NOT NULL,
    last_error VARCHAR,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    PRIMARY KEY (rule, story_id, url_hash)
);
CREATE VIEW alerts AS
    SELECT rule, story_id, title, matched, url_redacted AS url, status, attempts, last_error,
           created_at, sent_at
    FROM core.alert_sends;

-- metadata | feed | text | lead (monitor/titles.py); NULL: stored before, not recorded.
ALTER TABLE core.articles ADD COLUMN title_source VARCHAR;
"""


def backfill(con: duckdb.DuckDBPyConnection) -> None:
    """The articles view's `title_source`; stored titles, outlets and story titles redone."""
    _view_with_title_source(con)
    _titles(con)
    _outlets(con)
    from monitor.store import stories
    from monitor.store.connection import utcnow

    ids = [r[0] for r in con.execute("SELECT story_id FROM core.stories").fetchall()]
    stories.refresh(con, ids, utcnow())


def _view_with_title_source(con: duckdb.DuckDBPyConnection) -> None:
    # The view's current query is kept whole, as 0011 does: what other steps put in stays.
    row = con.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = 'main' AND view_name = 'articles' "
        "AND database_name = current_database()"
    ).fetchone()
    head = "CREATE VIEW articles AS "
    sql = str(row[0]).strip().rstrip(";") if row else ""
    if not sql.startswith(head):
        raise duckdb.CatalogException(f"migration 0016: unexpected articles view: {sql[:60]!r}")
    con.execute(
        "CREATE OR REPLACE VIEW articles AS SELECT v.*, t.title_source "
        f"FROM ({sql[len(head) :]}) AS v "
        "LEFT JOIN core.articles AS t ON t.article_id = v.article_id"
    )


def _titles(con: duckdb.DuckDBPyConnection) -> None:
    from monitor.store import bulk
    from monitor.titles import clean_title, lead_title
    from monitor.urls import host_of

    changed: dict[str, list[str | None]] = {"article_id": [], "title": [], "title_source": []}
    rows = con.execute(
        "SELECT article_id, title, outlet, url, left(text, 2000) FROM core.articles"
    ).fetchall()
    for article_id, title, outlet, url, text in rows:
        cleaned = clean_title(title, [outlet, host_of(url)])
        if cleaned is not None and cleaned == title:
            continue
        changed["article_id"].append(article_id)
        changed["title"].append(cleaned or lead_title(text, [outlet, host_of(url)]))
        changed["title_source"].append(None if cleaned else "lead")
    if changed["article_id"]:
        bulk.execute(
            con,
            "UPDATE core.articles a SET title = c.title, title_source = c.title_source "
            "FROM {rows} c WHERE a.article_id = c.article_id",
            {k: bulk.strings(v) for k, v in changed.items()},
        )
    log.info("migration 0016: %d of %d titles redone", len(changed["article_id"]), len(rows))


def _outlets(con: duckdb.DuckDBPyConnection) -> None:
    from monitor.store import bulk
    from monitor.titles import as_host, outlet_name

    rows = con.execute(
        "SELECT a.article_id, a.outlet, a.outlet_source, a.url, p.html_zlib FROM core.articles a "
        "LEFT JOIN core.raw_pages p USING (article_id) WHERE a.outlet IS NOT NULL"
    ).fetchall()
    ids, outlets, sources = [], [], []
    for article_id, outlet, how, url, html_zlib in rows:
        name, source = outlet_name(outlet), how
        if how == "feed" and html_zlib is not None:
            own = _site_name(zlib.decompress(html_zlib), url)
            if own and not as_host(own):
                name, source = own, "metadata"
        if (name, source) != (outlet, how):
            ids.append(article_id)
            outlets.append(name)
            sources.append(source)
    if ids:
        bulk.execute(
            con,
            "UPDATE core.articles a SET outlet = c.outlet, outlet_source = c.outlet_source "
            "FROM {rows} c WHERE a.article_id = c.article_id",
            {"article_id": ids, "outlet": outlets, "outlet_source": bulk.strings(sources)},
        )
    log.info("migration 0016: %d outlets renamed", len(ids))


def _site_name(html: bytes, url: str) -> str | None:
    """The page's own name for itself (og:site_name, JSON-LD publisher), as extraction reads it."""
    from trafilatura.utils import load_html

    from monitor.extract import decode_html, page_metadata
    from monitor.titles import outlet_name

    try:
        tree = load_html(decode_html(html)[0])
        return outlet_name(page_metadata(tree, url).sitename) if tree is not None else None
    except Exception:  # a stored page that no longer parses keeps its outlet
        return None
