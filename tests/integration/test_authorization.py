"""The authorization walk: every REST route of the app, called as every kind of caller, against
ONE table that says who may call it (SQLite and PostgreSQL).

Callers: nobody (anonymous), a member, a member the route's target member blocked, a banned
member, a suspended member, and an administrator. A route the app has but the table lacks
fails the test: every new endpoint needs a policy here. No answer anywhere may be a server
error (status 500 or a traceback).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from ruang.actions import chat, moderation, onboarding
from ruang.actions import rooms as room_actions
from ruang.app import create_app
from ruang.client.api import ApiError
from ruang.client.realtime import Realtime
from ruang.storage.models import Member, utcnow
from tests.integration.kit import PASSWORD, Client, Kit, avatar_file, png

# --- the policy table -----------------------------------------------------------------------

PUBLIC, MEMBER, ADMIN = "public", "member", "admin"
ROLES = ("anonymous", "member", "blocked", "banned", "suspended", "admin")
# Names of the callers' accounts ("anonymous" logs in, when it does, as "spare").
ACCOUNT = {"anonymous": "spare", "member": "member", "blocked": "blocked", "banned": "banned",
           "suspended": "suspended", "admin": "root"}

# route -> who may call it, and the status a caller who may gets. The routes of FastAPI's own
# documentation (/docs, /openapi.json, /docs/oauth2-redirect, /redoc) are left out; the
# WebSocket is walked separately below.
POLICY: dict[tuple[str, str], tuple[str, int]] = {
    ("GET", "/"): (PUBLIC, 200),
    ("GET", "/healthz"): (PUBLIC, 200),
    ("GET", "/api/v1/realtime"): (PUBLIC, 200),
    # account
    ("POST", "/api/v1/auth/login"): (PUBLIC, 200),
    ("POST", "/api/v1/auth/logout"): (MEMBER, 204),
    ("GET", "/api/v1/me"): (MEMBER, 200),
    ("GET", "/api/v1/sessions"): (MEMBER, 200),
    ("DELETE", "/api/v1/sessions/{session_id}"): (MEMBER, 204),
    ("GET", "/api/v1/api-keys"): (MEMBER, 200),
    ("POST", "/api/v1/api-keys"): (MEMBER, 201),
    ("DELETE", "/api/v1/api-keys/{key_id}"): (MEMBER, 204),
    ("POST", "/api/v1/auth/password-reset"): (PUBLIC, 202),
    ("POST", "/api/v1/auth/password-reset/confirm"): (PUBLIC, 204),
    ("POST", "/api/v1/me/email"): (MEMBER, 202),
    ("POST", "/api/v1/auth/verify-email"): (PUBLIC, 200),
    # getting in
    ("POST", "/api/v1/waitlist"): (PUBLIC, 202),
    ("GET", "/api/v1/waitlist/status"): (PUBLIC, 200),
    ("GET", "/api/v1/waitlist/named-me"): (MEMBER, 200),
    ("POST", "/api/v1/waitlist/{entry_id}/wave-in"): (MEMBER, 201),
    ("GET", "/api/v1/invites"): (MEMBER, 200),
    ("POST", "/api/v1/invites"): (MEMBER, 201),
    ("DELETE", "/api/v1/invites/{invite_id}"): (MEMBER, 204),
    ("GET", "/api/v1/invites/lookup"): (PUBLIC, 200),
    ("POST", "/api/v1/invites/redeem"): (PUBLIC, 201),
    # people
    ("GET", "/api/v1/topics"): (MEMBER, 200),
    ("GET", "/api/v1/members"): (MEMBER, 200),
    ("PATCH", "/api/v1/me/profile"): (MEMBER, 200),
    ("PUT", "/api/v1/me/avatar"): (MEMBER, 200),
    ("DELETE", "/api/v1/me/avatar"): (MEMBER, 204),
    ("GET", "/api/v1/avatars/{avatar_id}"): (MEMBER, 200),
    ("GET", "/api/v1/me/blocks"): (MEMBER, 200),
    ("GET", "/api/v1/members/{ref}"): (MEMBER, 200),
    ("POST", "/api/v1/members/{ref}/follow"): (MEMBER, 204),
    ("DELETE", "/api/v1/members/{ref}/follow"): (MEMBER, 204),
    ("GET", "/api/v1/members/{ref}/followers"): (MEMBER, 200),
    ("GET", "/api/v1/members/{ref}/following"): (MEMBER, 200),
    ("POST", "/api/v1/members/{ref}/block"): (MEMBER, 204),
    ("DELETE", "/api/v1/members/{ref}/block"): (MEMBER, 204),
    ("POST", "/api/v1/reports"): (MEMBER, 201),
    # administrators
    ("GET", "/api/v1/admin/waitlist"): (ADMIN, 200),
    ("POST", "/api/v1/admin/waitlist/approve"): (ADMIN, 200),
    ("POST", "/api/v1/admin/waitlist/reject"): (ADMIN, 200),
    ("POST", "/api/v1/admin/members/{ref}/invites"): (ADMIN, 200),
    ("POST", "/api/v1/admin/members/{ref}/sanction"): (ADMIN, 200),
    ("GET", "/api/v1/admin/reports"): (ADMIN, 200),
    ("POST", "/api/v1/admin/reports/{report_id}/resolve"): (ADMIN, 200),
    # rooms
    ("GET", "/api/v1/rooms"): (MEMBER, 200),
    ("POST", "/api/v1/rooms"): (MEMBER, 201),
    ("GET", "/api/v1/rooms/{room_id}/following"): (MEMBER, 200),
    ("GET", "/api/v1/rooms/{room_id}"): (MEMBER, 200),
    ("POST", "/api/v1/rooms/{room_id}/end"): (MEMBER, 204),
    ("POST", "/api/v1/rooms/{room_id}/stage/{action}"): (MEMBER, 204),
    ("GET", "/api/v1/hallway"): (MEMBER, 200),
    ("GET", "/api/v1/notifications"): (MEMBER, 200),
    ("POST", "/api/v1/notifications/read"): (MEMBER, 200),
    ("GET", "/api/v1/rooms/{room_id}/audience"): (MEMBER, 200),
    ("GET", "/api/v1/rooms/{room_id}/chat"): (MEMBER, 200),
    ("DELETE", "/api/v1/rooms/{room_id}/chat/{message_id}"): (MEMBER, 204),
    ("POST", "/api/v1/rooms/{room_id}/chat-mode"): (MEMBER, 204),
    ("POST", "/api/v1/rooms/{room_id}/hands"): (MEMBER, 204),
    ("POST", "/api/v1/rooms/{room_id}/start"): (MEMBER, 204),
    ("GET", "/api/v1/rooms/{room_id}/event"): (MEMBER, 200),
    ("GET", "/api/v1/rooms/{room_id}/event.ics"): (MEMBER, 200),
    ("POST", "/api/v1/rooms/{room_id}/rsvp"): (MEMBER, 200),
    ("DELETE", "/api/v1/rooms/{room_id}/rsvp"): (MEMBER, 200),
    # Last: it ends every session of the caller (the walk logs them in again afterwards).
    ("POST", "/api/v1/auth/logout-everywhere"): (MEMBER, 204),
}

# Where a caller's answer differs from what the policy alone says.
EXCEPTIONS: dict[tuple[str, str], dict[str, tuple[int, str]]] = {
    # The target member blocked this caller: no following them.
    ("POST", "/api/v1/members/{ref}/follow"): {"blocked": (403, "blocked")},
    # Banned and suspended members prove who they are, and are refused.
    ("POST", "/api/v1/auth/login"): {"banned": (403, "account_banned"),
                                     "suspended": (403, "account_suspended")},
    # The target's rooms are not for someone the target blocked: they do not exist for them.
    ("GET", "/api/v1/rooms/{room_id}"): {"blocked": (404, "room_not_found")},
    ("GET", "/api/v1/rooms/{room_id}/following"): {"blocked": (404, "room_not_found")},
    ("GET", "/api/v1/rooms/{room_id}/audience"): {"blocked": (404, "room_not_found")},
    ("GET", "/api/v1/rooms/{room_id}/chat"): {"blocked": (404, "room_not_found")},
    # Nor can they moderate in one (they are not let in; test_room_life covers the block
    # between a moderator and the member they invite).
    ("POST", "/api/v1/rooms/{room_id}/stage/{action}"): {"blocked": (403, "not_in_room")},
    ("GET", "/api/v1/rooms/{room_id}/event"): {"blocked": (404, "room_not_found")},
    ("GET", "/api/v1/rooms/{room_id}/event.ics"): {"blocked": (404, "room_not_found")},
    ("POST", "/api/v1/rooms/{room_id}/rsvp"): {"blocked": (404, "room_not_found")},
    ("DELETE", "/api/v1/rooms/{room_id}/rsvp"): {"blocked": (404, "room_not_found")},
}

# Calling a route that ends the caller's session uses a session of its own.
OWN_SESSION = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/logout-everywhere")}

DOCS = {"/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}


def expected(route: tuple[str, str], role: str) -> tuple[int, str | None]:
    special = EXCEPTIONS.get(route, {}).get(role)
    if special is not None:
        return special
    who, ok = POLICY[route]
    if who == PUBLIC:
        return ok, None
    if role in ("anonymous", "banned", "suspended"):
        return 401, "not_authenticated"  # nobody, or sessions revoked by the sanction
    if who == ADMIN and role != "admin":
        return 403, "not_an_admin"
    return ok, None


def rest_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves over HTTP, but FastAPI's documentation pages."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI versions whose app.routes are flat
        contexts: list[Any] = list(app.routes)
    else:
        contexts = list(iter_route_contexts(app.routes))
    found: set[tuple[str, str]] = set()
    for route in contexts:
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        assert isinstance(path, str), f"a route without a path: {route!r}"
        if methods is None:  # a WebSocket route
            assert path == "/api/v1/ws", f"an unexpected non-HTTP route: {path}"
            continue
        if path in DOCS:
            continue
        found |= {(method, path) for method in methods if method != "HEAD"}
    return found


# --- the world the walk runs in -------------------------------------------------------------


@dataclass
class Request:
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    token: str | None = None  # a session of its own (OWN_SESSION routes)


@dataclass
class World:
    kit: Kit
    clients: dict[str, Client]
    target: Client
    target_room: int
    target_event: int  # a scheduled room of the target's
    soon: str  # a time to schedule rooms at
    avatar_url: str
    status_token: str
    lookup_token: str
    approve_id: int
    reject_id: int
    report_id: int
    tokens: dict[str, dict[str, str]]  # role -> {"redeem", "reset", "verify"}
    wave_entry: dict[str, int]  # role -> a waitlist entry naming them

    def client(self, role: str) -> Client:
        return self.clients[role]

    def allowed(self, route: tuple[str, str], role: str) -> bool:
        return expected(route, role)[0] == POLICY[route][1]

    async def own_room(self, role: str, *, with_target: bool = False) -> int:
        """A room the caller hosts and is in (moderator), with the target too if asked."""
        room = await self.client(role).ok("POST", "/api/v1/rooms", status=201,
                                          json={"title": f"{role}'s room"})
        await room_actions.join_room(self.kit.svc, room["id"], await self.kit.info(
            ACCOUNT[role]))
        if with_target:
            await room_actions.join_room(self.kit.svc, room["id"],
                                         await self.kit.info("target"))
        return int(room["id"])


Build = Callable[[World, str, bool], Awaitable[Request]]


def fixed(path: str, **kwargs: Any) -> Build:
    async def build(world: World, role: str, allowed: bool) -> Request:
        return Request(path, kwargs)
    return build


async def _login(world: World, role: str, allowed: bool) -> Request:
    return Request("/api/v1/auth/login",
                   {"json": {"username": ACCOUNT[role], "password": PASSWORD}})


async def _own_session(path: str, world: World, role: str, allowed: bool) -> Request:
    if not allowed:
        return Request(path)
    return Request(path, token=(await world.kit.login(ACCOUNT[role])).token)


async def _revoke_session(world: World, role: str, allowed: bool) -> Request:
    if not allowed:
        return Request("/api/v1/sessions/1")
    other = await world.kit.login(ACCOUNT[role])
    current = [s["id"] for s in await other.get("/api/v1/sessions") if s["current"]]
    return Request(f"/api/v1/sessions/{current[0]}")


async def _revoke_key(world: World, role: str, allowed: bool) -> Request:
    if not allowed:
        return Request("/api/v1/api-keys/1")
    key = await world.client(role).ok("POST", "/api/v1/api-keys", status=201,
                                      json={"name": "to revoke"})
    return Request(f"/api/v1/api-keys/{key['id']}")


async def _revoke_invite(world: World, role: str, allowed: bool) -> Request:
    if not allowed:
        return Request("/api/v1/invites/1")
    invite = await world.client(role).ok("POST", "/api/v1/invites", status=201,
                                         json={"email": f"revoke-{role}@example.org"})
    return Request(f"/api/v1/invites/{invite['id']}")


def _token(kind: str, path: str, **extra: Any) -> Build:
    async def build(world: World, role: str, allowed: bool) -> Request:
        return Request(path, {"json": {"token": world.tokens[role][kind], **extra}})
    return build


async def _redeem(world: World, role: str, allowed: bool) -> Request:
    return Request("/api/v1/invites/redeem", {"json": {
        "token": world.tokens[role]["redeem"], "password": "copper-kettle-song",
        "username": f"new_{role}"}})


async def _wave_in(world: World, role: str, allowed: bool) -> Request:
    entry_id = world.wave_entry.get(role, world.wave_entry["member"])
    return Request(f"/api/v1/waitlist/{entry_id}/wave-in")


async def _end_room(world: World, role: str, allowed: bool) -> Request:
    room_id = await world.own_room(role) if allowed else world.target_room
    return Request(f"/api/v1/rooms/{room_id}/end")


async def _own_room_path(world: World, role: str, allowed: bool, tail: str,
                         **kwargs: Any) -> Request:
    room_id = await world.own_room(role) if allowed else world.target_room
    return Request(f"/api/v1/rooms/{room_id}/{tail}", kwargs)


async def _delete_chat(world: World, role: str, allowed: bool) -> Request:
    if not allowed:
        return Request(f"/api/v1/rooms/{world.target_room}/chat/1")
    room_id = await world.own_room(role)
    message_id = await chat.send(world.kit.svc, room_id, await world.kit.info(ACCOUNT[role]),
                                 "to be deleted")
    return Request(f"/api/v1/rooms/{room_id}/chat/{message_id}")


async def _start(world: World, role: str, allowed: bool) -> Request:
    if not allowed:
        return Request(f"/api/v1/rooms/{world.target_event}/start")
    room = await world.client(role).ok("POST", "/api/v1/rooms", status=201, json={
        "title": f"{role}'s event", "scheduled_for": world.soon})
    return Request(f"/api/v1/rooms/{room['id']}/start")


def _event(tail: str) -> Build:
    async def build(world: World, role: str, allowed: bool) -> Request:
        return Request(f"/api/v1/rooms/{world.target_event}/{tail}")
    return build


async def _stage(world: World, role: str, allowed: bool) -> Request:
    room_id = await world.own_room(role, with_target=True) if allowed else world.target_room
    return Request(f"/api/v1/rooms/{room_id}/stage/invite", {"json": {"member": "@target"}})


def _per_role(path: str, make: Callable[[str], dict[str, Any]]) -> Build:
    async def build(world: World, role: str, allowed: bool) -> Request:
        return Request(path, make(role))
    return build


async def _avatar(world: World, role: str, allowed: bool) -> Request:
    return Request(world.avatar_url)


async def _event_free(world: World, tail: str) -> Request:
    return Request(f"/api/v1/rooms/{world.target_room}/{tail}")


async def _target_room(world: World, role: str, allowed: bool) -> Request:
    return Request(f"/api/v1/rooms/{world.target_room}")


async def _target_room_following(world: World, role: str, allowed: bool) -> Request:
    return Request(f"/api/v1/rooms/{world.target_room}/following")


async def _status(world: World, role: str, allowed: bool) -> Request:
    return Request("/api/v1/waitlist/status", {"params": {"token": world.status_token}})


async def _lookup(world: World, role: str, allowed: bool) -> Request:
    return Request("/api/v1/invites/lookup", {"params": {"token": world.lookup_token}})


async def _approve(world: World, role: str, allowed: bool) -> Request:
    return Request("/api/v1/admin/waitlist/approve", {"json": {"ids": [world.approve_id]}})


async def _reject(world: World, role: str, allowed: bool) -> Request:
    return Request("/api/v1/admin/waitlist/reject", {"json": {"ids": [world.reject_id]}})


async def _resolve(world: World, role: str, allowed: bool) -> Request:
    return Request(f"/api/v1/admin/reports/{world.report_id}/resolve",
                   {"json": {"action": "dismiss", "note": "walked"}})


REQUESTS: dict[tuple[str, str], Build] = {
    ("GET", "/"): fixed("/"),
    ("GET", "/healthz"): fixed("/healthz"),
    ("GET", "/api/v1/realtime"): fixed("/api/v1/realtime"),
    ("POST", "/api/v1/auth/login"): _login,
    ("POST", "/api/v1/auth/logout"):
        lambda w, r, a: _own_session("/api/v1/auth/logout", w, r, a),
    ("GET", "/api/v1/me"): fixed("/api/v1/me"),
    ("GET", "/api/v1/sessions"): fixed("/api/v1/sessions"),
    ("DELETE", "/api/v1/sessions/{session_id}"): _revoke_session,
    ("GET", "/api/v1/api-keys"): fixed("/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"): fixed("/api/v1/api-keys", json={"name": "walk"}),
    ("DELETE", "/api/v1/api-keys/{key_id}"): _revoke_key,
    ("POST", "/api/v1/auth/password-reset"):
        fixed("/api/v1/auth/password-reset", json={"email": "anyone@example.org"}),
    ("POST", "/api/v1/auth/password-reset/confirm"):
        _token("reset", "/api/v1/auth/password-reset/confirm", password="fresh-new-secret"),
    ("POST", "/api/v1/me/email"): _per_role(
        "/api/v1/me/email", lambda role: {"json": {"email": f"{role}.new@example.org"}}),
    ("POST", "/api/v1/auth/verify-email"): _token("verify", "/api/v1/auth/verify-email"),
    ("POST", "/api/v1/waitlist"): _per_role("/api/v1/waitlist", lambda role: {"json": {
        "name": f"Walker {role}", "email": f"walk-{role}@example.org",
        "username": f"walk_{role}"}}),
    ("GET", "/api/v1/waitlist/status"): _status,
    ("GET", "/api/v1/waitlist/named-me"): fixed("/api/v1/waitlist/named-me"),
    ("POST", "/api/v1/waitlist/{entry_id}/wave-in"): _wave_in,
    ("GET", "/api/v1/invites"): fixed("/api/v1/invites"),
    ("POST", "/api/v1/invites"): _per_role(
        "/api/v1/invites", lambda role: {"json": {"email": f"guest-{role}@example.org"}}),
    ("DELETE", "/api/v1/invites/{invite_id}"): _revoke_invite,
    ("GET", "/api/v1/invites/lookup"): _lookup,
    ("POST", "/api/v1/invites/redeem"): _redeem,
    ("GET", "/api/v1/topics"): fixed("/api/v1/topics"),
    ("GET", "/api/v1/members"): fixed("/api/v1/members", params={"q": "tar"}),
    ("PATCH", "/api/v1/me/profile"): _per_role(
        "/api/v1/me/profile", lambda role: {"json": {"headline": f"The {role}"}}),
    ("PUT", "/api/v1/me/avatar"): fixed("/api/v1/me/avatar", **avatar_file(png((40, 40)))),
    ("DELETE", "/api/v1/me/avatar"): fixed("/api/v1/me/avatar"),
    ("GET", "/api/v1/avatars/{avatar_id}"): _avatar,
    ("GET", "/api/v1/me/blocks"): fixed("/api/v1/me/blocks"),
    ("GET", "/api/v1/members/{ref}"): fixed("/api/v1/members/target"),
    ("POST", "/api/v1/members/{ref}/follow"): fixed("/api/v1/members/@target/follow"),
    ("DELETE", "/api/v1/members/{ref}/follow"): fixed("/api/v1/members/target/follow"),
    ("GET", "/api/v1/members/{ref}/followers"): fixed("/api/v1/members/target/followers"),
    ("GET", "/api/v1/members/{ref}/following"): fixed("/api/v1/members/target/following"),
    ("POST", "/api/v1/members/{ref}/block"): fixed("/api/v1/members/target/block"),
    ("DELETE", "/api/v1/members/{ref}/block"): fixed("/api/v1/members/target/block"),
    ("POST", "/api/v1/reports"):
        fixed("/api/v1/reports", json={"member": "target", "reason": "walking by"}),
    ("GET", "/api/v1/admin/waitlist"): fixed("/api/v1/admin/waitlist"),
    ("POST", "/api/v1/admin/waitlist/approve"): _approve,
    ("POST", "/api/v1/admin/waitlist/reject"): _reject,
    ("POST", "/api/v1/admin/members/{ref}/invites"):
        fixed("/api/v1/admin/members/spare/invites", json={"count": 1}),
    ("POST", "/api/v1/admin/members/{ref}/sanction"):
        fixed("/api/v1/admin/members/spare/sanction", json={"action": "warn"}),
    ("GET", "/api/v1/admin/reports"): fixed("/api/v1/admin/reports"),
    ("POST", "/api/v1/admin/reports/{report_id}/resolve"): _resolve,
    ("GET", "/api/v1/rooms"): fixed("/api/v1/rooms"),
    ("POST", "/api/v1/rooms"): fixed("/api/v1/rooms", json={"title": "Walk-in"}),
    ("GET", "/api/v1/rooms/{room_id}/following"): _target_room_following,
    ("GET", "/api/v1/rooms/{room_id}"): _target_room,
    ("POST", "/api/v1/rooms/{room_id}/end"): _end_room,
    ("POST", "/api/v1/rooms/{room_id}/stage/{action}"): _stage,
    ("GET", "/api/v1/hallway"): fixed("/api/v1/hallway"),
    ("GET", "/api/v1/notifications"): fixed("/api/v1/notifications"),
    ("POST", "/api/v1/notifications/read"): fixed("/api/v1/notifications/read", json={}),
    ("GET", "/api/v1/rooms/{room_id}/audience"): lambda w, r, a: _event_free(w, "audience"),
    ("GET", "/api/v1/rooms/{room_id}/chat"): lambda w, r, a: _event_free(w, "chat"),
    ("DELETE", "/api/v1/rooms/{room_id}/chat/{message_id}"): _delete_chat,
    ("POST", "/api/v1/rooms/{room_id}/chat-mode"):
        lambda w, r, a: _own_room_path(w, r, a, "chat-mode", json={"mode": "speakers"}),
    ("POST", "/api/v1/rooms/{room_id}/hands"):
        lambda w, r, a: _own_room_path(w, r, a, "hands", json={"enabled": False}),
    ("POST", "/api/v1/rooms/{room_id}/start"): _start,
    ("GET", "/api/v1/rooms/{room_id}/event"): _event("event"),
    ("GET", "/api/v1/rooms/{room_id}/event.ics"): _event("event.ics"),
    ("POST", "/api/v1/rooms/{room_id}/rsvp"): _event("rsvp"),
    ("DELETE", "/api/v1/rooms/{room_id}/rsvp"): _event("rsvp"),
    ("POST", "/api/v1/auth/logout-everywhere"):
        lambda w, r, a: _own_session("/api/v1/auth/logout-everywhere", w, r, a),
}


@pytest.fixture
async def kit(live: Any) -> AsyncIterator[Kit]:
    async with Kit(live) as k:
        yield k


async def make_world(kit: Kit) -> World:
    svc = kit.svc
    admin = await kit.member("root", admin=True, email="root@example.org")
    target = await kit.member("target", email="target@example.org")
    await kit.member("spare")
    clients = {"anonymous": kit.anon, "admin": admin}
    for role in ("member", "blocked", "banned", "suspended"):
        clients[role] = await kit.member(ACCOUNT[role], email=f"{role}@example.org")
    admin_info = await kit.info("root")
    for name in ("target", "member", "blocked", "root"):
        await onboarding.grant_invites(svc, admin_info, name, 10)
    await target.ok("POST", "/api/v1/members/blocked/block", status=204)
    avatar = await target.ok("PUT", "/api/v1/me/avatar", **avatar_file(png()))
    room = await target.ok("POST", "/api/v1/rooms", status=201, json={"title": "Target's"})
    soon = (utcnow() + dt.timedelta(days=1)).isoformat()
    event = await target.ok("POST", "/api/v1/rooms", status=201,
                            json={"title": "Target's event", "scheduled_for": soon})

    # Single-use tokens, one per caller: invitations, password resets, address changes.
    tokens: dict[str, dict[str, str]] = {role: {} for role in ROLES}
    for role in ROLES:
        await target.ok("POST", "/api/v1/invites", status=201,
                        json={"email": f"redeem-{role}@example.org"})
        throwaway = await kit.member(f"t_{role}", email=f"t-{role}@example.org")
        await throwaway.ok("POST", "/api/v1/me/email", status=202,
                           json={"email": f"t-{role}-new@example.org"})
        await kit.anon.ok("POST", "/api/v1/auth/password-reset", status=202,
                          json={"email": f"t-{role}@example.org"})
    await target.ok("POST", "/api/v1/invites", status=201, json={"email": "look@example.org"})
    for role in ROLES:
        tokens[role] = {
            "redeem": await kit.link_token(f"redeem-{role}@example.org", "invite"),
            "reset": await kit.link_token(f"t-{role}@example.org", "reset"),
            "verify": await kit.link_token(f"t-{role}-new@example.org", "verify")}

    wave_entry = {}
    for role in ("member", "blocked", "admin"):
        await kit.anon.ok("POST", "/api/v1/waitlist", status=202, json={
            "name": f"Friend of {role}", "email": f"friend-{role}@example.org",
            "username": f"friend_{role}", "vouchers": [ACCOUNT[role]]})
        wave_entry[role] = (await clients[role].get("/api/v1/waitlist/named-me"))[0]["id"]
    ids = {}
    for name in ("approve_me", "reject_me"):
        await kit.anon.ok("POST", "/api/v1/waitlist", status=202, json={
            "name": name, "email": f"{name}@example.org", "username": name})
    for entry in await admin.get("/api/v1/admin/waitlist"):
        ids[entry["username"]] = entry["id"]
    report = await target.ok("POST", "/api/v1/reports", status=201,
                             json={"member": "spare", "reason": "for the walk"})

    # The sanctions: one over the API, one through the action.
    await admin.ok("POST", "/api/v1/admin/members/banned/sanction",
                   json={"action": "ban", "reason": "walk"})
    await moderation.sanction(svc, admin_info, "suspended", "suspend", days=3, reason="walk")

    return World(kit=kit, clients=clients, target=target, target_room=room["id"],
                 target_event=event["id"], soon=soon,
                 avatar_url=avatar["avatar_url"],
                 status_token=await kit.link_token("friend-member@example.org", "waitlist"),
                 lookup_token=await kit.link_token("look@example.org", "invite"),
                 approve_id=ids["approve_me"], reject_id=ids["reject_me"],
                 report_id=report["id"], tokens=tokens, wave_entry=wave_entry)


async def test_every_route_against_the_policy_table(live: Any, kit: Kit) -> None:
    routes = rest_routes(create_app(live.runtime.settings, runtime=live.runtime))
    missing = sorted(routes - set(POLICY))
    assert not missing, f"routes without an entry in the policy table: {missing}"
    stale = sorted(set(POLICY) - routes)
    assert not stale, f"policy entries for routes the app does not have: {stale}"
    assert set(REQUESTS) == set(POLICY)

    world = await make_world(kit)
    problems: list[str] = []
    for route in POLICY:
        method = route[0]
        for role in ROLES:
            allowed = world.allowed(route, role)
            req = await REQUESTS[route](world, role, allowed)
            client = world.client(role)
            token = req.token if req.token is not None else client.token
            resp = await client.call(method, req.path, token=token, **req.kwargs)
            status, code = expected(route, role)
            got_code = None
            if resp.status_code >= 400:
                got_code = resp.json().get("error", {}).get("code")
            if resp.status_code != status or (code is not None and got_code != code):
                problems.append(f"{method} {req.path} as {role}: expected {status} {code or ''}"
                                f", got {resp.status_code} {resp.text[:200]}")
        if route in OWN_SESSION and route[1].endswith("logout-everywhere"):
            for role in ("member", "blocked", "admin"):
                world.clients[role] = await kit.login(ACCOUNT[role])
    assert not problems, "\n".join(problems)

    # The same holds on the WebSocket: the blocked member cannot join the target's room, the
    # member can, and the banned member's session is gone.
    rt_member = Realtime(world.client("member"), reconnect=False)
    rt_blocked = Realtime(world.client("blocked"), reconnect=False)
    try:
        await rt_member.connect()
        await rt_blocked.connect()
        with pytest.raises(ApiError) as refused:
            await rt_blocked.join(world.target_room)
        assert refused.value.code == "blocked"
        joined = await rt_member.join(world.target_room)
        await joined.wait_for(lambda s: s.me is not None)
    finally:
        await rt_member.close()
        await rt_blocked.close()
    for role in ("banned", "suspended"):
        rt = Realtime(world.client(role), reconnect=False)
        with pytest.raises(ApiError) as gone:
            await rt.connect()
        assert gone.value.code == "not_authenticated"
        with contextlib.suppress(Exception):
            await rt.close()


async def test_sanctions_refuse_login_until_lifted_or_over(kit: Kit) -> None:
    admin = await kit.member("root", admin=True)
    banned = await kit.member("banned")
    suspended = await kit.member("suspended")
    key = await banned.ok("POST", "/api/v1/api-keys", status=201, json={"name": "bot"})
    bot = kit.client(key["token"])

    await admin.ok("POST", "/api/v1/admin/members/banned/sanction", json={"action": "ban"})
    await admin.ok("POST", "/api/v1/admin/members/suspended/sanction",
                   json={"action": "suspend", "days": 2, "reason": "cool down"})
    for client in (banned, bot, suspended):
        await client.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await kit.anon.fails("POST", "/api/v1/auth/login", 403, "account_banned",
                         json={"username": "banned", "password": PASSWORD})
    until = utcnow() + dt.timedelta(days=2)
    err = await kit.anon.fails("POST", "/api/v1/auth/login", 403, "account_suspended",
                               json={"username": "suspended", "password": PASSWORD})
    assert f"{until:%Y-%m-%d}" in err["message"]
    # A wrong password tells nothing about the account.
    for name in ("banned", "suspended"):
        await kit.anon.fails("POST", "/api/v1/auth/login", 401, "invalid_credentials",
                             json={"username": name, "password": "not-the-password"})
    # Administrators cannot sanction themselves; members cannot sanction at all.
    await admin.fails("POST", "/api/v1/admin/members/root/sanction", 403, "forbidden",
                      json={"action": "ban"})
    member = await kit.member("member")
    await member.fails("POST", "/api/v1/admin/members/suspended/sanction", 403, "not_an_admin",
                       json={"action": "lift"})
    await admin.fails("POST", "/api/v1/admin/members/suspended/sanction", 400, "invalid_input",
                      json={"action": "suspend"})

    # Lifting restores login (the old sessions stay ended).
    await admin.ok("POST", "/api/v1/admin/members/banned/sanction", json={"action": "lift"})
    again = await kit.login("banned")
    await again.get("/api/v1/me")
    await banned.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await bot.fails("GET", "/api/v1/me", 401, "not_authenticated")

    # A suspension ends by itself on its date.
    await kit.execute(update(Member).where(Member.username_key == "suspended")
                      .values(suspended_until=utcnow() - dt.timedelta(seconds=1)))
    back = await kit.login("suspended")
    assert (await back.get("/api/v1/me"))["username"] == "suspended"


def _hostile(path: str) -> str:
    """The path with every numeric id out of any table's range."""
    huge = str(2**64)
    for name in ("{session_id}", "{key_id}", "{entry_id}", "{invite_id}", "{report_id}",
                 "{room_id}", "{message_id}"):
        path = path.replace(name, huge)
    return (path.replace("{ref}", "target").replace("{action}", "invite")
            .replace("{avatar_id}", "1-0123456789abcdef"))


