"""URLs: the one key under which every spelling of a page's address is the same page.

`url_key` is used wherever the monitor asks "have we got this page?": by collect before fetching
(a link already stored is not fetched again) and by dedup (two articles with one key are copies).
It is courlan's normalisation (lower-cased host, default port dropped, query sorted, courlan's
tracker list removed) plus what news links add: the tracking parameters feeds and social buttons
append (`ocid`, `smid`, `cmpid` ...), the fragment, `www.`/`m.`/`amp.` hosts and AMP paths, the
scheme and a trailing slash. Query parameters that are not known trackers are kept: a page
addressed as `news.php?id=123` is not `news.php?id=124`.

`clean_url` is the milder form stored as an article's canonical URL: still a working address.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from courlan import normalize_url

_TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gclsrc|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl|"
    r"ref|ref_src|cmpid|ocid|smid|smtyp|soc_src|soc_trk|taid|at_medium|at_campaign|"
    r"at_custom\d*|output|outputtype|amp|__twitter_impression|sr_share|"
    r"icid|intcmp|ito|xtor|s_cid|ns_\w+|wt_\w+|emc|et_rid|et_cid)$",
    re.I,
)
_AMP_SUFFIX = re.compile(r"(?:[./-]amp(?:\.html?)?)$", re.I)
_HOST_PREFIXES = ("www.", "amp.", "m.", "mobile.")


def _normalised(url: str) -> str:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        return str(normalize_url(url, strict=False, trailing_slash=False))
    return url


def _query_without_trackers(query: str) -> str:
    pairs = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if not _TRACKING_PARAMS.match(name)
    ]
    return urlencode(sorted(pairs))


_DOTTED_QUAD = re.compile(
    r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
)
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+))*\.?$", re.I)
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$", re.I)


def why_unfetchable(url: str) -> str | None:
    """Why a link cannot be fetched as it is written, or None when it can.

    Refused: other schemes than http(s), no host, a bad port, credentials in the URL, a host
    that is not a valid (IDNA) name, and numeric hosts in any form but the dotted quad (octal
    `0177.0.0.1`, hex `0x7f.1`, short `127.1`, whole `2130706433`): parsers read those
    differently, which is how such links slip past address checks.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    host = parts.hostname or ""
    if not host:
        return "URL has no host"
    if port == 0:
        return "invalid URL: port 0"
    if "@" in parts.netloc or "\\" in parts.netloc:
        return "credentials or a backslash in the URL's host part"
    if host.startswith("[") or ":" in host:  # IPv6: urlsplit checked the brackets
        return None
    shown = host if len(host) <= 80 else host[:77] + "..."
    if _NUMERIC_HOST.match(host):
        if _DOTTED_QUAD.match(host):
            return None
        return f"ambiguous numeric host {shown!r} (octal, hex or short IPv4 form)"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        return f"invalid host name {shown!r}: {exc}"
    if not all(_HOST_LABEL.match(label) for label in ascii_host.rstrip(".").split(".")):
        return f"invalid host name {shown!r}"
    return None


def url_key(url: str) -> str:
    """One key for every spelling of a page's URL: no trackers, AMP, www, fragment, scheme.

    A URL that cannot be parsed is its own key (it is recorded as a failed fetch, not lost)."""
    try:
        return _key(url.strip())
    except ValueError:
        return url.strip()


def _key(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    parts = urlsplit(_normalised(url))
    host = (parts.hostname or "").lower()
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s and s.lower() not in ("amp", "amp.html")]
    if segments:
        segments[-1] = _AMP_SUFFIX.sub("", segments[-1]) or segments[-1]
    path = "/" + "/".join(segments)
    return urlunsplit(("https", host, path, _query_without_trackers(parts.query), ""))


def clean_url(url: str) -> str:
    """The URL without tracking parameters and fragment, still a working address (a URL that
    cannot be parsed is kept as it is)."""
    try:
        parts = urlsplit(_normalised(url.strip()))
    except ValueError:
        return url.strip()
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path, _query_without_trackers(parts.query), "")
    )


def canonical_url(declared: str | None, url: str) -> str:
    """The page's rel=canonical when it is a plausible article URL, else the cleaned URL."""
    if declared:
        parts = urlsplit(declared)
        page = urlsplit(url)
        plausible = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            # A canonical pointing at a site's home page would merge every article into one.
            and (parts.path.strip("/") != "" or page.path.strip("/") == "")
        )
        if plausible:
            return clean_url(declared)
    return clean_url(url)


def host_of(url: str) -> str | None:
    """The host name without `www.`, or None for a URL without one (seed:...)."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host or None
