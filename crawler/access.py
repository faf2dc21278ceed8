"""Through a site's door: what each request carries and how it connects.

``Access`` turns the configuration into what the fetcher's session needs:

- **headers** (``-H``) on every request to the crawl's scope, never to other hosts;
  ``--user-agent`` wins over an ``-H 'User-Agent: …'`` only when both are given;
- **credentials** (``--user``, or userinfo written in a seed) as basic auth, and
  ``--cookie`` cookies, to the seed origins only: a redirect that leaves them drops both;
- **the cookie jar**: on by default (aiohttp's ``CookieJar``, the RFC's domain and path
  rules; IP-address hosts allowed), started from ``--load-cookies`` and written to
  ``--save-cookies`` when the crawl ends (``crawler.cookiefile``);
- **proxies**: ``--proxy``, else ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` and
  ``NO_PROXY`` (either case) as curl reads them; SOCKS through the ``socks`` extra;
- **TLS**: verification on, ``--insecure`` off (one warning), ``--ca-bundle`` trusted
  besides the system's CAs, ``--client-cert`` / ``--client-key`` for mutual TLS;
- **the connector**: ``--resolve`` entries and the private-network guard
  (``crawler.netguard``), which judges every address connected to, after DNS.

Secrets stay here: no method logs a header value, a cookie, a password or a proxy's
credentials, and the proxy is named redacted.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import ssl
import urllib.request
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from crawler.access_options import PROXY_SCHEMES, parse_resolve, redact_url
from crawler.cookiefile import load_cookies, save_cookies
from crawler.errors import ConfigError
from crawler.netguard import AddressGuard
from crawler.urls import host_of, origin_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp.abc import AbstractCookieJar, ResolveResult

    from crawler.config import CrawlConfig
    from crawler.scope import Scope

__all__ = ["Access", "OpenScope"]

log = logging.getLogger(__name__)

SOCKS_SCHEMES: Final = tuple(s for s in PROXY_SCHEMES if s.startswith("socks"))
ENV_PROXIES: Final = ("http", "https", "all", "no")
"""The ``*_proxy`` environment variables read (either case), ``no_proxy`` last."""


class Access:
    """The door of one crawl (see the module docstring).

    Args:
        config: The crawl's configuration.
        scope: The crawl's scope: where headers go, and which origins are the seeds'.
    """

    def __init__(self, config: CrawlConfig, scope: Scope | OpenScope) -> None:
        self._config = config
        self._scope = scope
        self.guard = AddressGuard(
            allow_private=config.allow_private, is_seed_host=scope.is_seed_host
        )
        self._headers = {n: v for n, v in config.headers if n.lower() != "user-agent"}
        self._auth = None if config.auth is None else _basic(*config.auth)
        self._cookie = "; ".join(f"{n}={v}" for n, v in config.cookies)
        read_env = config.proxy is None and config.trust_env  # once, not on every request
        self._env = {s: p for s in ENV_PROXIES if read_env and (p := _env_proxy(s))}
        self._proxy = config.proxy or self._env.get("all")

    def headers(self, url: str) -> dict[str, str]:
        """Return the extra headers of a request to ``url`` (credentials included)."""
        if not (self._headers or self._auth or self._cookie):
            return {}
        host = host_of(url)
        headers = dict(self._headers) if self._scope.in_scope(url, host) else {}
        if self._scope.is_seed_origin(origin_of(url), host):
            if self._auth is not None:
                headers["Authorization"] = self._auth
            if self._cookie:
                headers["Cookie"] = self._cookie  # aiohttp adds the jar's cookies to these
        return headers

    def proxy(self, url: str) -> str | None:
        """Return the HTTP(S) proxy for ``url``, ``None`` for a direct (or SOCKS) connection."""
        if self._config.proxy is not None:
            return None if self._socks else self._config.proxy
        proxy = self._env.get(urlsplit(url).scheme) or self._env.get("all")
        if proxy is None or _is_socks(proxy) or _bypassed(url, self._env):
            return None
        return proxy

    @property
    def _socks(self) -> bool:
        return self._proxy is not None and _is_socks(self._proxy)

    def connector(self, *, limit: int, ttl_dns_cache: int) -> aiohttp.BaseConnector:
        """Return the session's connector: TLS, ``--resolve``, the guard, SOCKS."""
        options: dict[str, Any] = {
            "limit": limit,
            "limit_per_host": 0,
            "ttl_dns_cache": ttl_dns_cache,
            "ssl": self._ssl(),
            "resolver": _Resolver(self._config, self.guard, self._scope.is_seed_host),
            "socket_factory": self.guard.socket,
        }
        if self._socks:
            assert self._proxy is not None
            try:
                from aiohttp_socks import ProxyConnector
            except ImportError:
                raise ConfigError(
                    "a SOCKS proxy needs the socks extra: pip install 'crawler[socks]'"
                ) from None
            log.info("connecting through %s", redact_url(self._proxy))
            scheme, _, rest = self._proxy.partition("://")
            remote_dns = scheme.endswith(("h", "a"))  # socks5h, socks4a: the proxy resolves
            return ProxyConnector.from_url(
                f"{scheme.rstrip('ha')}://{rest}", rdns=remote_dns, **options
            )
        return aiohttp.TCPConnector(**options)

    def cookie_jar(self) -> AbstractCookieJar:
        """Return the crawl's cookie jar, started from ``load_cookies``."""
        if not self._config.use_cookies:
            return aiohttp.DummyCookieJar()
        jar = aiohttp.CookieJar(unsafe=True)  # keep the cookies of IP-address hosts too
        if self._config.load_cookies is not None:
            count = load_cookies(self._config.load_cookies, jar)
            log.info("%d cookies loaded from %s", count, self._config.load_cookies)
        return jar

    def keep_cookies(self, jar: AbstractCookieJar) -> None:
        """Write the jar to ``save_cookies``, if asked (the crawl ends, however it ends)."""
        if self._config.save_cookies is not None:
            count = save_cookies(self._config.save_cookies, jar)
            log.info("%d cookies saved to %s", count, self._config.save_cookies)

    def _ssl(self) -> ssl.SSLContext | bool:
        config = self._config
        if config.insecure:
            log.warning("TLS certificates are not verified (--insecure)")
            return False
        if config.ca_bundle is None and config.client_cert is None:
            return True
        context = ssl.create_default_context()
        try:
            if config.ca_bundle is not None:
                context.load_verify_locations(cafile=config.ca_bundle)
            if config.client_cert is not None:
                context.load_cert_chain(config.client_cert, config.client_key)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror or exc.reason if isinstance(exc, ssl.SSLError) else exc
            raise ConfigError(f"TLS files: {reason or exc}") from None
        return context