async def test_ids_out_of_range_are_client_errors_everywhere(kit: Kit) -> None:
    """Ids no row can have (path, query and body) answer 400 or 404, never 500."""
    admin = await kit.member("root", admin=True)
    await kit.member("target")
    huge = 2**64
    problems = []
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (method, _hostile(path), {"json": {"member": "target"}} if "stage" in path else
         {"json": {"action": "dismiss"}} if path.endswith("resolve") else {})
        for method, path in POLICY if "_id}" in path]
    calls += [("POST", "/api/v1/admin/waitlist/approve", {"json": {"ids": [huge]}}),
              ("POST", "/api/v1/admin/waitlist/reject", {"json": {"ids": [huge]}}),
              ("GET", "/api/v1/admin/waitlist", {"params": {"after_id": huge}}),
              ("POST", "/api/v1/reports", {"json": {"room_id": huge, "reason": "x"}}),
              ("GET", f"/api/v1/members/{huge}", {}),
              ("POST", f"/api/v1/members/{huge}/follow", {})]
    for method, path, kwargs in calls:
        resp = await admin._http.request(method, path, headers={
            "Authorization": f"Bearer {admin.token}"}, **kwargs)
        if resp.status_code not in (400, 404):
            problems.append(f"{method} {path}: {resp.status_code} {resp.text[:120]}")
    assert not problems, "\n".join(problems)
