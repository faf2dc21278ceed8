"""The options that get ``crawl`` through a site's door: headers, cookies, credentials,
proxies, TLS, ``--resolve`` and the private-network guard.

They are named as in wget and curl (``-H``, ``--user``, ``--proxy``, ``-k``, ``--resolve``)
and parse into ``CrawlConfig`` fields; what each means is written once, on the field.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from crawler.cli.errors import UsageError

if TYPE_CHECKING:
    from crawler.cli.options import Options


def header(text: str) -> tuple[str, str]:
    """Parse ``-H 'Name: value'``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not 'Name: value': {name.strip()!r}...")
    return name.strip(), value.strip()


def cookie(text: str) -> tuple[str, str]:
    """Parse ``--cookie 'name=value'``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not 'name=value': {name.strip()!r}...")
    return name.strip(), value.strip()


def credentials(text: str) -> tuple[str, str]:
    """Parse ``--user USER:PASSWORD`` (the password may hold ':')."""
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError("not USER:PASSWORD")
    return user, password


def add_door_options(parser: argparse.ArgumentParser) -> None:
    """Add the group of headers, cookies, credentials, proxies, TLS and the guard."""
    group: Options = parser.add_argument_group(
        "sites behind a login, a proxy or a private CA",
        "Headers go to the crawl's scope only; credentials and --cookie to the seed origins "
        "only. Credentials never appear in records, logs, reports or the state.",
    )
    group.add_argument(
        "-H", "--header", dest="headers", type=header, action="append", default=[],
        metavar="'NAME: VALUE'",
        help="send this header with every request in scope; repeatable (--user-agent wins "
        "over a User-Agent here when both are given)",
    )  # fmt: skip
    group.add_argument(
        "--cookie", dest="cookies", type=cookie, action="append", default=[],
        metavar="NAME=VALUE", help="send this cookie to the seed origins; repeatable",
    )  # fmt: skip
    group.add_argument(
        "--load-cookies", metavar="FILE",
        help="start with the cookies of this Netscape cookies.txt file (browsers, wget, curl)",
    )  # fmt: skip
    group.add_argument(
        "--save-cookies", metavar="FILE",
        help="write the cookies to this file (cookies.txt format, mode 600) when the crawl ends",
    )  # fmt: skip
    group.add_argument(
        "--no-cookies", dest="use_cookies", action="store_false",
        help="keep no cookies (by default the cookies sites set are kept for the crawl)",
    )  # fmt: skip
    group.add_argument(
        "--user", dest="auth", type=credentials, metavar="USER:PASSWORD",
        help="HTTP basic auth for the seed origins (also taken from a seed's user:pass@)",
    )  # fmt: skip
    group.add_argument(
        "--proxy", metavar="URL",
        help="use this proxy: http://, https://, socks5:// or socks5h:// (SOCKS: the socks "
        "extra); default: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY",
    )  # fmt: skip
    group.add_argument(
        "--no-proxy", dest="trust_env", action="store_false",
        help="ignore the proxy environment variables",
    )  # fmt: skip
    group.add_argument(
        "-k", "--insecure", action="store_true",
        help="do not verify TLS certificates (a warning says so)",
    )  # fmt: skip
    group.add_argument(
        "--ca-bundle", metavar="FILE", help="also trust the CA certificates of this PEM file"
    )
    group.add_argument(
        "--client-cert", metavar="FILE",
        help="client certificate for mutual TLS (PEM; with its key unless --client-key)",
    )  # fmt: skip
    group.add_argument("--client-key", metavar="FILE", help="the client certificate's key (PEM)")
    group.add_argument(
        "--resolve", action="append", default=[], metavar="HOST:PORT:ADDRESS",
        help="connect to ADDRESS for HOST:PORT, sending HOST (as curl); repeatable",
    )  # fmt: skip
    group.add_argument(
        "--allow-private", action="store_true",
        help="lift the private-network guard: connect to loopback, private and link-local "
        "addresses whatever the seeds (by default only a seed's own network is allowed)",
    )  # fmt: skip


READ_FILES = (
    ("load_cookies", "--load-cookies"), ("ca_bundle", "--ca-bundle"),
    ("client_cert", "--client-cert"), ("client_key", "--client-key"),
)  # fmt: skip


def check_door_files(args: argparse.Namespace) -> None:
    """Check, before any request, that the files to read can be read and the one to write
    has a folder.

    Raises:
        UsageError: One cannot (the message names the option and the cause).
    """
    for dest, flag in READ_FILES:
        path = getattr(args, dest, None)
        if path is not None:
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise UsageError(f"{flag}: cannot read {path!r}: {exc.strerror}") from None
    save = getattr(args, "save_cookies", None)
    if save is not None and not os.path.isdir(os.path.dirname(os.path.abspath(save))):
        raise UsageError(f"--save-cookies: no folder for {save!r}")
