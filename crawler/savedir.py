"""Saved pages: ``--save-dir DIR`` keeps each 2xx body as a file, in wget's layout.

``DIR/HOST[+PORT]/PATH``: a path that ends in ``/`` is saved as ``index.html`` in it; a
query string is folded into the file name after ``@`` (``page@a=1&b=2``, as wget's
``--restrict-file-names=windows`` does); percent-escapes are decoded, and what may not be in
a file name (``/``, ``\\``, control characters, ``:*?"<>|``) is written ``%XX`` again. A
name longer than ``MAX_NAME`` bytes is shortened and ends with a hash of the whole, so two
long names never meet. ``.`` and ``..`` segments are dropped and names a system reserves
(``CON``, ``NUL``, ``COM1``, ...) get a ``_`` in front: nothing is ever written outside DIR.
A file is written under a temporary name (``.NAME.part``, beside it) and renamed, so no file
is ever half-written, and a symbolic link on the way (in DIR, put there by someone else) is
never followed out of it. The temporary name is the same on every try: the page a killed
crawl was saving is fetched again by its resume, which writes over what was left and renames.
When a path needs a folder where a file of the same name already is (``/a`` then ``/a/b``),
the folder is ``a@dir``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from crawler.errors import WriteError

__all__ = ["SaveDir", "relative_path"]

MAX_NAME: Final = 200
"""Bytes of UTF-8 a file or folder name may take here (most file systems allow 255)."""

_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|%]')
_RESERVED: Final = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def relative_path(url: str) -> Path:
    """Return the path, relative to DIR, where the body of ``url`` is saved."""
    parts = urlsplit(url)
    host = _name((parts.hostname or "_").lower())
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}+{parts.port}"
    segments = [unquote(s) for s in parts.path.split("/")]
    names = [s for s in segments[:-1] if s not in ("", ".", "..")]
    last = segments[-1] if segments[-1] not in (".", "..") else ""
    last = last or "index.html"
    if parts.query:
        last = f"{last}@{unquote(parts.query)}"
    return Path(host, *(_name(n) for n in names), _name(last))


def _name(text: str) -> str:
    safe = _UNSAFE.sub(lambda m: f"%{ord(m[0]):02X}", text)
    if _RESERVED.match(safe):
        safe = f"_{safe}"
    encoded = safe.encode()
    if len(encoded) <= MAX_NAME:
        return safe
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    return encoded[: MAX_NAME - 17].decode("utf-8", "ignore") + "-" + digest


class SaveDir:
    """Writes bodies under one folder (see the module docstring).

    Args:
        root: The folder, created if need be.
    """

    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()

    def save(self, url: str, body: bytes) -> str:
        """Write ``body`` as the file of ``url``; return its path (DIR included).

        Raises:
            WriteError: The file cannot be written (a full disk, a read-only folder).
        """
        target = self.root / relative_path(url)
        try:
            folder = self._folder(target.parent)
            final = folder / target.name
            if final.is_symlink() or final.is_dir():
                final = folder / f"{target.name}@file"
            temporary = folder / f".{final.name}.part"
            temporary.unlink(missing_ok=True)  # a killed try's leftover (a link: not followed)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(body)
                os.replace(temporary, final)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise WriteError(f"--save-dir {str(target)!r}: {exc.strerror or exc}") from None
        return str(final)

    def _folder(self, folder: Path) -> Path:
        """Create ``folder`` under the root, one level at a time, never through a link."""
        current = self.root
        current.mkdir(parents=True, exist_ok=True)
        for name in folder.relative_to(self.root).parts:
            step = current / name
            if step.is_symlink() or (step.exists() and not step.is_dir()):
                step = current / f"{name}@dir"
            step.mkdir(exist_ok=True)
            if step.is_symlink():
                raise OSError(f"a symbolic link is in the way: {step}")
            current = step
        return current
