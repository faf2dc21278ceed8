"""robots.txt: fetched once per origin, cached for the crawl, matched with Protego.

Per RFC 9309: a 2xx robots.txt is parsed (wildcards ``*`` and ``$``, the longest match
wins, ``Allow`` wins a tie); a 4xx, or one that cannot be had for another reason than
the server (too large, too many redirects), means everything is allowed; a 5xx or a
network error (timeout, connection) means the origin is disallowed for this crawl.
Redirects are followed up to ``ROBOTS_MAX_REDIRECTS`` hops. After a network error the
rules keep the failed fetch (``unreachable``), so that the pages of a dead host can be
recorded with its error rather than silently skipped.

Fetches are single-flight: every caller asking for a new origin awaits the same fetch.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from protego import Protego

from crawler.models import Request
from crawler.urls import host_of, origin_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from crawler.fetcher import FollowCheck
    from crawler.models import FetchResult

    RobotsFetch = Callable[[Request, FollowCheck], Awaitable[FetchResult]]

__all__ = ["ROBOTS_MAX_REDIRECTS", "RobotsCache", "RobotsRules", "rules_from", "x_robots_nofollow"]

log = logging.getLogger(__name__)

ROBOTS_MAX_REDIRECTS: Final = 5
"""RFC 9309 §2.3.1.2: follow at least five consecutive redirects."""

_VALUED_DIRECTIVES: Final = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)
"""``X-Robots-Tag`` directives written ``name: value``; any other ``name:`` is a user agent."""

RobotsVerdict = Literal["parsed", "allow_all", "disallow_all"]


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """The robots.txt of one origin.

    Attributes:
        verdict: ``"parsed"`` (rules apply), ``"allow_all"`` or ``"disallow_all"``.
        parser: The parsed file when ``verdict == "parsed"``.
        unreachable: The failed fetch when the origin did not answer at all (a timeout
            or connection error); ``verdict`` is then ``"disallow_all"``.
    """

    verdict: RobotsVerdict
    parser: Protego | None = field(default=None, repr=False)
    unreachable: FetchResult | None = field(default=None, repr=False)

    def allowed(self, url: str, user_agent: str) -> bool:
        """Return whether ``user_agent`` may fetch ``url``."""
        if self.parser is None:
            return self.verdict == "allow_all"
        return bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        """Return the ``Crawl-delay`` for ``user_agent`` in seconds, or ``None``."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return None if delay is None else float(delay)

    @property
    def sitemaps(self) -> tuple[str, ...]:
        """The ``Sitemap:`` URLs of the file."""
        return () if self.parser is None else tuple(self.parser.sitemaps)


def rules_from(result: FetchResult) -> RobotsRules:
    """Return the rules a robots.txt fetch result means (see the module docstring)."""
    status = result.status
    if result.error in ("timeout", "connection"):
        return RobotsRules("disallow_all", unreachable=result)
    if status is not None and status >= 500:
        return RobotsRules("disallow_all")
    if result.error is None and status is not None and 200 <= status < 300:
        return RobotsRules("parsed", Protego.parse(result.body.decode("utf-8", "replace")))
    return RobotsRules("allow_all")


def x_robots_nofollow(headers: Mapping[str, str], user_agent: str) -> bool:
    """Return whether an ``X-Robots-Tag`` header says ``nofollow`` (or ``none``) to us.

    A directive may be prefixed by a user agent (``otherbot: nofollow``); those for
    other agents are ignored.
    """
    getall = getattr(headers, "getall", None)
    values = getall("X-Robots-Tag", []) if getall else [headers.get("X-Robots-Tag", "")]
    agent = user_agent.lower()
    for value in values:
        scope = None
        for part in value.lower().split(","):
            name, colon, rest = part.partition(":")
            if colon and name.strip() not in _VALUED_DIRECTIVES:
                scope, part = name.strip(), rest  # noqa: PLW2901 - the directive after the agent
            if part.strip() in ("nofollow", "none") and (scope is None or scope in agent):
                return True
    return False


class RobotsCache:
    """Fetch each origin's robots.txt once and answer from the cache afterwards.

    Args:
        fetch: Fetches a request with a redirect check (the crawl's ``Fetcher.fetch``).
        user_agent: Matched against the ``User-agent`` groups of each file.
    """

    def __init__(self, fetch: RobotsFetch, user_agent: str) -> None:
        self._fetch = fetch
        self.user_agent = user_agent
        self._rules: dict[str, RobotsRules] = {}
        self._fetching: dict[str, asyncio.Event] = {}

    def known(self, origin: str) -> RobotsRules | None:
        """Return the cached rules of ``origin``, ``None`` if not fetched yet."""
        return self._rules.get(origin)

    async def get(self, origin: str) -> RobotsRules:
        """Return the rules of ``origin`` (``scheme://host[:port]``), fetching them once."""
        while (rules := self._rules.get(origin)) is None:
            done = self._fetching.get(origin)
            if done is None:
                return await self._load(origin)
            await done.wait()  # another caller fetches; if it was cancelled, try again
        return rules

    async def allowed(self, url: str) -> bool:
        """Return whether our user agent may fetch ``url``."""
        rules = await self.get(origin_of(url))
        return rules.allowed(url, self.user_agent)

    async def _load(self, origin: str) -> RobotsRules:
        done = self._fetching[origin] = asyncio.Event()
        try:
            url = f"{origin}/robots.txt"
            result = await self._fetch(Request(url=url, key=url), _redirect_budget(origin))
            rules = self._rules[origin] = rules_from(result)
        finally:
            del self._fetching[origin]
            done.set()
        _log_rules(origin, result, rules)
        return rules


def _redirect_budget(origin: str) -> FollowCheck:
    """Follow at most ``ROBOTS_MAX_REDIRECTS`` hops, and only on the origin's own host.

    A robots.txt is about its own host: a redirect to another host (a parked domain, an
    internal address) is not followed, and the file counts as unavailable (allow all).
    """
    hops, host = 0, host_of(origin)

    def follow(target: str) -> str | None:
        nonlocal hops
        hops += 1
        if hops > ROBOTS_MAX_REDIRECTS:
            return "too_many_redirects"
        return None if _same_host(target, host) else "out_of_scope"

    return follow


def _same_host(url: str, host: str) -> bool:
    try:
        return host_of(url) == host
    except ValueError:
        return False


def _log_rules(origin: str, result: FetchResult, rules: RobotsRules) -> None:
    if rules.unreachable is not None:
        # Each page of the origin is recorded with this error: no need to shout here.
        log.info("robots.txt of %s unreachable (%s)", origin, result.error_detail)
    elif rules.verdict == "disallow_all":
        reason = f"HTTP {result.status}"
        log.warning("robots.txt of %s unavailable (%s): not crawling it", origin, reason)
    else:
        log.debug("robots.txt of %s: %s", origin, rules.verdict)
