"""A small forwarding HTTP proxy for the tests: it counts what it forwards.

It takes absolute-form requests (``GET http://host:port/path HTTP/1.1``), checks the
``Proxy-Authorization`` when it has credentials, and forwards the request with its
headers to the target (127.0.0.1 only), without following redirects.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive", "host"}


@dataclass
class CountingProxy:
    """The proxy's behaviour and what it saw."""

    user: str | None = None
    password: str | None = None
    forwarded: list[str] = field(default_factory=list)
    refused: int = 0
    port: int = 0

    def url(self, *, credentials: bool = False) -> str:
        userinfo = f"{self.user}:{self.password}@" if credentials and self.user else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    def _authorized(self, request: web.Request) -> bool:
        if self.user is None:
            return True
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return request.headers.get("Proxy-Authorization") == f"Basic {token}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path  # the absolute-form request target
        if not target.startswith("http://127.0.0.1:"):
            return web.Response(status=400, text="absolute-form to 127.0.0.1 only")
        if not self._authorized(request):
            self.refused += 1
            return web.Response(status=407, headers={"Proxy-Authenticate": "Basic"})
        self.forwarded.append(target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, target, headers=headers, allow_redirects=False
            ) as upstream,
        ):
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            kept.pop("Content-Length", None)
            kept.pop("Transfer-Encoding", None)
            return web.Response(status=upstream.status, headers=kept, body=body)


@contextlib.asynccontextmanager
async def serve_proxy(proxy: CountingProxy) -> AsyncIterator[CountingProxy]:
    """Serve ``proxy`` on 127.0.0.1 (port 0) for the duration of the block."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proxy.port = runner.addresses[0][1]
    try:
        yield proxy
    finally:
        await runner.cleanup()


@dataclass
class Socks5Proxy:
    """A SOCKS5 proxy (RFC 1928, no authentication) to 127.0.0.1 only; counts its tunnels."""

    tunnels: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, scheme: str = "socks5h") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")  # no authentication
            _, command, _, kind = await reader.readexactly(4)
            if kind == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
            else:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            port = int.from_bytes(await reader.readexactly(2), "big")
            if command != 1 or host not in ("127.0.0.1", "localhost"):
                writer.write(b"\x05\x02\x00\x01" + bytes(6))  # not allowed
                return
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
            self.tunnels.append(f"{host}:{port}")
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def serve_socks(proxy: Socks5Proxy) -> AsyncIterator[Socks5Proxy]:
    """Serve the SOCKS5 ``proxy`` on 127.0.0.1 (port 0) for the duration of the block."""
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
