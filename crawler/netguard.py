"""The private-network guard: a crawl connects only to global addresses, unless told.

A crawler follows links wherever they point, so a public page that links or redirects to
``http://169.254.169.254/latest/meta-data/`` or ``http://10.0.0.5/admin`` would make it
fetch from inside the user's network. The guard decides at connect time, on the address
actually connected to (after DNS, ``--resolve`` and happy eyeballs): the connector's
socket factory asks ``AddressGuard.socket`` for every socket, so a name that resolves to
a private address is caught, and DNS rebinding between a check and the connect cannot
happen. A refused address raises ``BlockedAddressError`` before anything is sent.

Every address falls in one category (``category``):

- ``global``: public unicast, always allowed;
- ``loopback`` (``127.0.0.0/8``, ``::1``) and ``private`` (RFC 1918, ``fc00::/7``, CGNAT
  ``100.64.0.0/10``): allowed when a seed is in that category (a crawl started inside
  that kind of network), or with ``allow_private``;
- ``link_local`` (``169.254.0.0/16``, ``fe80::/10``, cloud metadata addresses): only with
  ``allow_private``;
- ``never`` (multicast, unspecified, reserved, and the special ranges that are neither
  public nor one of the above): always refused.

An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is judged as its IPv4 address.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from aiohappyeyeballs import AddrInfoType

__all__ = ["AddressGuard", "BlockedAddressError", "Category", "category"]

Category = Literal["global", "loopback", "private", "link_local", "never"]

BLOCKED_MARK: Final = "blocked by the private-network guard"
"""In the message of every ``BlockedAddressError``: how the fetcher knows one in a group."""

_PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_METADATA: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
"""Cloud metadata services (AWS, GCP and Azure; AWS over IPv6; Alibaba): link-local."""

_WHY: Final[dict[Category, str]] = {
    "loopback": "a loopback address (allowed when a seed is on loopback, or --allow-private)",
    "private": "a private address (allowed when a seed is in one, or --allow-private)",
    "link_local": "a link-local or cloud metadata address (allowed with --allow-private)",
    "never": "a multicast, unspecified or reserved address (never crawled)",
}


def category(address: str) -> Category:
    """Return the guard's category of an IP address (see the module docstring)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return "never"
    if ip.is_loopback:  # before "reserved": ``::1`` is in IPv6's reserved ``::/8``
        return "loopback"
    if ip in _METADATA or ip.is_link_local:
        return "link_local"
    if any(ip in network for network in _PRIVATE_NETWORKS if network.version == ip.version):
        return "private"
    return "global" if ip.is_global and not ip.is_reserved else "never"


class BlockedAddressError(OSError):
    """A connection the guard refused; nothing was sent to the address."""

    def __init__(self, address: str, kind: Category) -> None:
        super().__init__(errno.EACCES, f"{address} is {_WHY[kind]}: {BLOCKED_MARK}")
        self.address = address


class AddressGuard:
    """Decides which addresses a crawl may connect to, and makes its sockets.

    Args:
        allow_private: Lift the guard (all but ``never`` addresses).
        is_seed_host: Whether a host is a seed's: a seed written as an address opens its
            category (the resolver tells the guard the addresses of seeds' names).
    """

    def __init__(
        self, *, allow_private: bool = False, is_seed_host: Callable[[str], bool] | None = None
    ) -> None:
        self._allowed: set[Category] = {"global"}
        if allow_private:
            self._allowed |= {"loopback", "private", "link_local"}
        self._is_seed_host = is_seed_host or (lambda host: False)
        self._trusted: set[str] = set()

    def allow_seeds(self, addresses: Iterable[str]) -> None:
        """Allow the loopback or private network the seeds' addresses are in."""
        for address in addresses:
            kind = category(address)
            if kind in ("loopback", "private"):
                self._allowed.add(kind)

    def trust(self, addresses: Iterable[str]) -> None:
        """Allow these exact addresses (a proxy's), whatever their category but ``never``."""
        self._trusted.update(addresses)

    def check(self, address: str) -> None:
        """Raise ``BlockedAddressError`` unless the crawl may connect to ``address``."""
        kind = category(address)
        if kind == "never":
            raise BlockedAddressError(address, kind)
        if kind in self._allowed or address in self._trusted:
            return
        if self._is_seed_host(address):  # a seed written as an address: its network
            self.allow_seeds([address])
            if kind in self._allowed:
                return
        raise BlockedAddressError(address, kind)

    def socket(self, addr_info: AddrInfoType) -> socket.socket:
        """The connector's socket factory: a socket for an allowed address, else raise."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)
