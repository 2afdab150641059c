"""Serve the web app (web/dist, built by ``npm run build``) from the Ruang server.

An ASGI middleware rather than routes: the REST route table (and its authorization walk in
tests/integration/test_authorization.py) stays what the API is. For a GET or HEAD that is not
the API's (``/api/``, ``/healthz``, ``/docs``, ``/redoc``, ``/openapi.json``) it answers with a
file from the build, or, for a page load (``Accept: text/html``) of any other path, with
``index.html`` (the app routes in the browser). Other clients still get the API's answers
(its JSON index at ``/``, ``not_found`` elsewhere).

- ``/assets/*`` are content-hashed: cached for a year, ``immutable``. ``index.html``,
  ``sw.js`` and the manifest are ``no-cache`` (revalidated with their ETag), so a new build is
  seen at once. Everything else (icons, the offline page) is cached for an hour.
- Compression: the build writes ``.br`` and ``.gz`` beside each text file; the one the
  browser accepts is sent (``Vary: Accept-Encoding``). Nothing is compressed per request.
- HTML carries a strict Content-Security-Policy whose ``connect-src`` names the realtime
  listener's origin (its own port, docs/protocol.md), computed from the running server.

Without a build, ``/`` explains how to make one to a browser and other paths fall through to
the API (its JSON index and 404s).
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from ruang.app import Runtime

API_PREFIXES = ("/api/", "/docs", "/redoc")
API_PATHS = frozenset({"/api", "/healthz", "/openapi.json"})
NO_CACHE = frozenset({"/index.html", "/sw.js", "/manifest.webmanifest", "/offline.html"})
STATIC_SUFFIXES = frozenset({".js", ".css", ".png", ".svg", ".ico", ".map", ".json", ".txt",
                             ".webmanifest", ".webp", ".woff2", ".gz", ".br"})
TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript",
         ".svg": "image/svg+xml", ".css": "text/css"}

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Ruang</title></head>
<body><h1>Ruang is running; its web app is not built</h1>
<p>Build it once with <code>scripts/run</code> (it builds what is missing), or by hand:
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code> (Node.js 20 or newer). The server
looks for it in <code>{folder}</code> (<code>RUANG_WEB_DIR</code>).</p>
<p>The API is at <a href="/docs">/docs</a>.</p></body></html>"""


def content_security_policy(realtime_url: str, *extra: str) -> str:
    """The policy for the app's HTML. ``connect-src`` names the realtime listener's origin
    (and ``extra`` origins, e.g. the same listener reached by the page's own host name)."""
    parts = urlsplit(realtime_url)
    connect = "'self'"
    if parts.scheme in ("ws", "wss") and parts.netloc:
        connect += f" {parts.scheme}://{parts.netloc}"
    for origin in extra:
        if origin not in connect.split():
            connect += f" {origin}"
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'",
        "img-src 'self' data: blob:", "media-src 'self' blob:", f"connect-src {connect}",
        "manifest-src 'self'", "worker-src 'self'", "font-src 'self'", "frame-ancestors 'none'",
        "base-uri 'none'", "form-action 'self'", "object-src 'none'",
    ])


