"""Through the door of real sites: headers, cookies, basic auth, proxies, ``--resolve``, TLS.

Every case runs against real servers on 127.0.0.1 that assert what they receive.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from crawler import CrawlConfig, crawl
from crawler.access import Access
from crawler.errors import ConfigError
from crawler.scope import Scope
from tests.conftest import Site, page_html
from tests.proxy_support import CountingProxy, Socks5Proxy, serve_proxy, serve_socks

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    Serve = Callable[[Site], Awaitable[Site]]

pytestmark = pytest.mark.timeout(60)

PASSWORD = "s3cr3t-PaSS"


def records_of(path: Path) -> dict[str, dict[str, object]]:
    return {r["url"]: r for r in map(json.loads, path.read_text().splitlines())}


def seen(site: Site, path: str, header: str) -> list[str | None]:
    return [r.headers.get(header) for r in site.requests if r.path == path]


async def test_headers_go_to_every_request_in_scope_robots_and_sitemaps_too(serve: Serve) -> None:
    site = await serve(Site(pages={"/": ["/a"], "/a": []}))
    sitemap = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{}</loc></url></urlset>'

    async def sitemap_xml(request: web.Request) -> web.Response:
        return web.Response(text=sitemap.format(site.url("/a")), content_type="application/xml")

    site.handlers["/sitemap.xml"] = sitemap_xml
    await crawl(
        [site.url("/")], headers={"X-Token": "t0k", "Accept-Language": "fr"},
        sitemaps=[site.url("/sitemap.xml")],
    )  # fmt: skip
    assert {r.path for r in site.requests} == {"/robots.txt", "/sitemap.xml", "/", "/a"}
    assert {r.headers.get("X-Token") for r in site.requests} == {"t0k"}
    assert {r.headers.get("Accept-Language") for r in site.requests} == {"fr"}


def test_headers_are_for_the_scope_and_credentials_for_the_seed_origins() -> None:
    config = CrawlConfig(headers=(("X-Token", "t"),), auth=("u", PASSWORD), cookies=(("c", "1"),))
    scope = Scope(config)
    scope.add_seed_host("127.0.0.1")
    scope.add_seed_origin("http://127.0.0.1:8000")
    access = Access(config, scope)
    seed = access.headers("http://127.0.0.1:8000/page")
    assert seed["X-Token"] == "t" and seed["Cookie"] == "c=1"
    assert seed["Authorization"].startswith("Basic ")
    assert access.headers("http://127.0.0.1:9000/page") == {
        "X-Token": "t"
    }  # in scope, not a seed origin
    assert access.headers("http://elsewhere.test/") == {}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"headers": {"User-Agent": "from-header"}}, "from-header"),
        ({"headers": {"User-Agent": "from-header"}, "user_agent": "from-option"}, "from-option"),
    ],
)
async def test_user_agent_option_wins_over_a_header_only_when_both_are_given(
    serve: Serve, options: dict[str, object], expected: str
) -> None:
    site = await serve(Site(pages={"/": []}))
    await crawl([site.url("/")], **options)  # type: ignore[arg-type]
    assert set(seen(site, "/", "User-Agent")) == {expected}
    assert set(seen(site, "/robots.txt", "User-Agent")) == {expected}


def session_site() -> Site:
    async def login(request: web.Request) -> web.Response:
        response = web.Response(text=page_html("/login", ["/private"]), content_type="text/html")
        response.set_cookie("session", "abc123", path="/", httponly=True)
        return response

    async def private(request: web.Request) -> web.Response:
        if request.cookies.get("session") != "abc123":
            return web.Response(status=403, text="log in first")
        return web.Response(text=page_html("/private", []), content_type="text/html")

    return Site(handlers={"/login": login, "/private": private})


async def test_a_cookie_the_site_sets_is_sent_back(serve: Serve, tmp_path: Path) -> None:
    site = await serve(session_site())
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/login")], output=str(out), obey_robots=False)
    assert records_of(out)[site.url("/private")]["status"] == 200


async def test_no_cookies_keeps_none(serve: Serve, tmp_path: Path) -> None:
    site = await serve(session_site())
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/login")], output=str(out), obey_robots=False, use_cookies=False)
    assert records_of(out)[site.url("/private")]["status"] == 403


async def test_cookie_option_goes_to_the_seed_origin(serve: Serve, tmp_path: Path) -> None:
    site = await serve(session_site())
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/private")], output=str(out), cookies={"session": "abc123"})
    assert records_of(out)[site.url("/private")]["status"] == 200


async def test_cookies_are_saved_and_loaded_as_cookies_txt(serve: Serve, tmp_path: Path) -> None:
    site = await serve(session_site())
    jar = tmp_path / "cookies.txt"
    await crawl([site.url("/login")], obey_robots=False, max_pages=1, save_cookies=str(jar))
    text = jar.read_text()
    assert "session\tabc123" in text
    assert (jar.stat().st_mode & 0o777) == 0o600
    out = tmp_path / "out.jsonl"
    await crawl([site.url("/private")], output=str(out), load_cookies=str(jar))
    assert records_of(out)[site.url("/private")]["status"] == 200


def auth_site(other: Site) -> Site:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(other.url("/landing"))

    return Site(pages={"/": ["/a", other.url("/linked"), "/moved"], "/a": []},
                handlers={"/moved": moved})  # fmt: skip


@pytest.mark.parametrize("how", ["option", "userinfo"])
async def test_basic_auth_goes_to_the_seed_origin_only(
    serve: Serve, tmp_path: Path, how: str
) -> None:
    other = await serve(Site(pages={"/linked": [], "/landing": []}))
    site = await serve(auth_site(other))
    out = tmp_path / "out.jsonl"
    seed, options = site.url("/"), {"output": str(out)}
    if how == "option":
        options["auth"] = ("user", PASSWORD)  # type: ignore[assignment]
    else:
        seed = seed.replace("http://", f"http://user:{PASSWORD}@")
    await crawl([seed], **options)  # type: ignore[arg-type]
    expected = "Basic " + __import__("base64").b64encode(f"user:{PASSWORD}".encode()).decode()
    assert {r.headers.get("Authorization") for r in site.requests} == {expected}
    assert {r.path for r in other.requests} >= {"/linked", "/landing"}  # same host, other port
    assert all("Authorization" not in r.headers for r in other.requests)
    assert PASSWORD not in out.read_text() and "user:" not in out.read_text()


async def test_an_http_proxy_forwards_every_request(serve: Serve, tmp_path: Path) -> None:
    site = await serve(Site(pages={"/": ["/a"], "/a": []}))
    async with serve_proxy(CountingProxy(user="pu", password=PASSWORD)) as proxy:
        await crawl([site.url("/")], proxy=proxy.url(credentials=True))
        assert proxy.forwarded == [site.url(p) for p in ("/robots.txt", "/", "/a")]
        assert proxy.refused == 0


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_a_socks_proxy_carries_every_connection(serve: Serve, scheme: str) -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("aiohttp_socks", reason="the socks extra is not installed")
    site = await serve(Site(pages={"/": ["/a"], "/a": []}))
    async with serve_socks(Socks5Proxy()) as proxy:
        stats = await crawl([site.url("/")], proxy=proxy.url(scheme))
    assert stats.pages == 2
    assert proxy.tunnels and set(proxy.tunnels) == {site.base.removeprefix("http://")}
    assert {r.path for r in site.requests} == {"/robots.txt", "/", "/a"}


async def test_environment_proxies_and_no_proxy(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = await serve(Site(pages={"/": []}))
    async with serve_proxy(CountingProxy()) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        await crawl([site.url("/")], obey_robots=False)
        assert proxy.forwarded == [site.url("/")]
        await crawl([site.url("/")], obey_robots=False, trust_env=False)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        await crawl([site.url("/")], obey_robots=False)
        monkeypatch.delenv("HTTP_PROXY")
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.setenv("ALL_PROXY", proxy.url())
        await crawl([site.url("/")], obey_robots=False)
        assert proxy.forwarded == [site.url("/")] * 2


async def test_resolve_connects_to_the_address_and_sends_the_host(
    serve: Serve, tmp_path: Path
) -> None:
    site = await serve(Site(pages={"/": ["/a"], "/a": []}))
    port = site.base.rsplit(":", 1)[1]
    out = tmp_path / "out.jsonl"
    seed = f"http://staging.example.test:{port}/"
    await crawl([seed], output=str(out), resolve=[f"staging.example.test:{port}:127.0.0.1"])
    assert {r.headers["Host"] for r in site.requests} == {f"staging.example.test:{port}"}
    assert set(records_of(out)) == {seed, f"{seed}a"}


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"headers": {"X-A": "a\r\nInjected: 1"}}, "headers: the value of 'X-A'"),
        ({"headers": {"Bad Name": "v"}}, "headers: invalid name 'Bad Name'"),
        ({"cookies": {"c": "a;b"}}, "cookies: the value of 'c'"),
        ({"proxy": f"ftp://u:{PASSWORD}@proxy:21"}, "proxy: 'ftp://u:***@proxy:21'"),
        ({"resolve": ["host:80"]}, "resolve: 'host:80' is not HOST:PORT:ADDRESS"),
        ({"resolve": ["host:80:not-an-ip"]}, "resolve: 'not-an-ip'"),
        ({"client_key": "key.pem"}, "client_key needs client_cert"),
    ],
)
def test_bad_door_options_are_one_clear_error(options: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CrawlConfig.from_options(options)
    assert said in str(caught.value)
    assert PASSWORD not in str(caught.value)


# TLS, with a throwaway CA (trustme)


@pytest.fixture
def ca():  # type: ignore[no-untyped-def]
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


async def serve_tls(ca, *, client_ca=None, cert=None) -> tuple[web.AppRunner, str]:  # type: ignore[no-untyped-def]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    (cert or ca.issue_cert("127.0.0.1")).configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=page_html("/", []), content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, f"https://127.0.0.1:{runner.addresses[0][1]}/"


async def test_an_unknown_ca_is_a_tls_error_and_ca_bundle_trusts_it(ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner, url = await serve_tls(ca)
    out, bundle = tmp_path / "out.jsonl", tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    try:
        await crawl([url], output=str(out), obey_robots=False)
        record = records_of(out)[url]
        assert record["error"] == "tls"
        assert "certificate verify failed" in str(record["error_detail"])
        await crawl([url], output=str(out), obey_robots=False, ca_bundle=str(bundle))
        assert records_of(out)[url]["status"] == 200
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("expired", "certificate has expired"), ("other host", "IP address mismatch")],
)
async def test_the_tls_error_says_why_the_certificate_was_refused(
    ca,
    tmp_path: Path,
    kind: str,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    import datetime

    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        ca.issue_cert("127.0.0.1", not_before=past, not_after=past + datetime.timedelta(days=1))
        if kind == "expired"
        else ca.issue_cert("staging.example.test")
    )
    runner, url = await serve_tls(ca, cert=cert)
    out, bundle = tmp_path / "out.jsonl", tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    try:
        await crawl([url], output=str(out), obey_robots=False, ca_bundle=str(bundle))
        record = records_of(out)[url]
        assert record["error"] == "tls"
        assert reason in str(record["error_detail"])
    finally:
        await runner.cleanup()


async def test_insecure_skips_verification_with_a_warning(
    ca,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    runner, url = await serve_tls(ca)
    out = tmp_path / "out.jsonl"
    try:
        with caplog.at_level(logging.WARNING):
            await crawl([url], output=str(out), obey_robots=False, insecure=True)
        assert records_of(out)[url]["status"] == 200
        assert [r.message for r in caplog.records if "not verified" in r.message] == [
            "TLS certificates are not verified (--insecure)"
        ]
    finally:
        await runner.cleanup()


async def test_client_certificates_for_mutual_tls(ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    trustme = pytest.importorskip("trustme")
    client_ca = trustme.CA()
    runner, url = await serve_tls(ca, client_ca=client_ca)
    out, bundle, cert = tmp_path / "out.jsonl", tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.cert_pem.write_to_path(str(bundle))
    client_ca.issue_cert("crawler@example.test").private_key_and_cert_chain_pem.write_to_path(
        str(cert)
    )
    options = {"output": str(out), "obey_robots": False, "ca_bundle": str(bundle)}
    try:
        await crawl([url], **options)  # type: ignore[arg-type]
        assert records_of(out)[url]["status"] is None  # the server refused the handshake
        await crawl([url], client_cert=str(cert), **options)  # type: ignore[arg-type]
        assert records_of(out)[url]["status"] == 200
    finally:
        await runner.cleanup()


async def test_a_bare_host_means_http(serve: Serve, tmp_path: Path) -> None:
    import asyncio
    import subprocess
    import sys

    site = await serve(Site(pages={"/docs/": ["/docs/a"], "/docs/a": []}))
    bare = site.base.removeprefix("http://") + "/docs/"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "crawler", bare, "-o", str(tmp_path / "out.jsonl"),
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert set(records_of(tmp_path / "out.jsonl")) == {site.url("/docs/"), site.url("/docs/a")}
