"""Helpers of the multi-process tests: worker subprocesses of one shared crawl."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from crawler.shared.admin import export_records
from crawler.shared.state import RedisState
from crawler.sinks import open_sink
from tests.conftest import TEST_NAMESPACE


class Workers:
    """Start worker processes of one shared crawl and read its results."""

    def __init__(self, redis_url: str, crawl_id: str, tmp_path: Path) -> None:
        self.redis_url = redis_url
        self.crawl_id = crawl_id
        self.tmp_path = tmp_path
        self.procs: list[asyncio.subprocess.Process] = []

    def output(self, name: str) -> Path:
        return self.tmp_path / f"{name}.jsonl"

    async def start(self, name: str, *args: str) -> asyncio.subprocess.Process:
        """Start ``crawl ARGS --state ... --crawl-id ... -o NAME.jsonl`` as worker ``name``."""
        state = f"{self.redis_url}?prefix={TEST_NAMESPACE}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "crawler", *args,
            "--state", state, "--crawl-id", self.crawl_id, "--worker-id", name,
            "-o", str(self.output(name)), "-q",
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    async def exported(self) -> list[str]:
        """Return the URLs of ``crawl export``'s records, in order."""
        return [record["url"] for record in await self.exported_records()]

    async def exported_records(self) -> list[dict[str, Any]]:
        """Return ``crawl export``'s records, in order."""
        path = self.tmp_path / "all.jsonl"
        async with RedisState(self.redis_url, self.crawl_id, namespace=TEST_NAMESPACE) as state:
            sink = open_sink(str(path), "jsonl")
            try:
                await export_records(state, sink)
            finally:
                sink.close()
        return [json.loads(line) for line in path.read_text().splitlines()]

    async def leases_of(self, worker_id: str) -> int:
        """Return how many leases ``worker_id`` holds now."""
        state = RedisState(self.redis_url, self.crawl_id, namespace=TEST_NAMESPACE)
        await state.open()
        try:
            owners = await state.client.hvals(state.keys.owners)
        finally:
            await state.close()
        return owners.count(worker_id.encode())

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()


def urls_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["url"] for line in path.read_text().splitlines()]


async def exit_code(proc: asyncio.subprocess.Process) -> int:
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return proc.returncode
