"""The private-network guard's rules: which addresses a crawl may connect to."""

from __future__ import annotations

import pytest

from crawler.netguard import AddressGuard, BlockedAddressError, category


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("93.184.216.34", "global"), ("8.8.8.8", "global"), ("2606:4700::1111", "global"),
        ("127.0.0.1", "loopback"), ("127.5.5.5", "loopback"), ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("fd12::1", "private"), ("::ffff:10.0.0.1", "private"),
        ("169.254.169.254", "link_local"), ("169.254.1.1", "link_local"),
        ("fe80::1", "link_local"), ("fe80::1%eth0", "link_local"),
        ("fd00:ec2::254", "link_local"), ("100.100.100.200", "link_local"),
        ("224.0.0.1", "never"), ("ff02::1", "never"), ("0.0.0.0", "never"), ("::", "never"),
        ("240.0.0.1", "never"), ("255.255.255.255", "never"), ("192.0.2.1", "never"),
        ("198.18.0.1", "never"),
    ],
)  # fmt: skip
def test_every_address_has_its_category(address: str, expected: str) -> None:
    assert category(address) == expected


def test_only_global_addresses_by_default() -> None:
    guard = AddressGuard()
    guard.check("93.184.216.34")
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::ffff:192.168.0.1"):
        with pytest.raises(BlockedAddressError, match=address.replace(".", r"\.")):
            guard.check(address)


def test_a_seed_on_loopback_opens_loopback_only() -> None:
    guard = AddressGuard(is_seed_host=lambda host: host == "127.0.0.1")
    guard.check("127.0.0.1")
    guard.check("127.0.0.2")  # the seed's network, not just its address
    with pytest.raises(BlockedAddressError):
        guard.check("10.0.0.1")
    with pytest.raises(BlockedAddressError):
        guard.check("169.254.169.254")


def test_seed_addresses_open_their_network_but_never_link_local() -> None:
    guard = AddressGuard()
    guard.allow_seeds(["10.1.2.3", "169.254.169.254"])
    guard.check("10.9.9.9")
    with pytest.raises(BlockedAddressError):
        guard.check("169.254.169.254")


def test_allow_private_opens_all_but_what_is_never_crawled() -> None:
    guard = AddressGuard(allow_private=True)
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "fe80::1"):
        guard.check(address)
    for address in ("224.0.0.1", "0.0.0.0", "::"):
        with pytest.raises(BlockedAddressError):
            guard.check(address)


def test_a_trusted_proxy_address_is_allowed_alone() -> None:
    guard = AddressGuard()
    guard.trust(["10.0.0.8"])
    guard.check("10.0.0.8")
    with pytest.raises(BlockedAddressError):
        guard.check("10.0.0.9")
