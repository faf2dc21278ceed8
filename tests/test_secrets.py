"""Secrets never reach what a crawl writes: records, logs, the summary, the report, the state
file, Redis. Each test crawls with every credential it can give, then greps it all."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from tests.conftest import TEST_NAMESPACE, Site, page_html
from tests.proxy_support import CountingProxy, serve_proxy

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(90)

SECRETS = ("pa55-W0RD-site", "pa55-W0RD-user", "pa55-W0RD-proxy", "t0ken-H3ADER", "c00kie-VALUE")
CRAWL = [sys.executable, "-m", "crawler"]


def guarded_site() -> Site:
    """A site whose every page needs one of the site's two passwords."""
    allowed = {
        "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        for user, password in (("alice", SECRETS[0]), ("bob", SECRETS[1]))
    }

    async def page(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") not in allowed:
            return web.Response(status=401, headers={"WWW-Authenticate": "Basic"})
        links = ["/a", "/b", "/missing"] if request.path == "/" else []
        return web.Response(text=page_html(request.path, links), content_type="text/html")

    return Site(handlers={p: page for p in ("/", "/a", "/b", "/robots.txt")})


async def run(*args: str, cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *CRAWL, *args, cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def leaks(texts: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(name, s) for name, text in texts.items() for s in SECRETS if s.encode() in text]


def door_options(proxy: CountingProxy) -> list[str]:
    return [
        "--proxy", proxy.url(credentials=True), "-H", f"X-Token: {SECRETS[3]}",
        "--cookie", f"session={SECRETS[4]}",
    ]  # fmt: skip


async def test_no_secret_reaches_output_logs_summary_report_or_state(serve, tmp_path) -> None:
    site = await serve(guarded_site())
    seed = site.url("/").replace("http://", f"http://alice:{SECRETS[0]}@")
    async with serve_proxy(CountingProxy(user="pu", password=SECRETS[2])) as proxy:
        code, err = await run(
            seed, "-o", "out.jsonl", "--state", "state.db", "--stats-json", "stats.json",
            "-vv", *door_options(proxy), cwd=tmp_path,
        )  # fmt: skip
        assert code == 0, err
        assert proxy.forwarded and not proxy.refused
        code, err_json = await run(
            site.url("/"), "--user", f"bob:{SECRETS[1]}", "-o", "out2.csv", "--state",
            "state2.db", "-vv", "--log-format", "json", *door_options(proxy), cwd=tmp_path,
        )  # fmt: skip
        assert code == 0, err_json
    code, report = await run("report", "out.jsonl", "--html", "report.html", cwd=tmp_path)
    assert code == 0, report
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert {"out.jsonl", "out2.csv", "state.db", "state2.db", "stats.json", "report.html"} <= set(
        written
    )
    assert b'"status": 200' in written["out.jsonl"]  # the credentials did their work
    written |= {
        "stderr": err.encode(),
        "stderr (json)": err_json.encode(),
        "report": report.encode(),
    }
    assert leaks(written) == []


async def test_no_secret_reaches_redis(serve, tmp_path, redis_url, crawl_id) -> None:
    import redis.asyncio as aioredis

    site = await serve(guarded_site())
    state = f"{redis_url}?prefix={TEST_NAMESPACE}"
    async with serve_proxy(CountingProxy(user="pu", password=SECRETS[2])) as proxy:
        code, err = await run(
            site.url("/"), "--user", f"bob:{SECRETS[1]}", "--state", state, "--crawl-id",
            crawl_id, "-o", "out.jsonl", "-vv", *door_options(proxy), cwd=tmp_path,
        )  # fmt: skip
    assert code == 0, err
    client = aioredis.Redis.from_url(redis_url)
    stored: dict[str, bytes] = {}
    try:
        async for key in client.scan_iter(match=f"{TEST_NAMESPACE}:{{{crawl_id}}}:*"):
            stored[key.decode()] = repr(await _value(client, key)).encode()
    finally:
        await client.aclose()
    assert stored, "the crawl stored nothing in Redis"
    assert leaks(stored | {"stderr": err.encode()}) == []


async def _value(client, key: bytes) -> object:  # type: ignore[no-untyped-def]
    kind = (await client.type(key)).decode()
    readers = {
        "string": lambda: client.get(key),
        "hash": lambda: client.hgetall(key),
        "list": lambda: client.lrange(key, 0, -1),
        "set": lambda: client.smembers(key),
        "zset": lambda: client.zrange(key, 0, -1, withscores=True),
        "stream": lambda: client.xrange(key),
    }
    return await readers[kind]()
