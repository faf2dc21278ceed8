"""Serve a generated site on 127.0.0.1 from its own process, so the server is not the bottleneck.

nginx is used when installed, started from a private config in a temp dir (``daemon off``, no
access log, pid and temp paths in that dir; the system config is never read). Otherwise the
fallback is ``python -m http.server``, which is much slower and HTTP/1.0 only: numbers measured
against it compare the contenders only roughly.

Usage: python benchmarks/server.py SITE_DIR [--kind auto|nginx|python]   (serves until Ctrl-C)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator

ServerKind = Literal["nginx", "python"]
# A server that is not listening after this long has failed to start (nginx takes ~10 ms).
STARTUP_TIMEOUT_S = 10.0
# Poll interval while waiting for the port to accept: short against the startup time.
POLL_INTERVAL_S = 0.02
# One worker leaves the other core of a two-core machine to the crawler under test.
NGINX_WORKERS = 1
NGINX_CONF = """\
worker_processes {workers};
daemon off;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; text/plain txt; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=20000 inactive=60s;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


@dataclass(frozen=True, slots=True)
class Server:
    """A running static server: its kind and the base URL (``http://127.0.0.1:PORT/``)."""

    kind: ServerKind
    url: str


def free_port() -> int:
    """Return a port on 127.0.0.1 that was free a moment ago (the server binds it next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Return once ``port`` accepts connections.

    Raises:
        RuntimeError: If the process exits or the port stays closed past the startup timeout.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"static server exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        # Polling is the only portable readiness signal that nginx gives.
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"static server not listening on port {port} after {STARTUP_TIMEOUT_S}s")


def nginx_argv(root: Path, tmp: Path, port: int) -> list[str]:
    """Write a private nginx config into ``tmp`` and return the command that runs it."""
    # Workers run as nobody by default, who may not read a root-owned work tree.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = NGINX_CONF.format(
        workers=NGINX_WORKERS, user=user, tmp=tmp, port=port, root=root.resolve()
    )
    (tmp / "nginx.conf").write_text(conf, encoding="utf-8")
    # -e: without it nginx opens the system error log before it reads our config.
    return ["nginx", "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf")]


def python_argv(root: Path, port: int) -> list[str]:
    """Return the command for the fallback server."""
    return [
        sys.executable,
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        "--directory",
        str(root),
        str(port),
    ]


def choose(kind: str) -> ServerKind:
    """Resolve ``auto`` to nginx when installed, else the Python fallback."""
    if kind == "nginx" or (kind == "auto" and shutil.which("nginx")):
        return "nginx"
    return "python"


@contextlib.contextmanager
def serve(root: Path, kind: str = "auto") -> Iterator[Server]:
    """Serve ``root`` for the duration of the ``with`` block.

    Args:
        root: The site directory.
        kind: ``"nginx"``, ``"python"``, or ``"auto"`` for nginx when installed.
    """
    chosen = choose(kind)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        argv = nginx_argv(root, Path(tmp), port) if chosen == "nginx" else python_argv(root, port)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, proc)
            yield Server(kind=chosen, url=f"http://127.0.0.1:{port}/")
        finally:
            proc.terminate()
            proc.wait(timeout=STARTUP_TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    """Serve a site until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--kind", choices=["auto", "nginx", "python"], default="auto")
    args = parser.parse_args(argv)
    # SIGTERM becomes SystemExit so that nginx is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with serve(args.root, args.kind) as server:
        print(f"serving {args.root} with {server.kind} at {server.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
