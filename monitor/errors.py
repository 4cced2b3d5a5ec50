"""The one error tree of the monitor.

Callers catch a class, never a message string::

    MonitorError
    ├── ConfigError            bad config file, unknown key, wrong type, bad URL
    ├── StoreError             database cannot be opened / migrated / written
    │   ├── StoreMissing       a reader found no database file (readers never create one)
    │   ├── StoreOutdated      a reader found a database that still needs migrating
    │   └── StoreLocked        another process held the DuckDB lock for too long
    │       ├── RunLocked      another ingest run holds this database's run lock
    │       └── ServeLocked    another `monitor serve` is serving this database
    ├── QueryRefused           `monitor sql` refused a query: empty, several, or not a read
    ├── OutputError            an output file (`digest --out`) cannot be written
    ├── SeedError              one seed file is empty, binary, undecodable or oversized
    ├── FetchError             one URL could not be fetched
    │   ├── FetchTimeout
    │   ├── FetchHTTPStatus    final non-2xx/304 status (after retries)
    │   ├── FetchTooLarge      body over fetch.max_bytes (after decompression)
    │   ├── FetchBlocked       refused by policy: scheme, private address, robots.txt
    │   ├── FetchUnsupported   content type we do not extract (PDF, image, binary)
    │   ├── FetchConnection    DNS failure, refused, reset, too many redirects
    │   └── FetchInvalidURL    a link that cannot be parsed, normalised or resolved
    ├── ParseError             a feed, sitemap, API answer or page that will not parse
    ├── CutOff                 discovery stopped at a limit (child sitemaps, links per source)
    ├── ExtractError           a page with no extractable article text
    ├── LabelError             an analyst label that cannot be used (unknown article, bad value)
    └── SearchError            a search that cannot run: a bad query, no usable index
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration cannot be used; the message names the key."""


class StoreError(MonitorError):
    """The database cannot be opened, migrated or written."""


class StoreMissing(StoreError):
    """There is no database file where a read command looked."""


class StoreOutdated(StoreError):
    """The database lacks schema migrations; only an ingest run applies them."""


class StoreLocked(StoreError):
    """Another process kept the DuckDB file locked past the retry budget."""


class RunLocked(StoreLocked):
    """Another ingest run still holds the database's run lock; this run was not started."""


class ServeLocked(StoreLocked):
    """Another `monitor serve` holds the database's serve lock; this one did not start."""


class QueryRefused(MonitorError):
    """A user's query was refused before it ran: empty, several statements, or not a read."""


class OutputError(MonitorError):
    """An output file cannot be written where the user asked (a folder, no permission)."""


class SeedError(MonitorError):
    """A seed file cannot be read as an article."""


class FetchError(MonitorError):
    """A URL could not be fetched."""


class FetchTimeout(FetchError):
    """The server did not answer in time (after retries)."""


class FetchHTTPStatus(FetchError):
    """The final answer had an error status."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class FetchTooLarge(FetchError):
    """The body grew past the configured maximum size."""


class FetchBlocked(FetchError):
    """Policy refused the URL: scheme, private address or robots.txt."""


class FetchUnsupported(FetchError):
    """The content type is not something we extract (PDF, image, binary)."""


class FetchInvalidURL(FetchError):
    """A link that cannot be parsed, normalised or resolved: a bad port or IDNA name, an odd
    scheme, an ambiguous numeric host (octal, hex or short IPv4 forms)."""


class FetchConnection(FetchError):
    """Name resolution, connection, reset or redirect failure."""


class ParseError(MonitorError):
    """A feed, sitemap, API answer or page would not parse."""


class CutOff(MonitorError):
    """Discovery stopped at a limit; what lay beyond it was not read (recorded, never raised:
    the `error_kind` of a `skipped` fetch row and a source's `last_cutoff`)."""


class ExtractError(MonitorError):
    """A page yielded no article text."""


class LabelError(MonitorError):
    """An analyst's label names an unknown article or a value that is not a label."""


class SearchError(MonitorError):
    """A search cannot run: the query is unusable or the index is missing or broken."""
