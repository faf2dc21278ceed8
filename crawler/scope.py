"""Which URLs belong to the crawl: domains and allow/deny patterns (deny always wins)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.config import CrawlConfig
    from crawler.models import SkipReason


def _in_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


class Scope:
    """Decide whether a URL is in scope; a refusal is a skip reason, not an error.

    By default the scope is the set of the seeds' hosts (exact host, any port).
    ``allow_domains`` widens it (a domain includes its subdomains); ``deny_domains``
    and ``deny_patterns`` narrow it and win over any allow; when ``allow_patterns``
    are given a URL must match one of them.
    """

    def __init__(self, config: CrawlConfig) -> None:
        self._seed_hosts: set[str] = set()
        self._seed_origins: set[str] = set()
        self._shared_hosts: set[str] = set()
        self.generation = 0
        """Bumped whenever the scope grows, so that remembered refusals can be forgotten."""
        self._allow_domains = tuple(d.lower().lstrip(".") for d in config.allow_domains)
        self._deny_domains = tuple(d.lower().lstrip(".") for d in config.deny_domains)
        self._allow = [re.compile(p) for p in config.allow_patterns]
        self._deny = [re.compile(p) for p in config.deny_patterns]

    def add_seed_host(self, host: str) -> None:
        """Put ``host`` (a seed's host) in scope."""
        host = host.lower()
        if host not in self._seed_hosts:
            self._seed_hosts.add(host)
            self.generation += 1

    def add_seed_origin(self, origin: str) -> None:
        """Note ``origin`` (scheme, host, port) as a seed's: credentials go there only."""
        self._seed_origins.add(origin)

    def is_seed_origin(self, origin: str, host: str) -> bool:
        """Return whether ``origin`` is a seed's, or ``host`` one another worker shared."""
        return origin in self._seed_origins or host in self._shared_hosts

    def is_seed_host(self, host: str) -> bool:
        """Return whether ``host`` is a seed's (or a sitemap's given in the configuration)."""
        return host.lower() in self._seed_hosts

    def add_shared_host(self, host: str) -> None:
        """Put a seed host another worker of a shared crawl shared in scope."""
        self._shared_hosts.add(host.lower())
        self.add_seed_host(host)

    def in_scope(self, url: str, host: str) -> bool:
        """Return whether ``url`` is in scope (``check`` finds no reason against it)."""
        return self.check(url, host) is None

    def check(self, url: str, host: str) -> SkipReason | None:
        """Return ``None`` if ``url`` (whose host is ``host``) is in scope, else why not."""
        if any(_in_domain(host, d) for d in self._deny_domains):
            return "out_of_scope"
        if host not in self._seed_hosts and not any(
            _in_domain(host, d) for d in self._allow_domains
        ):
            return "out_of_scope"
        if any(p.search(url) for p in self._deny):
            return "out_of_scope"
        if self._allow and not any(p.search(url) for p in self._allow):
            return "out_of_scope"
        return None
