"""Netscape ``cookies.txt``: the cookie file of browsers' export tools, wget and curl.

The standard library's ``http.cookiejar.MozillaCookieJar`` reads and writes the format;
this module moves its cookies into and out of the crawl's aiohttp ``CookieJar``. Two
habits of curl are accepted on reading: lines prefixed ``#HttpOnly_`` (an HttpOnly cookie,
which ``MozillaCookieJar`` would skip as a comment; written back the same way) and a file
without the ``# Netscape HTTP Cookie File`` first line.

A cookie is a secret: no message here holds a value, and a saved file is mode 600,
written whole or not at all (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import io
import os
import tempfile
import time
from email.utils import formatdate
from http.cookies import Morsel
from typing import TYPE_CHECKING, Final

from yarl import URL

from crawler.errors import ConfigError, WriteError

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.abc import AbstractCookieJar

__all__ = ["load_cookies", "save_cookies"]

MAGIC: Final = "# Netscape HTTP Cookie File"
HTTP_ONLY: Final = "#HttpOnly_"


class _Reader(http.cookiejar.MozillaCookieJar):
    """``MozillaCookieJar`` reading from a string, with curl's ``#HttpOnly_`` lines, and an
    expiry of 0 read as a session cookie (as curl and wget write them)."""

    def read(self, text: str, filename: str) -> None:
        lines = [MAGIC]
        self.http_only: set[tuple[str, str, str]] = set()
        for number, line in enumerate(text.splitlines(), 1):
            http_only = line.startswith(HTTP_ONLY)
            fields = line.removeprefix(HTTP_ONLY).split("\t")
            if len(fields) != 7 and line.strip() and (http_only or not line.startswith("#")):
                raise http.cookiejar.LoadError(f"line {number} is not a cookie")
            if len(fields) == 7:
                if fields[4] == "0":
                    fields[4] = ""  # older Pythons read 0 as expired in 1970
                if http_only:
                    self.http_only.add((fields[0], fields[2], fields[5]))
                lines.append("\t".join(fields))
            else:
                lines.append(line)
        loader = self._really_load  # type: ignore[attr-defined]  # the file reader, on a string
        loader(io.StringIO("\n".join(lines) + "\n"), filename, True, False)


def load_cookies(path: str, jar: aiohttp.CookieJar) -> int:
    """Add the cookies of the cookies.txt file at ``path`` to ``jar``; return how many.

    Expired cookies are skipped; session cookies (expiry 0) are kept.

    Raises:
        ConfigError: The file cannot be read or is not a cookies file (the message names
            it and the line, never a value).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError(f"load_cookies {path!r}: {exc.strerror or exc}") from None
    reader = _Reader()
    try:
        reader.read(text, path)
    except http.cookiejar.LoadError as exc:
        detail = str(exc) if str(exc).startswith("line ") else "unreadable"  # never its text
        raise ConfigError(f"load_cookies {path!r}: not a cookies.txt file ({detail})") from None
    now = time.time()
    count = 0
    for cookie in reader:
        if cookie.expires is not None and 0 < cookie.expires < now:
            continue
        http_only = (cookie.domain, cookie.path, cookie.name) in reader.http_only
        _add(jar, cookie, http_only=http_only)
        count += 1
    return count


def _add(jar: aiohttp.CookieJar, cookie: http.cookiejar.Cookie, *, http_only: bool) -> None:
    morsel: Morsel[str] = Morsel()
    morsel.set(cookie.name, cookie.value or "", cookie.value or "")
    host = cookie.domain.lstrip(".")
    if cookie.domain_specified or cookie.domain.startswith("."):
        morsel["domain"] = host
    morsel["path"] = cookie.path or "/"
    if cookie.expires:
        morsel["expires"] = formatdate(cookie.expires, usegmt=True)
    if cookie.secure:
        morsel["secure"] = True
    if http_only:
        morsel["httponly"] = True
    scheme = "https" if cookie.secure else "http"
    jar.update_cookies(
        {cookie.name: morsel}, response_url=URL(f"{scheme}://{host}{morsel['path']}")
    )


def save_cookies(path: str, jar: AbstractCookieJar) -> int:
    """Write every cookie of ``jar`` to ``path`` in the cookies.txt format; return how many.

    Raises:
        WriteError: The file cannot be written (the message names it and the cause).
    """
    # aiohttp keeps which cookies are host-only, and their deadlines, only in private
    # attributes; without them a cookie is written as a domain cookie of the session.
    host_only: set[tuple[str, ...]] = getattr(jar, "_host_only_cookies", set())
    deadlines: dict[tuple[str, str, str], float] = getattr(jar, "_expirations", {})
    lines = [MAGIC, "# Written by crawler; mode 600: it holds session secrets.", ""]
    count = 0
    for morsel in jar:
        domain, name, cookie_path = morsel["domain"], morsel.key, morsel["path"] or "/"
        if not domain:
            continue
        key = (domain, cookie_path.rstrip("/"), name)  # aiohttp 3.12+; (domain, name) before
        only = key in host_only or (domain, name) in host_only
        expires = deadlines.get(key, 0)
        prefix = HTTP_ONLY if morsel["httponly"] else ""
        fields = [
            f"{prefix}{domain if only else '.' + domain}", "FALSE" if only else "TRUE",
            cookie_path, "TRUE" if morsel["secure"] else "FALSE", str(int(expires)),
            name, morsel.value,
        ]  # fmt: skip
        lines.append("\t".join(fields))
        count += 1
    _write_private(path, "\n".join(lines) + "\n")
    return count


def _write_private(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".cookies-")
    except OSError as exc:
        raise WriteError(f"save_cookies {path!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:  # mkstemp makes it mode 600
            file.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise WriteError(f"save_cookies {path!r}: {exc.strerror or exc}") from None