def is_api(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


class WebApp:
    """The middleware: serves the build in ``folder`` in front of ``app``."""

    def __init__(self, app: ASGIApp, folder: Path) -> None:
        self.app = app
        self.folder = folder.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or \
                is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        index = self.folder / "index.html"
        if not index.is_file():
            if path == "/" and "text/html" in headers.get("accept", ""):
                await self._respond(send, scope, 200, NOT_BUILT.format(folder=self.folder)
                                    .encode(), self._html_headers(scope, "no-cache"))
                return
            await self.app(scope, receive, send)
            return
        file = self._file(path)
        if file is None:
            suffix = Path(path).suffix.lower()
            if path.startswith("/assets/") or suffix in STATIC_SUFFIXES:
                await self._respond(send, scope, 404, b"not found\n", [
                    ("content-type", "text/plain; charset=utf-8"),
                    ("cache-control", "no-cache"), *self._common()])
                return
            if "text/html" not in headers.get("accept", ""):
                # Not a browser page load (an API client, curl): the API answers (its JSON
                # index at /, or not_found).
                await self.app(scope, receive, send)
                return
            file, path = index, "/index.html"  # the app's own routes: /rooms/12, /@bob ...
        await self._serve(scope, send, file, path, headers)

    def _file(self, path: str) -> Path | None:
        rel = unquote(path).lstrip("/")
        if not rel or rel.endswith("/"):
            return None
        candidate = (self.folder / rel).resolve()
        if not candidate.is_relative_to(self.folder) or not candidate.is_file() or \
                candidate.suffix in (".gz", ".br"):
            return None
        return candidate

    async def _serve(self, scope: Scope, send: Send, file: Path, path: str,
                     headers: dict[str, str]) -> None:
        if path.startswith("/assets/"):
            cache = "public, max-age=31536000, immutable"
        elif path in NO_CACHE:
            cache = "no-cache"
        else:
            cache = "public, max-age=3600"
        accept = headers.get("accept-encoding", "")
        body_file, encoding = file, None
        for enc, ext in (("br", ".br"), ("gzip", ".gz")):
            compressed = file.with_name(file.name + ext)
            if enc in accept and compressed.is_file():
                body_file, encoding = compressed, enc
                break
        stat = body_file.stat()
        etag = '"' + hashlib.sha1(f"{body_file.name}:{stat.st_size}:{stat.st_mtime_ns}"
                                  .encode()).hexdigest()[:20] + '"'
        out: list[tuple[str, str]] = [
            ("content-type", self._type(file)), ("cache-control", cache), ("etag", etag),
            ("vary", "Accept-Encoding"), *self._common()]
        if encoding:
            out.append(("content-encoding", encoding))
        if file.suffix == ".html":
            out += self._security(scope)
        if etag in {t.strip() for t in headers.get("if-none-match", "").split(",")}:
            await self._respond(send, scope, 304, b"", out)
            return
        await self._respond(send, scope, 200, body_file.read_bytes(), out)

    @staticmethod
    def _type(file: Path) -> str:
        kind = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or \
            "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/manifest+json", "image/svg+xml"):
            kind += "; charset=utf-8"
        return kind

    @staticmethod
    def _common() -> list[tuple[str, str]]:
        return [("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin")]

    def _security(self, scope: Scope) -> list[tuple[str, str]]:
        runtime: Runtime | None = getattr(getattr(scope.get("app"), "state", None), "runtime",
                                          None)
        realtime_url = runtime.realtime.url if runtime is not None else ""
        extra: list[str] = []
        if runtime is not None and not runtime.settings.realtime_public_url:
            # The listener on its own port, reached by the host name the page was loaded from
            # (a server on 0.0.0.0 reports 127.0.0.1; see server-needs: the lead's side).
            host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
            hostname = urlsplit(f"//{host}").hostname
            if hostname:
                name = f"[{hostname}]" if ":" in hostname else hostname
                extra.append(f"ws://{name}:{runtime.realtime.port}")
        return [("content-security-policy", content_security_policy(realtime_url, *extra)),
                ("x-frame-options", "DENY"),
                ("permissions-policy", "microphone=(self), camera=(), geolocation=()")]

    def _html_headers(self, scope: Scope, cache: str) -> list[tuple[str, str]]:
        return [("content-type", "text/html; charset=utf-8"), ("cache-control", cache),
                *self._common(), *self._security(scope)]

    @staticmethod
    async def _respond(send: Send, scope: Scope, status: int, body: bytes,
                       headers: list[tuple[str, str]]) -> None:
        raw: list[Any] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if status != 304:
            raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" or status == 304 else body})
