"""Serve a folder on 127.0.0.1 quietly while one command runs, then stop: the quickstart's site.

    python examples/serve.py examples/site -- crawl {url} -o out.jsonl

The server listens on a free port (``--port`` to choose one) before the command starts,
``{url}`` in the command becomes the site's address, nothing is logged per request (so
the server's log never mixes with the crawl's output), and the server stops when the
command ends, with the command's exit status.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(SimpleHTTPRequestHandler):
    """Serve files without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing: the command's output is what the user reads."""


def main(argv: list[str] | None = None) -> int:
    """Serve ``folder``, run the command after ``--``, stop; return the command's status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("folder", help="the folder to serve")
    parser.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARG... ({url})")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    handler = functools.partial(QuietHandler, directory=args.folder)
    with ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
        thread.start()  # the socket already listens: the command may connect at once
        try:
            return subprocess.call([part.replace("{url}", url) for part in command])
        except FileNotFoundError:
            print(f"serve.py: no such command: {command[0]}", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130
        finally:
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