class OpenScope:
    """The scope of a fetcher used on its own: every URL in it, every host a seed's."""

    def in_scope(self, url: str, host: str) -> bool:
        """Always."""
        return True

    def is_seed_origin(self, origin: str, host: str) -> bool:
        """Always."""
        return True

    def is_seed_host(self, host: str) -> bool:
        """Always: the guard allows what it connects to, but link-local and never."""
        return True


class _Resolver(AbstractResolver):
    """``--resolve`` entries first, then DNS; a seed host's addresses open the guard, and
    a proxy's addresses are trusted (the crawl connects to its proxy, wherever it is)."""

    def __init__(
        self, config: CrawlConfig, guard: AddressGuard, is_seed_host: Callable[[str], bool]
    ) -> None:
        self._fixed = {(h, p): a for h, p, a in map(parse_resolve, config.resolve)}
        self._guard = guard
        self._is_seed_host = is_seed_host
        self._proxy_hosts = _proxy_hosts(config)
        guard.trust(self._proxy_hosts)  # a proxy written as an address
        self._dns = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        fixed = self._fixed.get((host.lower(), port))
        if fixed is not None:
            kind = socket.AF_INET6 if ":" in fixed else socket.AF_INET
            found: list[ResolveResult] = [
                {"hostname": host, "host": fixed, "port": port, "family": kind,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}
            ]  # fmt: skip
        else:
            found = await self._dns.resolve(host, port, family)
        if host.lower() in self._proxy_hosts:
            self._guard.trust(r["host"] for r in found)
        elif self._is_seed_host(host):
            self._guard.allow_seeds(r["host"] for r in found)
        return found

    async def close(self) -> None:
        await self._dns.close()


def _proxy_hosts(config: CrawlConfig) -> set[str]:
    """The hosts of the proxies this crawl may use (given, or from the environment)."""
    proxies = [config.proxy] if config.proxy else []
    if config.proxy is None and config.trust_env:
        proxies += [p for s in ENV_PROXIES[:-1] if (p := _env_proxy(s))]
    return {(urlsplit(p).hostname or "").lower() for p in proxies} - {""}


def _basic(user: str, password: str) -> str:
    """The ``Authorization`` value of basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _env_proxy(scheme: str) -> str | None:
    name = f"{scheme}_proxy"
    return os.environ.get(name) or os.environ.get(name.upper()) or None


def _bypassed(url: str, env: dict[str, str]) -> bool:
    """Whether ``NO_PROXY`` (either case, read into ``env``) names the host of ``url``."""
    if "no" not in env:
        return False
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(bypass(netloc, {"no": env["no"]}))


def _is_socks(proxy: str) -> bool:
    return urlsplit(proxy).scheme in SOCKS_SCHEMES
