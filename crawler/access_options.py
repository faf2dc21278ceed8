"""Checks of the options that get a crawl through a site's door (``CrawlConfig``'s part).

Headers, cookies, credentials, proxies, TLS files and ``--resolve`` entries are checked
when the configuration is made, so a mistake is one ``ConfigError`` naming the option,
before any request. Secret values (header values, cookie values, the password, the proxy's
credentials) never appear in a message.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from crawler.errors import ConfigError

if TYPE_CHECKING:
    from crawler.config import CrawlConfig

__all__ = ["PROXY_SCHEMES", "check_access", "parse_resolve", "redact_url"]

PROXY_SCHEMES: Final = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An HTTP header or cookie name (RFC 9110's token)."""


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for logs and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def parse_resolve(entry: str) -> tuple[str, int, str]:
    """Split a ``HOST:PORT:ADDRESS`` entry (curl's ``--resolve``); raise ``ConfigError``."""
    host, sep, rest = entry.partition(":")
    port, sep2, address = rest.partition(":")
    if not (sep and sep2 and host and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"resolve: {entry!r} is not HOST:PORT:ADDRESS")
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise ConfigError(f"resolve: {address!r} in {entry!r} is not an IP address") from None
    return host.lower(), int(port), address.strip("[]")


def check_access(config: CrawlConfig) -> None:
    """Raise ``ConfigError`` for an invalid header, cookie, credential, proxy or TLS option."""
    for name, value in config.headers:
        _pair("headers", name, value)
    for name, value in config.cookies:
        _pair("cookies", name, value, separators=";")
    if config.auth is not None:
        if len(config.auth) != 2 or not all(isinstance(part, str) for part in config.auth):
            raise ConfigError("auth must be a (user, password) pair")
        if not config.auth[0] or ":" in config.auth[0]:
            raise ConfigError("auth: the user name must be non-empty and hold no ':'")
        if any(c in part for part in config.auth for c in "\r\n\0"):
            raise ConfigError("auth must not contain CR, LF or NUL")
    if config.proxy is not None:
        _proxy(config.proxy)
    for entry in config.resolve:
        parse_resolve(entry)
    if config.client_key is not None and config.client_cert is None:
        raise ConfigError("client_key needs client_cert, the certificate it is the key of")
    if config.insecure and config.ca_bundle is not None:
        raise ConfigError("insecure and ca_bundle contradict each other: give one")
    for name in ("use_cookies", "trust_env", "insecure", "allow_private"):
        if not isinstance(getattr(config, name), bool):
            raise ConfigError(f"{name} must be true or false, got {getattr(config, name)!r}")


def _pair(option: str, name: object, value: object, *, separators: str = "") -> None:
    if not isinstance(name, str) or not isinstance(value, str):
        raise ConfigError(f"{option}: each must be a (name, value) pair of strings")
    if not _TOKEN.match(name):
        raise ConfigError(f"{option}: invalid name {name!r}")
    if any(c in value for c in "\r\n\0" + separators):
        bad = "CR, LF, NUL" + (f" or {separators!r}" if separators else "")
        raise ConfigError(f"{option}: the value of {name!r} must not contain {bad}")


def _proxy(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        schemes = ", ".join(f"{s}://" for s in PROXY_SCHEMES)
        raise ConfigError(f"proxy: {redact_url(url)!r} is not a proxy URL ({schemes})")
