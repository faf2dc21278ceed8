"""The private-network guard's scenario, run INSIDE a fresh network namespace.

``tests/test_private_network_guard.py`` runs ``unshare -n python -m tests.netns_guard_scenario
MODE``: in the new namespace only its own loopback exists, so the "public" and private
addresses below live on that loopback and no packet can leave the host's namespace.

A public page (``93.184.216.34``) links to a private server and to a metadata server, and
has two pages that redirect to them; the private servers count every connection they
accept. Modes: ``default`` (the guard on), ``allow-private``, and ``private-seed`` (the seed
is on a private address; another private address of the same kind is linked). The result
is one JSON line on stdout: the records and the connection counts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from crawler import crawl

PUBLIC, PRIVATE, OTHER_PRIVATE, METADATA = (
    "93.184.216.34",
    "10.1.2.3",
    "10.9.9.9",
    "169.254.169.254",
)
PORT = 8080


def set_up_namespace() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for address in (PUBLIC, PRIVATE, OTHER_PRIVATE, METADATA):
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)


def page(links: list[str]) -> str:
    anchors = "".join(f'<a href="{link}">{link}</a>' for link in links)
    return f"<html><head><title>t</title></head><body>{anchors}</body></html>"


class Server:
    """A page server on one address that counts the connections it accepts."""

    def __init__(self, address: str, pages: dict[str, list[str]], redirects: dict[str, str]):
        self.address, self.pages, self.redirects = address, pages, redirects
        self.connections = 0

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path in self.redirects:
            return web.Response(status=302, headers={"Location": self.redirects[request.path]})
        if request.path not in self.pages:
            return web.Response(status=404)
        return web.Response(text=page(self.pages[request.path]), content_type="text/html")

    async def start(self) -> asyncio.Server:
        """Serve on ``address:PORT`` with aiohttp's low-level server, counting accepts."""
        handler = web.Server(self.handle)

        def accepted() -> web.RequestHandler:  # type: ignore[type-arg]
            self.connections += 1
            return handler()

        return await asyncio.get_running_loop().create_server(accepted, self.address, PORT)


async def main(mode: str) -> None:
    set_up_namespace()
    private_url = f"http://{PRIVATE}:{PORT}/admin"
    metadata_url = f"http://{METADATA}:{PORT}/latest/meta-data/"
    public = Server(
        PUBLIC,
        {"/": [private_url, metadata_url, "/r1", "/r2"]},
        {"/r1": f"http://{PRIVATE}:{PORT}/secret", "/r2": f"http://{METADATA}:{PORT}/user-data"},
    )
    private = Server(
        PRIVATE, {"/": [f"http://{OTHER_PRIVATE}:{PORT}/", metadata_url], "/admin": []}, {}
    )
    other = Server(OTHER_PRIVATE, {"/": []}, {})
    metadata = Server(METADATA, {"/latest/meta-data/": []}, {})
    listening = [await s.start() for s in (public, private, other, metadata)]
    seed = f"http://{PRIVATE}:{PORT}/" if mode == "private-seed" else f"http://{PUBLIC}:{PORT}/"
    out = Path("/tmp") / f"guard-{mode}.jsonl"
    domains = [PUBLIC, PRIVATE, OTHER_PRIVATE, METADATA]
    try:
        async with asyncio.timeout(30):
            await crawl(
                [seed], output=str(out), obey_robots=False, allow_domains=domains,
                allow_private=mode == "allow-private", retries=0,
            )  # fmt: skip
    finally:
        for server in listening:
            server.close()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    counts = {s.address: s.connections for s in (public, private, other, metadata)}
    print(json.dumps({"records": records, "connections": counts}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
