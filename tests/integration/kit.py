"""Helpers for the membership tests: members as HTTP clients, the mail folder, the tokens in
email links, pictures, and direct database changes (expiry dates and the like).

Every raw call made through :class:`Client` is checked for the one thing no answer may ever
be: a server error (status 500, or a traceback in the body).
"""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, select

from ruang.actions import members as member_actions
from ruang.client.api import RuangClient
from ruang.client.realtime import Realtime
from ruang.mail import Email, FileMailer, find_links, read_message
from ruang.storage.models import Member, OutboxEmail, utcnow

PASSWORD = "tambourine-42"

_ELLIPSIS: Any = ...


def check_no_server_error(resp: httpx.Response) -> None:
    where = f"{resp.request.method} {resp.request.url.path}"
    assert resp.status_code < 500 or resp.status_code == 503, \
        f"{where} answered {resp.status_code}: {resp.text[:500]}"
    assert "Traceback" not in resp.text, f"{where} leaked a traceback: {resp.text[:500]}"
    assert 'File "' not in resp.text, f"{where} leaked a traceback: {resp.text[:500]}"


def error_of(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message"[, "details"]}} with this status."""
    where = f"{resp.request.method} {resp.request.url.path}"
    assert resp.status_code == status, f"{where}: {resp.status_code} {resp.text[:500]}"
    assert resp.headers["content-type"].startswith("application/json"), where
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code, f"{where}: {err}"
    assert isinstance(err["message"], str)
    assert err["message"]
    return dict(err)


class Client(RuangClient):
    """The SDK client (so Realtime can use it) plus raw calls that return the response.

    ``call`` sends the bearer token (if any) and never a cookie: the cookie jar is cleared
    after every call, so an anonymous client stays anonymous whatever the server sets."""

    def __init__(self, server: str, *, token: str | None = None, member_id: int | None = None,
                 username: str | None = None, csrf: str | None = None) -> None:
        super().__init__(server, token=token)
        self.id = member_id
        self.username = username
        self.csrf = csrf
        if member_id is not None:
            self.member = {"id": member_id, "username": username}

    async def call(self, method: str, path: str, *, token: str | None = _ELLIPSIS,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        token = self.token if token is _ELLIPSIS else token
        sent = dict(headers or {})
        if token:
            sent.setdefault("Authorization", f"Bearer {token}")
        try:
            resp = await self._http.request(method, path, headers=sent, **kwargs)
        finally:
            self._http.cookies.clear()
        check_no_server_error(resp)
        return resp

    async def ok(self, method: str, path: str, status: int | None = None,
                 **kwargs: Any) -> Any:
        """Call and expect success (``status``, or any 2xx); returns the JSON body or None."""
        resp = await self.call(method, path, **kwargs)
        if status is None:
            assert 200 <= resp.status_code < 300, \
                f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        else:
            assert resp.status_code == status, \
                f"{method} {path}: {resp.status_code} {resp.text[:500]}"
        return resp.json() if resp.content else None

    async def fails(self, method: str, path: str, status: int, code: str,
                    **kwargs: Any) -> dict[str, Any]:
        return error_of(await self.call(method, path, **kwargs), status, code)

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.ok("GET", path, **kwargs)


class Kit:
    """Members, anonymous clients and the mail folder of one live server."""

    def __init__(self, live: Any) -> None:
        self.live = live
        self.url: str = live.url
        self.runtime = live.runtime
        self.svc = live.runtime.svc
        self.settings = live.runtime.settings
        self._clients: list[Client] = []
        self._seen: set[Path] = set()
        self.mails: list[Email] = []
        self.anon = self.client()

    async def __aenter__(self) -> Kit:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for client in self._clients:
            await client.close()

    def client(self, token: str | None = None, **kwargs: Any) -> Client:
        client = Client(self.url, token=token, **kwargs)
        self._clients.append(client)
        return client

    async def member(self, username: str, *, email: str | None = None, admin: bool = False,
                     display_name: str | None = None, password: str = PASSWORD) -> Client:
        """Create a member (as the CLI does) and return a client logged in as them."""
        await member_actions.create_member(self.svc, username, password, email=email,
                                           is_admin=admin, display_name=display_name)
        return await self.login(username, password)

    async def login(self, username: str, password: str = PASSWORD) -> Client:
        """A new login session of an existing member."""
        resp = await self.anon.call("POST", "/api/v1/auth/login",
                                    json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return self.client(body["token"], member_id=body["member"]["id"],
                           username=body["member"]["username"], csrf=body["csrf_token"])

    async def info(self, username: str) -> member_actions.MemberInfo:
        return await member_actions.find_member(self.svc, username)

    async def row(self, username: str) -> Member:
        async with self.svc.db.read() as s:
            return (await s.execute(select(Member).where(
                Member.username_key == username.lower()))).scalar_one()

    async def execute(self, statement: Any) -> None:
        async with self.svc.db.transaction() as s:
            await s.execute(statement)

    # --- mail ---------------------------------------------------------------------------

    @property
    def mailer(self) -> FileMailer:
        mailer = self.runtime.mailer
        assert isinstance(mailer, FileMailer)
        return mailer

    async def settle_outbox(self, timeout: float = 10.0) -> None:
        """Send what the outbox holds now; wait for what the server's own worker is sending
        (a row it claimed is committed as sent only once its file is written)."""
        async with asyncio.timeout(timeout):
            while True:
                await self.runtime.flush_outbox()
                async with self.svc.db.read() as s:
                    due = (await s.execute(select(func.count()).select_from(OutboxEmail).where(
                        OutboxEmail.sent_at.is_(None), OutboxEmail.failed_at.is_(None),
                        OutboxEmail.next_attempt_at <= utcnow()))).scalar_one()
                if not due:
                    return
                await asyncio.sleep(0.01)

    async def new_mail(self) -> list[Email]:
        """Send what the outbox holds now, and return the messages written since last time."""
        await self.settle_outbox()
        fresh = []
        for path in self.mailer.messages():
            if path not in self._seen:
                self._seen.add(path)
                fresh.append(read_message(path))
        self.mails.extend(fresh)
        return fresh

    async def mail_to(self, address: str, kind: str | None = None) -> list[Email]:
        """Every message sent so far to this address (of this kind), oldest first."""
        await self.new_mail()
        return [m for m in self.mails if m.to.lower() == address.lower()
                and (kind is None or m.kind == kind)]

    async def last_mail(self, address: str, kind: str | None = None) -> Email:
        found = await self.mail_to(address, kind)
        assert found, f"no {kind or ''} email to {address}; sent: " + \
            repr([(m.to, m.kind) for m in self.mails])
        return found[-1]

    def token_in(self, email: Email, page: str) -> str:
        """The token of the ``{base_url}/{page}/<token>`` link in an email."""
        prefix = f"{self.settings.base_url}/{page}/"
        links = [link for link in find_links(email.text) if link.startswith(prefix)]
        assert len(links) == 1, (page, email.text)
        token = links[0][len(prefix):]
        assert token
        assert "/" not in token
        # The HTML part carries the same link.
        assert email.html is not None
        assert links[0] in email.html
        return token

    async def link_token(self, address: str, page: str, kind: str | None = None) -> str:
        return self.token_in(await self.last_mail(address, kind), page)


# --- pictures --------------------------------------------------------------------------------


def png(size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress (random pixels): about 3 bytes per pixel."""
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, format="PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (32, 32), 3).save(out, format="GIF")
    return out.getvalue()


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A small PNG file whose header claims a huge picture (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    idat = zlib.compress(row * 64, 9)  # the start of the rows; the rest is "missing"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def avatar_file(data: bytes, name: str = "me.png",
                content_type: str = "image/png") -> dict[str, Any]:
    return {"files": {"file": (name, data, content_type)}}


# --- WebSockets ------------------------------------------------------------------------------


async def wait_closed(rt: Realtime, timeout: float = 5.0) -> None:
    """Wait until the server closed this Realtime's socket (made with reconnect=False)."""
    reader = rt._reader
    assert reader is not None
    await asyncio.wait_for(asyncio.shield(reader), timeout)
    assert rt._ws is not None
    assert rt._ws.close_code is not None
