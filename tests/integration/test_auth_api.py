"""Sessions and the shape of every REST error, against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest

from ruang.actions import members as member_actions
from ruang.api.deps import COOKIE
from ruang.errors import all_codes
from tests.integration.rawws import use_fast_hashing

PASSWORD = "correct horse battery"


@pytest.fixture
async def http(live: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    use_fast_hashing(live, monkeypatch)
    async with httpx.AsyncClient(base_url=live.url, timeout=15) as client:
        yield client


@pytest.fixture
async def alice(live: Any, monkeypatch: pytest.MonkeyPatch) -> member_actions.MemberInfo:
    use_fast_hashing(live, monkeypatch)
    return await member_actions.create_member(live.runtime.svc, "alice", PASSWORD,
                                              display_name="Alice A.")


async def login(http: httpx.AsyncClient, username: str = "alice",
                password: str = PASSWORD) -> httpx.Response:
    return await http.post("/api/v1/auth/login",
                           json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message"[, "details"]}}, JSON, no traceback."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) in ({"code", "message"}, {"code", "message", "details"}), err
    assert err["code"] == code, err
    assert isinstance(err["message"], str)
    assert err["message"]
    assert "Traceback" not in resp.text
    assert 'File "' not in resp.text
    return dict(err)


async def test_login_sets_a_strict_http_only_cookie_and_returns_a_token(live, http,
                                                                        alice) -> None:
    resp = await login(http)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["member"] == {"id": alice.id, "username": "alice", "display_name": "Alice A.",
                              "is_admin": False}
    token = body["token"]
    assert token.startswith("rg_")
    assert len(token) > 30
    assert body["expires_at"]

    cookie: SimpleCookie = SimpleCookie()
    for header in resp.headers.get_list("set-cookie"):
        cookie.load(header)
    morsel = cookie[COOKIE]
    assert morsel.value == token
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == live.runtime.settings.session_days * 86400
    # The CSRF cookie is readable by the page (not HttpOnly) and also strict.
    csrf = cookie["ruang_csrf"]
    assert csrf.value == body["csrf_token"]
    assert not csrf["httponly"]
    assert csrf["samesite"].lower() == "strict"


async def test_bearer_token_and_cookie_both_authenticate(live, alice) -> None:
    async with httpx.AsyncClient(base_url=live.url) as browser:
        token = (await login(browser)).json()["token"]
        # The browser sends only the cookie it was given.
        assert browser.cookies.get(COOKIE) == token
        resp = await browser.get("/api/v1/me")
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == alice.id
    async with httpx.AsyncClient(base_url=live.url) as sdk:
        resp = await sdk.get("/api/v1/me", headers=bearer(token))
        assert resp.status_code == 200, resp.text
        assert resp.json()["username"] == "alice"
        assert not sdk.cookies
        assert_error(await sdk.get("/api/v1/me"), 401, "not_authenticated")
        assert_error(await sdk.get("/api/v1/me", headers=bearer("rg_not-a-real-token")),
                     401, "not_authenticated")
        assert_error(await sdk.get("/api/v1/me", headers=bearer("garbage")),
                     401, "not_authenticated")
        assert_error(await sdk.get("/api/v1/me", headers=cookie("rg_forged")),
                     401, "not_authenticated")


async def test_logout_revokes_the_bearer_token(live, http, alice) -> None:
    token = (await login(http)).json()["token"]
    http.cookies.clear()
    resp = await http.post("/api/v1/auth/logout", headers=bearer(token))
    assert resp.status_code == 204
    assert_error(await http.get("/api/v1/me", headers=bearer(token)), 401, "not_authenticated")


async def test_logout_with_the_cookie_revokes_it_and_clears_it(live, alice) -> None:
    async with httpx.AsyncClient(base_url=live.url) as browser:
        body = (await login(browser)).json()
        token = body["token"]
        # A cookie-authenticated change needs the CSRF token, so another site cannot forge it.
        assert_error(await browser.post("/api/v1/auth/logout"), 403, "csrf_failed")
        assert_error(await browser.post("/api/v1/auth/logout",
                                        headers={"x-csrf-token": "0" * 32}), 403, "csrf_failed")
        resp = await browser.post("/api/v1/auth/logout",
                                  headers={"x-csrf-token": body["csrf_token"]})
        assert resp.status_code == 204
        cleared: SimpleCookie = SimpleCookie()
        for header in resp.headers.get_list("set-cookie"):
            cleared.load(header)
        assert cleared[COOKIE].value == ""
        assert not browser.cookies.get(COOKIE)
        assert_error(await browser.get("/api/v1/me", headers=cookie(token)), 401,
                     "not_authenticated")


async def test_logout_without_a_session(live, http) -> None:
    assert_error(await http.post("/api/v1/auth/logout"), 401, "not_authenticated")


async def test_two_logins_are_two_independent_sessions(live, alice) -> None:
    async with httpx.AsyncClient(base_url=live.url) as one, \
            httpx.AsyncClient(base_url=live.url) as two:
        first = (await login(one)).json()
        t1, t2 = first["token"], (await login(two)).json()["token"]
        assert t1 != t2
        for client in (one, two):
            resp = await client.get("/api/v1/me")
            assert resp.status_code == 200
            assert resp.json()["id"] == alice.id
        assert (await one.post("/api/v1/auth/logout",
                               headers={"x-csrf-token": first["csrf_token"]})).status_code == 204
        assert_error(await one.get("/api/v1/me", headers=bearer(t1)), 401, "not_authenticated")
        resp = await two.get("/api/v1/me", headers=bearer(t2))
        assert resp.status_code == 200
        assert resp.json()["id"] == alice.id


async def test_wrong_credentials(live, http, alice) -> None:
    for username, password in [("alice", "wrong password"), ("nobody", PASSWORD),
                               ("ALICE", "wrong password")]:
        assert_error(await login(http, username, password), 401, "invalid_credentials")
    # The username is case-insensitive.
    resp = await login(http, "ALICE")
    assert resp.status_code == 200
    assert resp.json()["member"]["username"] == "alice"


async def test_invalid_json_body_is_invalid_input_with_details(live, http) -> None:
    resp = await http.post("/api/v1/auth/login", content=b'{"username": "alice", ',
                           headers={"content-type": "application/json"})
    err = assert_error(resp, 400, "invalid_input")
    assert err["details"]
    assert all(set(d) == {"field", "problem"} for d in err["details"])


async def test_missing_and_extra_fields_are_invalid_input_naming_them(live, http) -> None:
    err = assert_error(await http.post("/api/v1/auth/login", json={}), 400, "invalid_input")
    assert {d["field"] for d in err["details"]} == {"username", "password"}

    err = assert_error(await http.post("/api/v1/auth/login",
                                       json={"username": "alice", "password": 5, "x": 1}),
                       400, "invalid_input")
    assert {d["field"] for d in err["details"]} == {"password", "x"}

    err = assert_error(await http.post("/api/v1/auth/login", json=["alice"]), 400,
                       "invalid_input")
    assert err["details"]


async def test_invalid_input_on_authenticated_routes(live, http, alice) -> None:
    token = (await login(http)).json()["token"]
    http.cookies.clear()
    auth = bearer(token)
    err = assert_error(await http.post("/api/v1/rooms", json={"title": ""}, headers=auth),
                       400, "invalid_input")
    assert [d["field"] for d in err["details"]] == ["title"]
    err = assert_error(await http.get("/api/v1/rooms/abc", headers=auth), 400, "invalid_input")
    assert [d["field"] for d in err["details"]] == ["path.room_id"]
    assert_error(await http.post("/api/v1/rooms", json={"title": "   "}, headers=auth),
                 400, "invalid_input")


async def test_ids_no_room_or_member_can_have_are_client_errors(live, http, alice) -> None:
    """An id out of any table's range is 'no such room/member' (or invalid input), never a
    server error."""
    token = (await login(http)).json()["token"]
    http.cookies.clear()

    def refused(resp: httpx.Response, not_found: str) -> None:
        assert resp.status_code in (400, 404), resp.text
        assert_error(resp, resp.status_code,
                     not_found if resp.status_code == 404 else "invalid_input")

    for room_id in (0, -1, 424242, 2**63, 10**30):
        refused(await http.get(f"/api/v1/rooms/{room_id}", headers=bearer(token)),
                "room_not_found")
        refused(await http.post(f"/api/v1/rooms/{room_id}/end", headers=bearer(token)),
                "room_not_found")
    room = (await http.post("/api/v1/rooms", json={"title": "Ids"}, headers=bearer(token)))
    assert room.status_code == 201
    for ref in ("424242", "@nobody", str(2**63), "9" * 40, "\u00b2"):
        refused(await http.post(f"/api/v1/rooms/{room.json()['id']}/stage/invite",
                                json={"member": ref}, headers=bearer(token)),
                "member_not_found")


async def test_healthz_reports_storage_up_and_media_disabled(live, http) -> None:
    resp = await http.get("/healthz")
    assert resp.status_code == 200
    report = resp.json()
    assert report["status"] == "ok"
    assert report["storage"] == {"status": "up",
                                 "backend": live.runtime.db.backend}
    assert report["media"] == {"status": "disabled"}
    assert report["bus"]["kind"] == "memory"


async def test_unknown_paths_are_json_404s(live, http) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v2/me"):
        assert_error(await http.get(path), 404, "not_found")


async def test_routes_need_a_session(live, http) -> None:
    for method, path, body in [("GET", "/api/v1/me", None), ("GET", "/api/v1/rooms", None),
                               ("POST", "/api/v1/rooms", {"title": "x"}),
                               ("GET", "/api/v1/rooms/1", None),
                               ("POST", "/api/v1/rooms/1/end", None),
                               ("POST", "/api/v1/rooms/1/stage/invite", {"member": "bob"})]:
        assert_error(await http.request(method, path, json=body), 401, "not_authenticated")


async def test_error_statuses_match_the_error_codes(live, http) -> None:
    """Every error names a code from errors.py and carries that code's status."""
    responses = [
        await http.get("/nope"),
        await http.get("/api/v1/me"),
        await http.post("/api/v1/auth/login", json={}),
        await login(http, "nobody", "whatever1"),
        await http.get("/api/v1/auth/login"),  # wrong method
        await http.delete("/api/v1/me"),
    ]
    for resp in responses:
        code = resp.json()["error"]["code"]
        assert code in all_codes(), code
        assert resp.status_code == all_codes()[code], (resp.request.method,
                                                       resp.request.url.path,
                                                       resp.status_code, code)
