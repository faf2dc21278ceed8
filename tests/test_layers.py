"""The package's layers: imports point down, and only ``crawler/shared`` imports ``redis``.

Every module of ``crawler`` has a layer here; a module may import from its own layer or
a lower one, never a higher one (type-only and function-level imports count too: they
are dependencies all the same). A new module must be given a layer, or this test fails.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "crawler"

LAYERS: dict[int, set[str]] = {
    # 1. pure: no I/O, no other layer
    1: {
        "crawler._version", "crawler.errors", "crawler.models", "crawler.config", "crawler.urls",
        "crawler.options", "crawler.access_options", "crawler.simhash", "crawler.duplicates",
    },
    # 2. the pieces: each owns one concept and does its own I/O, if any
    2: {
        "crawler.logs", "crawler.scope", "crawler.admission", "crawler.seeds",
        "crawler.sitemaps", "crawler.robots", "crawler.parser", "crawler.encoding",
        "crawler.fetcher", "crawler.access", "crawler.netguard", "crawler.cookiefile",
        "crawler.extract", "crawler.text", "crawler.markdown", "crawler.savedir",
        "crawler.content_coding", "crawler.warc", "crawler.archive", "crawler.recrawl",
        "crawler.sinks", "crawler.stats", "crawler.summary", "crawler.progress",
        "crawler.records", "crawler.records_io", "crawler.reconcile", "crawler.report",
        "crawler.report_html",
        "crawler.state", "crawler.state.identity", "crawler.state.memory",
        "crawler.state.schema", "crawler.state.sqlite",
    },
    # 3. politeness and the coordination seam, with its Redis side
    3: {
        "crawler.politeness", "crawler.host_policy", "crawler.coordination",
        "crawler.shared", "crawler.shared.admin", "crawler.shared.client",
        "crawler.shared.coordinator", "crawler.shared.gate", "crawler.shared.lua",
        "crawler.shared.outage", "crawler.shared.events",
        "crawler.shared.state",
    },
    # 4. the frontier
    4: {"crawler.frontier"},
    # 5. the work of one request, and the producers
    5: {"crawler.worker", "crawler.producers", "crawler.reading"},
    # 6. the engine: the only module that creates long-lived tasks
    6: {"crawler.engine"},
    # 7. thin shells over the engine
    7: {
        "crawler", "crawler.__main__", "crawler.api", "crawler.cli", "crawler.cli.crawl",
        "crawler.cli.errors", "crawler.cli.options", "crawler.cli.report",
        "crawler.cli.seed", "crawler.cli.admin", "crawler.cli.parsing", "crawler.cli.units",
        "crawler.cli.door",
    },
}  # fmt: skip

LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE) -> set[str]:
    """Return every module ``path`` imports, at any depth of its code (relative ones resolved)."""
    found: set[str] = set()
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> int | None:
    """Return the layer of ``module`` (or of the package it names a member of)."""
    while module:
        if module in LAYER_OF:
            return LAYER_OF[module]
        module = module.rpartition(".")[0]
    return None


def upward_imports(paths: list[Path], root: Path = PACKAGE) -> list[str]:
    broken = []
    for path in paths:
        name = module_name(path, root)
        own = LAYER_OF[name]
        for target in sorted(imports(path, root)):
            if not target.startswith("crawler"):
                continue
            layer = layer_of(target)
            if layer is not None and layer > own and not name.startswith(target + "."):
                broken.append(f"{name} (layer {own}) imports {target} (layer {layer})")
    return broken


def redis_importers(paths: list[Path], root: Path = PACKAGE) -> list[str]:
    return sorted(
        module_name(path, root)
        for path in paths
        if any(t == "redis" or t.startswith("redis.") for t in imports(path, root))
        and not module_name(path, root).startswith("crawler.shared")
    )


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert sorted({module_name(p) for p in MODULES} - set(LAYER_OF)) == []


def test_imports_point_down_the_layers() -> None:
    assert upward_imports(MODULES) == []


def test_only_the_shared_package_imports_redis() -> None:
    assert redis_importers(MODULES) == []


def test_the_rules_catch_a_break(tmp_path: Path) -> None:
    """The checks themselves fail on an upward import and on redis outside ``shared``."""
    root = tmp_path / "crawler"
    root.mkdir()
    frontier = root / "frontier.py"
    frontier.write_text("from crawler.engine import Crawl\nimport redis.asyncio\n")
    assert upward_imports([frontier], root) == [
        "crawler.frontier (layer 4) imports crawler.engine (layer 6)",
        "crawler.frontier (layer 4) imports crawler.engine.Crawl (layer 6)",
    ]
    assert redis_importers([frontier], root) == ["crawler.frontier"]
    (root / "state").mkdir()
    sqlite = root / "state" / "sqlite.py"
    sqlite.write_text("from ..frontier import Frontier\nfrom . import memory\n")
    assert upward_imports([sqlite], root) == [
        "crawler.state.sqlite (layer 2) imports crawler.frontier (layer 4)",
        "crawler.state.sqlite (layer 2) imports crawler.frontier.Frontier (layer 4)",
    ]


@pytest.mark.parametrize("module", ["engine", "frontier"])
def test_the_engine_and_the_frontier_know_no_mode(module: str) -> None:
    """The single-process crawl's core names no Redis and imports nothing of ``shared``."""
    path = PACKAGE / f"{module}.py"
    assert "redis" not in path.read_text(encoding="utf-8").lower()
    assert [t for t in imports(path) if t.startswith("crawler.shared")] == []


WITHOUT_REDIS = """
import asyncio, json, sys
sys.modules["redis"] = None  # as if the redis extra were not installed
from crawler import crawl
from crawler.errors import StateError

async def main():
    stats = await crawl([sys.argv[1]], obey_robots=False)
    try:
        await crawl([sys.argv[1]], state="redis://127.0.0.1:6379/15", crawl_id="x")
    except StateError as exc:
        return stats.pages, str(exc)
    return stats.pages, None

print(json.dumps(asyncio.run(main())))
"""


async def test_without_the_redis_extra_a_crawl_runs_and_redis_is_one_line(serve) -> None:
    """Nothing outside ``crawler/shared`` needs redis; a redis:// state names the extra."""
    from tests.conftest import Site, chain_graph

    site = await serve(Site(pages=chain_graph(5, fanout=2)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WITHOUT_REDIS, site.url("/p0"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == [
        5,
        "the Redis state needs the redis extra: pip install 'crawler[redis]'",
    ]
