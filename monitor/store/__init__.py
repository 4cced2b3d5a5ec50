"""DuckDB storage: every SQL statement of the monitor lives in this package.

    connection   the file: brief connections, locking and retries, create/migrate vs. read
    migrations   ordered, named schema steps (guarded against duplicates), `pending()`
    bulk         the one bulk path: Arrow tables for multi-row inserts, id lists and joins
    articles     articles, raw pages, classifications (entities, quotes, figures), decisions
    fetches      the fetch log, HTTP validators, source health
    signatures   MinHash signatures and LSH band buckets (near-duplicate lookups)
    stories      stories, their features, the term index, document frequencies, spans
    runs         ingest runs
    digests      digests written and their deliveries, and what a digest reads
    labels       analysts' labels (kept apart from classifications) and the texts they label

Base tables live in schema `core`; users query the views in `main` (docs/schema.md). The
stages (dedup, stories, classify ...) never see a connection: the pipeline asks these modules
for what a stage needs and writes back what it decided.
"""

from __future__ import annotations

from monitor.store.connection import Connection, Store, first_line, utcnow

__all__ = ["Connection", "Store", "first_line", "utcnow"]
