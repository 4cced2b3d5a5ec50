"""The connection layer of fetching: an httpx client whose every connection goes through
`GuardedBackend`, which resolves the host itself and refuses one with any non-public address
(private, loopback, link-local, reserved, multicast) unless `fetch.allow_private_networks` is
true or the host is in `fetch.trusted_hosts`. The addresses checked are the addresses connected
to, so a name that resolves to a public address for a check and to a private one for the
connection (DNS rebinding) cannot pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from monitor.errors import FetchBlocked, FetchConnection, FetchError
from monitor.settings import FetchSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to (an IP literal resolves to itself), in order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpx's network backend, resolving each host itself: it refuses a host with any
    non-public address (unless private networks are allowed or the host is trusted) and
    connects to exactly the addresses it checked.

    Resolutions are kept for the client's lifetime (one run), failures too, so an
    unreachable host costs one lookup.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolve: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.settings = settings
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolved: dict[str, list[str] | FetchError] = {}
        self._trusted = {h.lower() for h in settings.trusted_hosts}

    async def _addresses(self, host: str, port: int) -> list[str]:
        found = self._resolved.get(host)
        if found is None:
            try:
                found = await asyncio.wait_for(
                    self._resolve(host, port), timeout=self.settings.timeout_s
                )
            except (OSError, TimeoutError) as exc:
                found = FetchConnection(f"cannot resolve {host}: {exc}")
            if not isinstance(found, FetchError) and not found:
                found = FetchConnection(f"cannot resolve {host}: no address")
            if isinstance(found, list) and not (
                self.settings.allow_private_networks or host.lower() in self._trusted
            ):
                private = [a for a in found if not is_public_address(a)]
                if private:
                    found = FetchBlocked(
                        f"{host} resolves to non-public address {private[0]} "
                        "(set fetch.allow_private_networks or fetch.trusted_hosts to allow)"
                    )
            self._resolved[host] = found
        if isinstance(found, FetchError):
            raise type(found)(str(found))
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first of the host's checked addresses that answers."""
        failure: Exception | None = None
        for address in await self._addresses(host.strip("[]"), port):
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        refused = failure is not None and "refused" in _chain_text(failure)
        reason = "connection refused" if refused else f"cannot connect: {failure}"
        raise FetchConnection(f"{host}:{port}: {reason}") from failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: the fetcher talks TCP only."""
        raise FetchBlocked("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does."""
        await self._inner.sleep(seconds)


def _chain_text(exc: BaseException) -> str:
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append(str(seen).lower())
        if isinstance(seen, ConnectionRefusedError):
            parts.append("refused")
        seen = seen.__cause__ or seen.__context__
    return " ".join(parts)


def guarded_transport(
    settings: FetchSettings, backend: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's transport with `GuardedBackend` as its network backend."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(
            max_connections=settings.concurrency,
            max_keepalive_connections=settings.concurrency,
        ),
        trust_env=False,
    )
    # httpx takes no network backend, but its pool (httpcore) does: give it ours.
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # pragma: no cover - an httpx we do not know
        raise RuntimeError("httpx's transport has no network backend to guard")
    pool._network_backend = backend or GuardedBackend(settings)
    return transport


def build_client(
    settings: FetchSettings, *, backend: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncClient:
    """An AsyncClient configured from the fetch settings (redirects are followed by the Fetcher),
    whose connections go through `GuardedBackend` (or the backend given, for tests)."""
    return httpx.AsyncClient(
        transport=guarded_transport(settings, backend),
        headers={
            "User-Agent": settings.user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,"
            "application/rss+xml,application/atom+xml,application/json;q=0.8,*/*;q=0.5",
        },
        timeout=httpx.Timeout(settings.timeout_s),
        follow_redirects=False,
        trust_env=False,
    )


def is_public_address(address: str) -> bool:
    """True when an IP address is globally routable (not private, loopback, link-local ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
