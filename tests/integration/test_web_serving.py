"""The web app's serving (src/ruang/api/web.py): files from a build, the SPA fallback for page
loads, caching, precompressed files, and the security headers, against a real server whose
RUANG_WEB_DIR is a tiny fake build."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ruang.api.web import content_security_policy
from tests.conftest import LiveServer, make_settings, run_server

HTML = {"Accept": "text/html,application/xhtml+xml"}
INDEX = (b"<!doctype html><title>Ruang</title>"
         b"<script type=module src=/assets/app-abc123.js></script>")
APP_JS = b"console.log('ruang');\n" * 100


def fake_build(folder: Path) -> None:
    (folder / "assets").mkdir(parents=True)
    (folder / "icons").mkdir()
    (folder / "index.html").write_bytes(INDEX)
    (folder / "sw.js").write_text("self.addEventListener('fetch', () => {});\n")
    (folder / "manifest.webmanifest").write_text('{"name": "Ruang"}')
    (folder / "offline.html").write_text("<!doctype html><title>Offline</title>")
    (folder / "icons" / "icon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (folder / "assets" / "app-abc123.js").write_bytes(APP_JS)
    (folder / "assets" / "app-abc123.js.gz").write_bytes(gzip.compress(APP_JS))
    (folder / "assets" / "app-abc123.js.br").write_bytes(b"not really brotli, but marked so")


@pytest.fixture
async def web(tmp_path: Path,
              database_url: str) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient]]:
    fake_build(tmp_path / "dist")
    settings = make_settings(tmp_path, database_url, web_dir=tmp_path / "dist")
    async with run_server(settings) as server, \
            httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield server, http


async def test_page_loads_get_the_app_with_a_strict_policy(web) -> None:
    server, http = web
    for path in ("/", "/rooms/12", "/@bob", "/invite/tok-123", "/settings"):
        resp = await http.get(path, headers=HTML)
        assert resp.status_code == 200, path
        assert resp.content == INDEX
        assert resp.headers["cache-control"] == "no-cache"
        assert resp.headers["content-type"].startswith("text/html")
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"
        csp = resp.headers["content-security-policy"]
        for part in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                     "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
            assert part in csp
        # The WebSocket listener has its own port: the page may connect to it.
        realtime = server.runtime.realtime.url.rsplit("/api/", 1)[0]
        assert f"connect-src 'self' {realtime}" in csp
        assert "unsafe-inline" not in csp


async def test_api_and_other_clients_are_untouched(web) -> None:
    _, http = web
    resp = await http.get("/api/v1/me", headers=HTML)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "not_authenticated"
    assert (await http.get("/api/v1/nope", headers=HTML)).json()["error"]["code"] == "not_found"
    assert (await http.get("/healthz", headers=HTML)).status_code == 200
    assert (await http.get("/openapi.json", headers=HTML)).json()["info"]["title"] == "Ruang"
    # Not a page load: the API's own answers.
    assert (await http.get("/")).json()["api"] == "/api/v1"
    assert (await http.get("/nope")).json()["error"]["code"] == "not_found"
    # Writes never reach the static files.
    assert (await http.post("/rooms/12", headers=HTML)).status_code in (404, 405)


async def test_assets_are_cached_for_good_and_missing_ones_are_404(web) -> None:
    _, http = web
    resp = await http.get("/assets/app-abc123.js", headers={"Accept-Encoding": "identity"})
    assert resp.status_code == 200
    assert resp.content == APP_JS
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert resp.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in resp.headers
    # A stale chunk name must not get index.html (the browser would run HTML as JS).
    missing = await http.get("/assets/app-old999.js", headers=HTML)
    assert missing.status_code == 404
    assert (await http.get("/icons/nope.png", headers=HTML)).status_code == 404
    # No way out of the folder.
    assert (await http.get("/assets/%2e%2e/%2e%2e/secrets.json", headers=HTML)).status_code == 404


async def test_precompressed_files_by_accept_encoding(web) -> None:
    _, http = web
    resp = await http.get("/assets/app-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert resp.headers["vary"] == "Accept-Encoding"
    assert resp.content == APP_JS  # httpx decodes gzip
    raw = await http.get("/assets/app-abc123.js", headers={"Accept-Encoding": "br, gzip"})
    assert raw.headers["content-encoding"] == "br"
    assert int(raw.headers["content-length"]) == len(b"not really brotli, but marked so")


async def test_service_worker_manifest_and_revalidation(web) -> None:
    _, http = web
    sw = await http.get("/sw.js")
    assert sw.headers["cache-control"] == "no-cache"
    assert sw.headers["content-type"].startswith("text/javascript")
    manifest = await http.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert manifest.headers["cache-control"] == "no-cache"
    icon = await http.get("/icons/icon.svg")
    assert icon.headers["cache-control"] == "public, max-age=3600"
    etag = sw.headers["etag"]
    again = await http.get("/sw.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    head = await http.head("/", headers=HTML)
    assert head.status_code == 200
    assert head.content == b""


async def test_without_a_build_the_root_page_says_how_to_make_one(tmp_path: Path,
                                                                    database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, web_dir=tmp_path / "missing")
    async with run_server(settings) as server, \
            httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        page = await http.get("/", headers=HTML)
        assert page.status_code == 200
        assert "npm run build" in page.text
        assert "content-security-policy" in page.headers
        assert (await http.get("/")).json()["api"] == "/api/v1"
        assert (await http.get("/rooms/1", headers=HTML)).json()["error"]["code"] == "not_found"


def test_policy_names_only_the_realtime_origin() -> None:
    assert "connect-src 'self' wss://ruang.example.org;" in content_security_policy(
        "wss://ruang.example.org/api/v1/ws")
    assert "connect-src 'self';" in content_security_policy("")
