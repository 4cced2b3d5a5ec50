"""The reader's guards: who may connect, which forms count, what a page may load.

bind      loopback only, unless a token is given (`check_bind`)
token     with --token, every request carries it: `?token=` once (it becomes a cookie and
          the URL is cleaned), the cookie, or an `X-Monitor-Token` / `Authorization: Bearer`
          header
hosts     on loopback, only loopback Host headers (a DNS-rebinding page gets 400)
csrf      every POST carries its form's token: an HMAC of a per-browser cookie and the
          form's path under a per-process secret; a POST from another origin is refused
headers   a strict Content-Security-Policy (scripts and styles only from /static, no inline
          script or style, no plugin, no framing, forms post only here), no referrer to other
          sites, nosniff
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from monitor.errors import ConfigError

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser posts forms with "Origin: null".
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TOKEN_COOKIE = "monitor_token"
CSRF_COOKIE = "monitor_csrf"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def is_loopback(host: str) -> bool:
    """Whether a bind address only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """ConfigError unless the address is loopback or a token guards it."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--host {host} is reachable from other machines: give --token T to require a "
            "token (or bind 127.0.0.1)"
        )
    if token is not None and len(token) < 8:
        raise ConfigError("--token must be at least 8 characters")


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class Guard:
    """The token, CSRF and header middleware of one reader process."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.secret = secrets.token_bytes(32)

    def csrf_token(self, browser: str, path: str) -> str:
        """The token a form posting to `path` carries, for this browser."""
        mac = hmac.new(self.secret, f"{browser}|{path}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def csrf_ok(self, request: Request, given: str | None) -> bool:
        """Whether a POST carries its form's token and comes from this origin."""
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            return False  # another site's page posting here (a "null" origin included)
        browser = request.cookies.get(CSRF_COOKIE)
        if not browser or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(browser, request.url.path))

    def _authorised(self, request: Request) -> bool:
        assert self.token is not None
        header = request.headers.get("x-monitor-token")
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        return any(
            _same(v, self.token) for v in (request.cookies.get(TOKEN_COOKIE), header, bearer)
        )

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Check the token, give the browser its CSRF cookie, add the security headers."""
        if self.token is not None:
            given = request.query_params.get("token")
            if given is not None and _same(given, self.token):
                if request.method == "GET" and request.url.path != "/feed.atom":
                    # Into a cookie, out of the address bar (and of history and referrers).
                    query = request.url.remove_query_params("token").query
                    target = request.url.path + (f"?{query}" if query else "")
                    response: Response = RedirectResponse(target, status_code=303)
                    self._set_token_cookie(response)
                    return self._secure(response)
            elif not self._authorised(request):
                return self._secure(
                    PlainTextResponse(
                        "a token is required: open the reader's address with ?token=...",
                        status_code=401,
                    )
                )
        browser = request.cookies.get(CSRF_COOKIE)
        fresh = None
        # Pages only: a page's script and styles load in parallel, and each would otherwise
        # set a cookie of its own over the one its page's forms were signed with.
        if not browser and not request.url.path.startswith(("/static/", "/feed.atom")):
            fresh = browser = secrets.token_urlsafe(24)
        request.state.browser = browser or ""
        response = await call_next(request)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE, fresh, httponly=True, samesite="strict", max_age=365 * 86400
            )
        return self._secure(response)

    def _set_token_cookie(self, response: Response) -> None:
        assert self.token is not None
        response.set_cookie(
            TOKEN_COOKIE, self.token, httponly=True, samesite="strict", max_age=30 * 86400
        )

    @staticmethod
    def _secure(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
