"""The private-network guard, end to end, inside a network namespace of the test's own.

``unshare -n`` (root) gives the scenario (``tests/netns_guard_scenario.py``) a namespace
whose only interface is its own loopback; the "public" and private addresses are put
there, so not one packet reaches a non-loopback address of the host. Without namespaces
the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _skip_or_fail

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parent.parent
PORT = 8080
PUBLIC, PRIVATE, OTHER, METADATA = "93.184.216.34", "10.1.2.3", "10.9.9.9", "169.254.169.254"


def _namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    probe = subprocess.run(["unshare", "-n", "true"], check=False, capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare -n fails here: {probe.stderr.decode().strip()}"
    return None


@pytest.fixture(scope="module")
def namespace() -> None:
    problem = _namespace_problem()
    if problem is not None:
        _skip_or_fail(f"no network namespace for the guard tests: {problem}")


def scenario(mode: str) -> tuple[dict[str, dict[str, object]], dict[str, int]]:
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.netns_guard_scenario", mode],
        cwd=ROOT, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout.decode().splitlines()[-1])
    return {r["url"]: r for r in result["records"]}, result["connections"]


def url(address: str, path: str) -> str:
    return f"http://{address}:{PORT}{path}"


def test_links_and_redirects_to_private_addresses_are_blocked(namespace) -> None:
    records, connections = scenario("default")
    private, metadata = url(PRIVATE, "/admin"), url(METADATA, "/latest/meta-data/")
    for target in (private, metadata):
        assert records[target]["error"] == "blocked_address"
        assert records[target]["status"] is None
    assert PRIVATE in str(records[private]["error_detail"])
    assert "link-local" in str(records[metadata]["error_detail"])
    for hop, target in (("/r1", url(PRIVATE, "/secret")), ("/r2", url(METADATA, "/user-data"))):
        assert records[url(PUBLIC, hop)]["error"] == "blocked_address"
        assert records[url(PUBLIC, hop)]["final_url"] == target
    assert records[url(PUBLIC, "/")]["status"] == 200
    assert connections[PRIVATE] == connections[METADATA] == 0


def test_allow_private_lifts_the_guard(namespace) -> None:
    records, connections = scenario("allow-private")
    assert records[url(PRIVATE, "/admin")]["status"] == 200
    assert records[url(METADATA, "/latest/meta-data/")]["status"] == 200
    assert connections[PRIVATE] > 0 and connections[METADATA] > 0


def test_a_seed_in_a_private_network_crawls_it_but_not_link_local(namespace) -> None:
    records, connections = scenario("private-seed")
    assert records[url(PRIVATE, "/")]["status"] == 200
    assert records[url(OTHER, "/")]["status"] == 200  # another private address: allowed
    assert records[url(METADATA, "/latest/meta-data/")]["error"] == "blocked_address"
    assert connections[METADATA] == 0
