"""One's own account against a real server (SQLite and PostgreSQL): password reset, address
change, sessions, API keys, CSRF and the WebSocket's origin check."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from websockets.exceptions import InvalidStatus

from ruang.actions.members import hash_token
from ruang.api.deps import COOKIE
from ruang.client.api import ApiError, RuangClient
from ruang.client.realtime import Realtime
from ruang.storage.models import AuthSession, EmailToken, utcnow
from tests.integration.kit import PASSWORD, Kit, check_no_server_error, error_of, wait_closed
from tests.integration.rawws import RawWS


@pytest.fixture
async def kit(live: Any) -> AsyncIterator[Kit]:
    async with Kit(live) as k:
        yield k


@pytest.fixture
async def realtimes() -> AsyncIterator[list[Realtime]]:
    opened: list[Realtime] = []
    yield opened
    for rt in opened:
        await rt.close()


async def open_realtime(client: RuangClient, opened: list[Realtime]) -> Realtime:
    rt = Realtime(client, reconnect=False)
    await rt.connect()
    opened.append(rt)
    return rt


async def still_open(rt: Realtime) -> None:
    assert (await rt.request({"type": "ping"}, timeout=5))["type"] == "pong"


# --- password reset -------------------------------------------------------------------------


async def test_password_reset(kit: Kit, realtimes: list[Realtime]) -> None:
    phone = await kit.member("reset_me", email="Reset.Me@example.org")
    laptop = await kit.login("reset_me")
    rt = await open_realtime(phone, realtimes)
    assert (await kit.row("reset_me")).email_verified_at is None

    known = await kit.anon.call("POST", "/api/v1/auth/password-reset",
                                json={"email": "reset.me@EXAMPLE.org"})
    unknown = await kit.anon.call("POST", "/api/v1/auth/password-reset",
                                  json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    await kit.anon.fails("POST", "/api/v1/auth/password-reset", 400, "invalid_input",
                         json={"email": "not-an-address"})
    sent = await kit.new_mail()
    assert [(m.to, m.kind) for m in sent] == [("Reset.Me@example.org", "reset")]
    token = kit.token_in(sent[0], "reset")

    # A password the rules refuse does not use the link up.
    await kit.anon.fails("POST", "/api/v1/auth/password-reset/confirm", 400, "invalid_input",
                         json={"token": token, "password": "reset_me-2025!"})
    await phone.get("/api/v1/me")
    await kit.anon.ok("POST", "/api/v1/auth/password-reset/confirm", status=204,
                      json={"token": token, "password": "a-brand-new-secret"})

    # Every login session ended, and the open WebSocket was closed at once.
    await wait_closed(rt, timeout=3)
    for client in (phone, laptop):
        await client.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await kit.anon.fails("POST", "/api/v1/auth/login", 401, "invalid_credentials",
                         json={"username": "reset_me", "password": PASSWORD})
    fresh = await kit.login("reset_me", "a-brand-new-secret")
    # The link reached the address: it is verified now.
    assert (await fresh.get("/api/v1/me"))["email_verified"] is True
    # The link works once.
    await kit.anon.fails("POST", "/api/v1/auth/password-reset/confirm", 400, "token_invalid",
                         json={"token": token, "password": "yet-another-secret"})
    await kit.anon.fails("POST", "/api/v1/auth/password-reset/confirm", 400, "token_invalid",
                         json={"token": "x" * 43, "password": "yet-another-secret"})

    # An expired link does nothing.
    await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                      json={"email": "reset.me@example.org"})
    late = await kit.link_token("reset.me@example.org", "reset")
    assert late != token
    await kit.execute(update(EmailToken).where(EmailToken.token_hash == hash_token(late))
                      .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    await kit.anon.fails("POST", "/api/v1/auth/password-reset/confirm", 400, "token_invalid",
                         json={"token": late, "password": "yet-another-secret"})
    await fresh.get("/api/v1/me")


# --- address change -------------------------------------------------------------------------


async def test_changing_the_email_address(kit: Kit) -> None:
    mover = await kit.member("mover", email="old@example.org")
    rival = await kit.member("rival", email="rival@example.org")
    await mover.fails("POST", "/api/v1/me/email", 400, "invalid_input",
                      json={"email": "nope"})
    await mover.fails("POST", "/api/v1/me/email", 409, "already_member",
                      json={"email": "RIVAL@example.org"})

    await mover.ok("POST", "/api/v1/me/email", status=202, json={"email": "New@example.org"})
    me = await mover.get("/api/v1/me")
    assert (me["email"], me["email_verified"]) == ("old@example.org", False)
    token = await kit.link_token("new@example.org", "verify", "verify")
    assert await kit.mail_to("rival@example.org") == []
    confirmed = await kit.anon.ok("POST", "/api/v1/auth/verify-email", status=200,
                                  json={"token": token})
    assert confirmed["username"] == "mover"
    me = await mover.get("/api/v1/me")
    assert (me["email"], me["email_verified"]) == ("New@example.org", True)
    await kit.anon.fails("POST", "/api/v1/auth/verify-email", 400, "token_invalid",
                         json={"token": token})
    await kit.anon.fails("POST", "/api/v1/auth/verify-email", 400, "token_invalid",
                         json={"token": "y" * 43})

    # The old address no longer resets the password; the new one does.
    await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                      json={"email": "old@example.org"})
    await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                      json={"email": "new@example.org"})
    assert await kit.mail_to("old@example.org") == []
    assert await kit.link_token("new@example.org", "reset", "reset")

    # Two members asked for the same free address: whoever confirms first gets it.
    await mover.ok("POST", "/api/v1/me/email", status=202, json={"email": "shared@example.org"})
    await rival.ok("POST", "/api/v1/me/email", status=202, json={"email": "Shared@example.org"})
    mover_link, rival_link = [kit.token_in(m, "verify")
                              for m in await kit.mail_to("shared@example.org", "verify")]
    await kit.anon.ok("POST", "/api/v1/auth/verify-email", status=200,
                      json={"token": rival_link})
    await kit.anon.fails("POST", "/api/v1/auth/verify-email", 409, "already_member",
                         json={"token": mover_link})
    assert (await mover.get("/api/v1/me"))["email"] == "New@example.org"
    assert (await rival.get("/api/v1/me"))["email"] == "Shared@example.org"


# --- sessions and API keys ------------------------------------------------------------------


async def login_as(kit: Kit, username: str, user_agent: str) -> dict[str, Any]:
    resp = await kit.anon.call("POST", "/api/v1/auth/login",
                               json={"username": username, "password": PASSWORD},
                               headers={"User-Agent": user_agent})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_sessions_are_listed_and_revoked_one_by_one(kit: Kit,
                                                          realtimes: list[Realtime]) -> None:
    await kit.member("sam")
    other = await kit.member("other")
    logins = [await login_as(kit, "sam", agent)
              for agent in ("Phone/1.0", "Laptop/2.0", "Tablet/3.0")]
    phone, laptop, tablet = (kit.client(b["token"]) for b in logins)
    listed = await phone.get("/api/v1/sessions")
    assert len(listed) == 4  # and the one kit.member made
    assert {s["kind"] for s in listed} == {"session"}
    current = [s for s in listed if s["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == "Phone/1.0"
    laptop_id = next(s["id"] for s in listed if s["user_agent"] == "Laptop/2.0")
    assert [s["id"] for s in await laptop.get("/api/v1/sessions") if s["current"]] == \
        [laptop_id]

    rt = await open_realtime(laptop, realtimes)
    # Another member cannot end it; an API key's id is not a session's.
    await other.fails("DELETE", f"/api/v1/sessions/{laptop_id}", 404, "not_found")
    key = await phone.ok("POST", "/api/v1/api-keys", status=201, json={"name": "bot"})
    await phone.fails("DELETE", f"/api/v1/sessions/{key['id']}", 404, "not_found")
    await laptop.get("/api/v1/me")

    await phone.ok("DELETE", f"/api/v1/sessions/{laptop_id}", status=204)
    await wait_closed(rt, timeout=3)
    await laptop.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await phone.fails("DELETE", f"/api/v1/sessions/{laptop_id}", 404, "not_found")
    assert laptop_id not in [s["id"] for s in await tablet.get("/api/v1/sessions")]
    assert len(await tablet.get("/api/v1/sessions")) == 3
    # Ending one's own session is logging out.
    phone_id = current[0]["id"]
    await phone.ok("DELETE", f"/api/v1/sessions/{phone_id}", status=204)
    await phone.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await tablet.get("/api/v1/me")


async def test_logout_everywhere_ends_sessions_but_not_api_keys(
        kit: Kit, realtimes: list[Realtime]) -> None:
    one = await kit.member("kim")
    two = await kit.login("kim")
    key = await one.ok("POST", "/api/v1/api-keys", status=201, json={"name": "radio bot"})
    bot = kit.client(key["token"])
    rt_two = await open_realtime(two, realtimes)
    rt_bot = await open_realtime(bot, realtimes)
    await one.ok("POST", "/api/v1/auth/logout-everywhere", status=204)
    await wait_closed(rt_two, timeout=3)
    for client in (one, two):
        await client.fails("GET", "/api/v1/me", 401, "not_authenticated")
    assert (await bot.get("/api/v1/me"))["username"] == "kim"
    await still_open(rt_bot)
    assert [k["name"] for k in await bot.get("/api/v1/api-keys")] == ["radio bot"]
    assert await bot.get("/api/v1/sessions") == []


async def test_api_keys(kit: Kit, realtimes: list[Realtime]) -> None:
    owner = await kit.member("botmaker")
    for name in ("", "   ", "x" * 65):
        await owner.fails("POST", "/api/v1/api-keys", 400, "invalid_input", json={"name": name})
    created = await owner.ok("POST", "/api/v1/api-keys", status=201,
                             json={"name": "  Deploy   bot "})
    assert set(created) == {"id", "name", "token", "created_at"}
    assert created["name"] == "Deploy bot"
    token = created["token"]
    assert token.startswith("rk_")
    assert len(token) > 40

    # Shown once: listings never hold it, and the database keeps only its hash.
    listed = await owner.get("/api/v1/api-keys")
    assert [(k["id"], k["name"], k["kind"], k["current"]) for k in listed] == \
        [(created["id"], "Deploy bot", "api_key", False)]
    assert token not in str(listed)
    assert created["id"] not in [s["id"] for s in await owner.get("/api/v1/sessions")]
    async with kit.svc.db.read() as s:
        row = await s.get(AuthSession, created["id"])
        assert row is not None
        assert row.token_hash == hash_token(token)
        assert (await s.execute(select(AuthSession).where(AuthSession.token_hash == token))
                ).first() is None

    # The SDK works with it, REST and WebSocket.
    async with RuangClient(kit.url, token=token) as sdk:
        assert (await sdk.me())["username"] == "botmaker"
        room = await sdk.create_room("Bot room")
        rt = await open_realtime(sdk, realtimes)
        session = await rt.join(room["id"])
        await session.wait_for(lambda s: s.me is not None)
        listed = await sdk._request("GET", "/api/v1/api-keys")
        assert [k["current"] for k in listed] == [True]

        await owner.fails("DELETE", "/api/v1/api-keys/424242", 404, "not_found")
        await owner.ok("DELETE", f"/api/v1/api-keys/{created['id']}", status=204)
        await wait_closed(rt, timeout=3)
        with pytest.raises(ApiError) as revoked:
            await sdk.me()
        assert (revoked.value.status, revoked.value.code) == (401, "not_authenticated")
    await owner.fails("DELETE", f"/api/v1/api-keys/{created['id']}", 404, "not_found")
    assert await owner.get("/api/v1/api-keys") == []
    # A login session is not an API key.
    own_session = (await owner.get("/api/v1/sessions"))[0]["id"]
    await owner.fails("DELETE", f"/api/v1/api-keys/{own_session}", 404, "not_found")
    await owner.get("/api/v1/me")


# --- CSRF and the WebSocket origin ----------------------------------------------------------


async def test_cookie_sessions_need_the_csrf_token_for_changes(kit: Kit) -> None:
    await kit.member("browser_user")
    async with httpx.AsyncClient(base_url=kit.url, timeout=15) as browser:
        async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            resp = await browser.request(method, path, **kwargs)
            check_no_server_error(resp)
            return resp

        login = await call("POST", "/api/v1/auth/login",
                           json={"username": "browser_user", "password": PASSWORD})
        assert login.status_code == 200
        csrf = login.json()["csrf_token"]
        token = login.json()["token"]
        assert browser.cookies.get(COOKIE) == token
        assert browser.cookies.get("ruang_csrf") == csrf
        good = {"X-CSRF-Token": csrf}
        me = await call("GET", "/api/v1/me")
        assert me.status_code == 200
        assert me.json()["csrf_token"] == csrf

        other = await kit.login("browser_user")
        changes = [("POST", "/api/v1/invites", {"json": {"email": "friend@example.org"}}),
                   ("PATCH", "/api/v1/me/profile", {"json": {"headline": "Hello"}}),
                   ("POST", "/api/v1/rooms", {"json": {"title": "Cookie room"}}),
                   ("POST", "/api/v1/api-keys", {"json": {"name": "k"}}),
                   ("PUT", "/api/v1/me/avatar", {"files": {"file": ("a.png", b"x", "image/png")}}),
                   ("POST", "/api/v1/auth/logout-everywhere", {})]
        for method, path, kwargs in changes:
            for headers in ({}, {"X-CSRF-Token": "0" * 32}, {"X-CSRF-Token": other.csrf or ""}):
                error_of(await call(method, path, headers=headers, **kwargs), 403,
                         "csrf_failed")
        me = await call("GET", "/api/v1/me")
        assert me.json()["invites_left"] == 2
        assert (await other.get("/api/v1/members/browser_user"))["headline"] == ""
        assert await other.get("/api/v1/api-keys") == []

        invite = await call("POST", "/api/v1/invites", headers=good,
                            json={"email": "friend@example.org"})
        assert invite.status_code == 201, invite.text
        resp = await call("PATCH", "/api/v1/me/profile", headers=good,
                          json={"headline": "Hello"})
        assert resp.status_code == 200
        assert resp.json()["headline"] == "Hello"
        resp = await call("DELETE", f"/api/v1/invites/{invite.json()['id']}")
        error_of(resp, 403, "csrf_failed")
        resp = await call("DELETE", f"/api/v1/invites/{invite.json()['id']}", headers=good)
        assert resp.status_code == 204

    # The same session as a bearer token needs no CSRF token: a browser never sends it alone.
    bearer = kit.client(token)
    await bearer.ok("POST", "/api/v1/rooms", status=201, json={"title": "Bearer room"})
    await bearer.ok("PATCH", "/api/v1/me/profile", json={"headline": "Bearer"})


async def test_a_cookie_websocket_from_another_site_is_refused(kit: Kit) -> None:
    member = await kit.member("ws_user")
    token = member.token
    assert token is not None
    session_cookie = {"Cookie": f"{COOKIE}={token}"}
    for origin in ("https://evil.example", "null", kit.url.replace("127.0.0.1", "localhost"),
                   kit.url + ".evil.example"):
        with pytest.raises(InvalidStatus) as refused:
            await RawWS.open(kit.url, headers={**session_cookie, "Origin": origin},
                             hello=False)
        assert refused.value.response.status_code == 403

    accepted = [{**session_cookie, "Origin": kit.url},
                {**session_cookie, "Origin": kit.url + "/"},
                session_cookie,  # no Origin: not a browser
                {"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}]
    for headers in accepted:
        conn = await RawWS.open(kit.url, headers=headers, hello=False)
        try:
            welcome = await conn.request({"type": "hello", "protocol": 1})
            assert welcome["type"] == "welcome", (headers, welcome)
            assert welcome["member"]["username"] == "ws_user"
        finally:
            await conn.close()
    # Without credentials any origin may connect, but it is nobody until it says hello.
    conn = await RawWS.open(kit.url, headers={"Origin": "https://evil.example"}, hello=False)
    try:
        answer = await conn.request({"type": "hello", "protocol": 1})
        assert (answer["type"], answer["code"]) == ("error", "not_authenticated")
    finally:
        await conn.close()
