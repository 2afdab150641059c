"""Rate limits as a client meets them, on servers started with tight limits (SQLite and
PostgreSQL): 429 ``rate_limited`` with a ``Retry-After`` header and a message that says when."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ruang.actions import members as member_actions
from ruang.ratelimit import Limit, RedisRateLimiter
from tests.conftest import make_settings, require, run_server
from tests.integration.kit import PASSWORD, Kit, error_of

REDIS_URL = os.environ.get("RUANG_TEST_REDIS", "redis://127.0.0.1:6379/0")


def limited(resp: httpx.Response, *, at_most: float) -> dict[str, Any]:
    """A 429 with a Retry-After of 1 to ``at_most`` seconds and a message saying when."""
    err = error_of(resp, 429, "rate_limited")
    retry_after = int(resp.headers["Retry-After"])
    assert 1 <= retry_after <= max(1, at_most), resp.headers
    assert "try again in" in err["message"], err
    return err


async def login(kit: Kit, username: str, password: str = PASSWORD,
                headers: dict[str, str] | None = None) -> httpx.Response:
    return await kit.anon.call("POST", "/api/v1/auth/login", headers=headers,
                               json={"username": username, "password": password})


async def test_logins_per_address(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, limit_login_ip="3/minute")
    async with run_server(settings) as live, Kit(live) as kit:
        await member_actions.create_member(kit.svc, "alice", PASSWORD)
        assert (await login(kit, "alice", "wrong password")).status_code == 401
        assert (await login(kit, "alice")).status_code == 200
        assert (await login(kit, "nobody")).status_code == 401
        err = limited(await login(kit, "alice"), at_most=60)
        assert "3 per minute" in err["message"]
        limited(await login(kit, "someone_else"), at_most=60)
        # Other limits are separate.
        await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                          json={"email": "alice@example.org"})


async def test_failed_logins_per_account(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, limit_login_account="3/2s")
    async with run_server(settings) as live, Kit(live) as kit:
        for name in ("alice", "bob"):
            await member_actions.create_member(kit.svc, name, PASSWORD)
        for password in ("guess-one", "guess-two", "guess-three"):
            error_of(await login(kit, "alice", password), 401, "invalid_credentials")
        last_failure = time.monotonic()
        # Now even the right password is refused, whatever the case of the name...
        limited(await login(kit, "alice"), at_most=2)
        limited(await login(kit, "ALICE"), at_most=2)
        limited(await login(kit, "alice", "guess-four"), at_most=2)
        # ...while another account is not affected.
        assert (await login(kit, "bob")).status_code == 200
        error_of(await login(kit, "bob", "guess-one"), 401, "invalid_credentials")

        # Once the window has passed (2 s after the last failure), the right password works.
        await asyncio.sleep(max(0.0, last_failure + 2.05 - time.monotonic()))
        resp = await login(kit, "alice")
        assert resp.status_code == 200, resp.text
        # A successful login forgets the failures before it.
        for _ in range(2):
            error_of(await login(kit, "alice", "guess-five"), 401, "invalid_credentials")
        assert (await login(kit, "alice")).status_code == 200
        for _ in range(2):
            error_of(await login(kit, "alice", "guess-six"), 401, "invalid_credentials")
        assert (await login(kit, "alice")).status_code == 200


async def test_sign_ups_and_redemptions_per_address(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, limit_signup_ip="3/hour")
    async with run_server(settings) as live, Kit(live) as kit:
        host = await kit.member("host")
        await host.ok("POST", "/api/v1/invites", status=201, json={"email": "inv@example.org"})
        token = await kit.link_token("inv@example.org", "invite")
        for i in range(2):
            await kit.anon.ok("POST", "/api/v1/waitlist", status=202, json={
                "name": f"Person {i}", "email": f"p{i}@example.org", "username": f"person{i}"})
        await kit.anon.ok("POST", "/api/v1/invites/redeem", status=201,
                          json={"token": token, "password": "copper-kettle-song",
                                "username": "invited"})
        err = limited(await kit.anon.call("POST", "/api/v1/waitlist", json={
            "name": "Person 3", "email": "p3@example.org", "username": "person3"}),
            at_most=3600)
        assert "3 per hour" in err["message"]
        # Nothing was made for the refused request.
        assert await kit.mail_to("p3@example.org") == []
        await host.ok("POST", "/api/v1/invites", status=201, json={"email": "inv2@example.org"})
        second = await kit.link_token("inv2@example.org", "invite")
        limited(await kit.anon.call("POST", "/api/v1/invites/redeem", json={
            "token": second, "password": "copper-kettle-song", "username": "second"}),
            at_most=3600)
        await kit.anon.fails("POST", "/api/v1/auth/login", 401, "invalid_credentials",
                             json={"username": "second", "password": "copper-kettle-song"})


async def test_password_resets_per_address(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, limit_reset_account="2/hour")
    async with run_server(settings) as live, Kit(live) as kit:
        await member_actions.create_member(kit.svc, "alice", PASSWORD,
                                           email="alice@example.org")
        await member_actions.create_member(kit.svc, "bob", PASSWORD, email="bob@example.org")
        for _ in range(2):
            await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                              json={"email": "alice@example.org"})
        limited(await kit.anon.call("POST", "/api/v1/auth/password-reset",
                                    json={"email": "alice@example.org"}), at_most=3600)
        limited(await kit.anon.call("POST", "/api/v1/auth/password-reset",
                                    json={"email": " ALICE@example.org"}), at_most=3600)
        # An address nobody has is limited the same way (no telling them apart).
        for _ in range(2):
            await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                              json={"email": "ghost@example.org"})
        limited(await kit.anon.call("POST", "/api/v1/auth/password-reset",
                                    json={"email": "ghost@example.org"}), at_most=3600)
        await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                          json={"email": "bob@example.org"})
        assert len(await kit.mail_to("alice@example.org", "reset")) == 2
        assert len(await kit.mail_to("bob@example.org", "reset")) == 1


async def test_invitations_per_member(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, limit_invite_account="2/day",
                             invites_per_member=10)
    async with run_server(settings) as live, Kit(live) as kit:
        busy = await kit.member("busy")
        calm = await kit.member("calm")
        for i in range(2):
            await busy.ok("POST", "/api/v1/invites", status=201,
                          json={"email": f"friend{i}@example.org"})
        err = limited(await busy.call("POST", "/api/v1/invites",
                                      json={"email": "friend2@example.org"}), at_most=86400)
        assert "2 per day" in err["message"]
        await kit.anon.ok("POST", "/api/v1/waitlist", status=202, json={
            "name": "Wendy", "email": "wendy@example.org", "username": "wendy",
            "vouchers": ["busy", "calm"]})
        entry_id = (await busy.get("/api/v1/waitlist/named-me"))[0]["id"]
        limited(await busy.call("POST", f"/api/v1/waitlist/{entry_id}/wave-in"),
                at_most=86400)
        assert (await busy.get("/api/v1/me"))["invites_left"] == 8
        assert await kit.mail_to("friend2@example.org") == []
        # Another member is not affected.
        await calm.ok("POST", f"/api/v1/waitlist/{entry_id}/wave-in", status=201)
        await calm.ok("POST", "/api/v1/invites", status=201,
                      json={"email": "friend2@example.org"})


@pytest.mark.redis
async def test_servers_sharing_redis_share_the_login_limit(tmp_path: Path,
                                                           database_url: str) -> None:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        try:
            await client.ping()
            available = True
        except (RedisError, OSError):
            available = False
        require(available, f"Redis at {REDIS_URL}")
        # A client address of this run's own, so that runs never share counts.
        address = f"rl-{uuid.uuid4().hex}"
        elsewhere = f"rl-{uuid.uuid4().hex}"
        username = f"u{uuid.uuid4().hex[:12]}"

        def settings(name: str) -> Any:
            return make_settings(tmp_path / name, database_url, redis_url=REDIS_URL,
                                 trust_forwarded_for=True, limit_login_ip="3/minute")

        try:
            async with run_server(settings("one")) as one, run_server(settings("two")) as two, \
                    Kit(one) as kit_one, Kit(two) as kit_two:
                await member_actions.create_member(kit_one.svc, username, PASSWORD)
                via = {"X-Forwarded-For": address}
                assert (await login(kit_one, username, headers=via)).status_code == 200
                assert (await login(kit_two, username, "wrong-password", via)).status_code \
                    == 401
                assert (await login(kit_one, username, headers=via)).status_code == 200
                limited(await login(kit_two, username, headers=via), at_most=60)
                limited(await login(kit_one, username, headers=via), at_most=60)
                other = {"X-Forwarded-For": elsewhere}
                assert (await login(kit_two, username, headers=other)).status_code == 200
        finally:
            limit = Limit.parse("login-ip", "3/minute")
            await client.delete(RedisRateLimiter.redis_key(limit, address),
                                RedisRateLimiter.redis_key(limit, elsewhere))
    finally:
        await client.aclose()
