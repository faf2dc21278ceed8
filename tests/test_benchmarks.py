"""Smoke tests of the benchmark suite: the generator's site, the check, and one runner round.

No timing is asserted anywhere: on a shared two-core machine speed is not a test outcome.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
import pytest

if TYPE_CHECKING:
    from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
PAGES = 50
LINKS = 10
BASE = "http://site.test/"


def load(name: str) -> ModuleType:
    """Import a benchmarks/ script by path (benchmarks/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sitegen = load("sitegen")
report = load("report")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    sitegen.generate(root, PAGES, LINKS, seed=7)
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def links_of(root: Path, path: str) -> list[str]:
    """Return the absolute links on the page at URL ``path``, fragments removed."""
    name = "index.html" if path == "/" else path.lstrip("/")
    doc = lxml.html.fromstring((root / name).read_bytes())
    page_url = urljoin(BASE, path)
    return [urldefrag(urljoin(page_url, href)).url for href in doc.xpath("//a/@href")]


def reachable(root: Path) -> set[str]:
    """Crawl the files breadth-first from ``/`` as a crawler would, staying on the host."""
    seen, todo = {"/"}, deque(["/"])
    while todo:
        for url in links_of(root, todo.popleft()):
            parts = urlsplit(url)
            if parts.scheme == "http" and parts.netloc == "site.test" and parts.path not in seen:
                seen.add(parts.path)
                todo.append(parts.path)
    return seen


@pytest.mark.timeout(120)
def test_generator_is_deterministic(site: Path, tmp_path: Path) -> None:
    sitegen.generate(tmp_path, PAGES, LINKS, seed=7)
    assert files_of(tmp_path) == files_of(site)


@pytest.mark.timeout(120)
def test_seed_changes_the_links(site: Path, tmp_path: Path) -> None:
    sitegen.generate(tmp_path, PAGES, LINKS, seed=8)
    assert files_of(tmp_path) != files_of(site)


@pytest.mark.timeout(120)
def test_manifest_lists_every_page_file(site: Path) -> None:
    manifest = sitegen.read_manifest(site / sitegen.MANIFEST)
    pages = {"/" if p == "index.html" else "/" + p for p in files_of(site) if p.endswith(".html")}
    assert len(manifest) == PAGES
    assert manifest == pages


@pytest.mark.timeout(120)
def test_every_page_is_reachable_and_offsite_links_exist(site: Path) -> None:
    assert reachable(site) == sitegen.read_manifest(site / sitegen.MANIFEST)
    hrefs = links_of(site, "/")
    assert any(h.startswith("mailto:") for h in hrefs)
    assert any(h.startswith("http://offsite.invalid/") for h in hrefs)


@pytest.mark.timeout(120)
def test_check_counts_missing_extra_and_duplicates() -> None:
    urls = [BASE, BASE + "a.html#x", BASE + "a.html", "http://other.test/", BASE + "robots.txt"]
    verdict = report.check(urls, {"/", "/a.html", "/b.html"}, BASE)
    assert (verdict.pages, verdict.missing, verdict.extra, verdict.duplicates) == (3, 1, 1, 1)
    assert not verdict.exact


def run_bench(work: Path, only: str, server: str = "auto") -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(BENCH / "run.py"), "--pages", str(PAGES), "--links", str(LINKS)]
    argv += ["--rounds", "1", "--only", only, "--work-dir", str(work), "--timeout", "60"]
    argv += ["--server", server]
    return subprocess.run(argv, capture_output=True, text=True, timeout=100, check=False)


def assert_exact(done: subprocess.CompletedProcess[str], name: str) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(name + " ")]
    assert len(rows) == 1, done.stdout
    assert rows[0][-1] == "exact", done.stdout


@pytest.mark.timeout(120)
def test_runner_floor_fetches_the_manifest_exactly(tmp_path: Path) -> None:
    assert_exact(run_bench(tmp_path, "floor"), "floor")


@pytest.mark.timeout(120)
def test_runner_works_with_the_fallback_server(tmp_path: Path) -> None:
    done = run_bench(tmp_path, "floor", server="python")
    assert "server: python at http://127.0.0.1:" in done.stdout
    assert_exact(done, "floor")


def crawl_cli_works() -> bool:
    if shutil.which("crawl") is None:
        return False
    done = subprocess.run(["crawl", "--help"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


@pytest.mark.timeout(120)
def test_runner_crawler_crawls_the_manifest_exactly(tmp_path: Path) -> None:
    if not crawl_cli_works():
        pytest.skip("the `crawl` command is not installed or does not answer --help")
    assert_exact(run_bench(tmp_path, "crawler"), "crawler")
