"""People: search, follower lists, who I follow in a room, reports and the administrators'
queue, and avatar uploads the server refuses (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ruang.actions import members as member_actions
from ruang.actions import rooms as room_actions
from ruang.actions import social
from ruang.client.realtime import Realtime, RoomSession
from ruang.storage.models import Member, utcnow
from tests.conftest import make_settings, run_server
from tests.integration.kit import (
    PASSWORD,
    Client,
    Kit,
    avatar_file,
    bomb_png,
    gif,
    noise_png,
    png,
    wait_closed,
)


@pytest.fixture
async def kit(live: Any) -> AsyncIterator[Kit]:
    async with Kit(live) as k:
        yield k


async def names(client: Client, query: str, **params: Any) -> list[str]:
    found = await client.get("/api/v1/members", params={"q": query, **params})
    return [card["username"] for card in found]


async def follow(kit: Kit, follower: str, followee: str) -> None:
    await social.follow(kit.svc, await kit.info(follower), followee)


# --- search ---------------------------------------------------------------------------------


async def test_people_search(kit: Kit) -> None:
    seeker = await kit.member("seeker")
    admin = await kit.member("root", admin=True)
    people = [("anh_nguyen", "Đặng Thị Ánh", "Data engineer at Saigon Labs"),
              ("anhtuan", "Tuấn Phạm", "Product"),
              ("andrew", "Andrew Smith", "Engineering manager"),
              ("bob", "Bob Builder", "Builds data pipelines"),
              ("quiet", "Anh Quiet", ""),
              ("blocker", "Anh Blocker", "Data"),
              ("blockee", "Anh Blockee", "Data"),
              ("outlaw", "Anh Outlaw", "Data")]
    for username, display, headline in people:
        client = await kit.member(username, display_name=display)
        if headline:
            await client.ok("PATCH", "/api/v1/me/profile", json={"headline": headline})
    # Followers decide the order among the matches.
    for fan in ("andrew", "bob", "quiet"):
        await follow(kit, fan, "anhtuan")
    await follow(kit, "bob", "anh_nguyen")
    await follow(kit, "andrew", "anh_nguyen")
    await follow(kit, "bob", "quiet")
    blocker = await kit.login("blocker")
    await blocker.ok("POST", "/api/v1/members/seeker/block", status=204)
    await seeker.ok("POST", "/api/v1/members/blockee/block", status=204)
    await admin.ok("POST", "/api/v1/admin/members/outlaw/sanction", json={"action": "ban"})

    # A username prefix, case-insensitive.
    assert await names(seeker, "andr") == ["andrew"]
    assert await names(seeker, "ANDREW") == ["andrew"]
    assert await names(seeker, "anh_nguyen") == ["anh_nguyen"]
    # Display-name words, accents folded both ways.
    assert await names(seeker, "anh") == ["anhtuan", "anh_nguyen", "quiet"]
    assert await names(seeker, "Ánh") == ["anhtuan", "anh_nguyen", "quiet"]
    assert await names(seeker, "tuan") == ["anhtuan"]
    assert await names(seeker, "thi") == ["anh_nguyen"]
    assert await names(seeker, "pham") == ["anhtuan"]
    # Headline words.
    assert await names(seeker, "saig") == ["anh_nguyen"]
    assert await names(seeker, "pipelines") == ["bob"]
    assert await names(seeker, "eng") == ["anh_nguyen", "andrew"]
    # Several words: every one must match a word of the member.
    assert await names(seeker, "anh data") == ["anh_nguyen"]
    assert await names(seeker, "data eng") == ["anh_nguyen"]
    assert await names(seeker, "data, BOB!") == ["bob"]
    assert await names(seeker, "anh zzz") == []
    assert await names(seeker, "anh", limit=2) == ["anhtuan", "anh_nguyen"]
    # Ranking follows the counts as they change.
    for fan in ("seeker", "root", "anhtuan"):
        await follow(kit, fan, "quiet")
    assert await names(seeker, "anh") == ["quiet", "anhtuan", "anh_nguyen"]

    # Blocks hide people both ways; banned members are gone; others still see them.
    found = await names(seeker, "data")
    assert "blocker" not in found
    assert "blockee" not in found
    assert "outlaw" not in found
    assert sorted(await names(admin, "data")) == ["anh_nguyen", "blockee", "blocker", "bob"]
    blockee = await kit.login("blockee")
    assert "seeker" not in await names(blockee, "seek")
    assert await names(blocker, "seeker") == []
    assert await names(admin, "seeker") == ["seeker"]
    assert await names(admin, "outlaw") == []

    for query in ("", "   ", "!!!", "_-_", "@#$%^&*()"):
        await seeker.fails("GET", "/api/v1/members", 400, "invalid_input", params={"q": query})
    await seeker.fails("GET", "/api/v1/members", 400, "invalid_input")
    await seeker.fails("GET", "/api/v1/members", 400, "invalid_input",
                       params={"q": "anh", "limit": 0})


# --- follower lists -------------------------------------------------------------------------


async def pages(client: Client, path: str, limit: int) -> tuple[list[str], int]:
    """Every item of a paged list, in order, and the number of pages."""
    items: list[str] = []
    cursor = None
    count = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = await client.get(path, params=params)
        count += 1
        assert len(page["items"]) <= limit
        items += [card["username"] for card in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, count
        assert page["items"], "a page with a next cursor is not empty"
        assert count < 200


async def test_follower_and_following_pages(kit: Kit) -> None:
    star = await kit.member("star")
    star_info = await kit.info("star")
    fans = [f"fan{i:03d}" for i in range(120)]
    for name in fans:
        info = await member_actions.create_member(kit.svc, name, PASSWORD)
        await social.follow(kit.svc, info, "star")
        await social.follow(kit.svc, star_info, name)
    profile = await star.get("/api/v1/members/star")
    assert (profile["followers_count"], profile["following_count"]) == (120, 120)
    newest_first = list(reversed(fans))

    for which in ("followers", "following"):
        path = f"/api/v1/members/star/{which}"
        for limit, page_count in ((50, 3), (7, 18), (100, 2), (1, 120)):
            items, count = await pages(star, path, limit)
            assert items == newest_first, (which, limit)
            assert count == page_count
    default = await star.get("/api/v1/members/star/followers")
    assert len(default["items"]) == 50

    # New follows while someone pages through do not shift what they see.
    first = await star.get("/api/v1/members/star/followers", params={"limit": 30})
    seen = [card["username"] for card in first["items"]]
    cursor = first["next_cursor"]
    late = await kit.member("latecomer")
    await late.ok("POST", "/api/v1/members/star/follow", status=204)
    while cursor:
        page = await star.get("/api/v1/members/star/followers",
                              params={"limit": 30, "cursor": cursor})
        seen += [card["username"] for card in page["items"]]
        cursor = page["next_cursor"]
    assert seen == newest_first
    assert (await star.get("/api/v1/members/star/followers", params={"limit": 1})
            )["items"][0]["username"] == "latecomer"
    await star.fails("GET", "/api/v1/members/nobody/followers", 404, "member_not_found")
    for limit in (0, 101):
        await star.fails("GET", "/api/v1/members/star/following", 400, "invalid_input",
                         params={"limit": limit})


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_a_bad_cursor_is_invalid_input(kit: Kit) -> None:
    member = await kit.member("pager")
    for cursor in ("garbage!!", "x", cursor_of("nope"), cursor_of("2025-01-01T00:00:00|3"),
                   cursor_of("2025-01-01T00:00:00+00:00|three"),
                   cursor_of("2025-01-01T00:00:00+00:00|1|2"), cursor_of("\u00ff|1"),
                   cursor_of(f"2025-01-01T00:00:00+00:00|{2**64}"),
                   cursor_of(f"2025-01-01T00:00:00+00:00|{-2**64}"),
                   # Times that have no UTC equivalent.
                   cursor_of("0001-01-01T00:00:00+14:00|1"),
                   cursor_of("9999-12-31T23:59:59-14:00|1")):
        for which in ("followers", "following"):
            await member.fails("GET", f"/api/v1/members/pager/{which}", 400, "invalid_input",
                               params={"cursor": cursor})


# --- people I follow in a room --------------------------------------------------------------


async def test_the_people_i_follow_in_a_room(kit: Kit) -> None:
    host = await kit.member("host")
    viewer = await kit.member("viewer")
    for name in ("alma", "bea", "cleo", "dina"):
        await kit.member(name)
    room = await host.ok("POST", "/api/v1/rooms", status=201, json={"title": "Salon"})
    path = f"/api/v1/rooms/{room['id']}/following"
    assert await viewer.get(path) == []
    for name in ("host", "cleo", "alma", "bea"):
        await room_actions.join_room(kit.svc, room["id"], await kit.info(name))
    for name in ("alma", "cleo", "dina"):
        await viewer.ok("POST", f"/api/v1/members/{name}/follow", status=204)
    in_room = await viewer.get(path)
    assert [card["username"] for card in in_room] == ["cleo", "alma"]  # in joining order
    assert set(in_room[0]) == {"id", "username", "display_name", "headline", "avatar_url"}
    await room_actions.leave_room(kit.svc, room["id"], (await kit.info("cleo")).id)
    await room_actions.join_room(kit.svc, room["id"], await kit.info("dina"))
    assert [c["username"] for c in await viewer.get(path)] == ["alma", "dina"]
    await viewer.ok("DELETE", "/api/v1/members/alma/follow", status=204)
    assert [c["username"] for c in await viewer.get(path)] == ["dina"]
    assert await host.get(path) == []
    await viewer.fails("GET", "/api/v1/rooms/abc/following", 400, "invalid_input")


# --- reports and the administrators' queue --------------------------------------------------


async def test_reporting_needs_one_target_and_a_reason(kit: Kit) -> None:
    reporter = await kit.member("reporter")
    await kit.member("other")
    room = await reporter.ok("POST", "/api/v1/rooms", status=201, json={"title": "Mine"})
    for body in ({"reason": "no target"},
                 {"member": "other", "room_id": room["id"], "reason": "both"},
                 {"member": "reporter", "reason": "myself"},
                 {"member": "@REPORTER", "reason": "myself again"},
                 {"member": "other", "reason": ""},
                 {"member": "other", "reason": "   "},
                 {"member": "other", "reason": "x" * 1001},
                 {"member": "other", "reason": "ok", "extra": 1}):
        await reporter.fails("POST", "/api/v1/reports", 400, "invalid_input", json=body)
    await reporter.fails("POST", "/api/v1/reports", 404, "member_not_found",
                         json={"member": "nobody", "reason": "who?"})
    await reporter.fails("POST", "/api/v1/reports", 404, "room_not_found",
                         json={"room_id": 424242, "reason": "where?"})
    made = await reporter.ok("POST", "/api/v1/reports", status=201,
                             json={"room_id": room["id"], "reason": "  my own room  "})
    assert (made["room_id"], made["room_title"], made["reason"], made["status"]) == \
        (room["id"], "Mine", "my own room", "open")


async def test_a_report_names_the_member_by_username(kit: Kit) -> None:
    reporter = await kit.member("reporter")
    admin = await kit.member("root", admin=True)
    other = await kit.member("other")
    by_id = await reporter.ok("POST", "/api/v1/reports", status=201,
                              json={"member": str(other.id), "reason": "by id"})
    by_name = await reporter.ok("POST", "/api/v1/reports", status=201,
                                json={"member": "@OTHER", "reason": "by name"})
    queue = await admin.get("/api/v1/admin/reports")
    assert [r["member"] for r in queue] == ["other", "other"]
    assert [by_id["member"], by_name["member"]] == ["other", "other"]


async def room_session(client: Client, room_id: int, events: list[tuple[str, dict[str, Any]]],
                       opened: list[Realtime]) -> RoomSession:
    def record(session: RoomSession, kind: str, data: dict[str, Any]) -> None:
        events.append((kind, data))

    rt = Realtime(client, reconnect=False, on_event=record)
    opened.append(rt)
    await rt.connect()
    return await rt.join(room_id)


async def test_the_admin_report_queue(kit: Kit) -> None:
    admin = await kit.member("root", admin=True)
    reporter = await kit.member("reporter")
    rude = await kit.member("rude", email="rude@example.org")
    bully = await kit.member("bully", email="bully@example.org")
    shady = await kit.member("shady", email="shady@example.org")
    await kit.member("meh", email="meh@example.org")
    witness = await kit.member("witness")
    room = await reporter.ok("POST", "/api/v1/rooms", status=201, json={"title": "Heated"})
    shady_room = await shady.ok("POST", "/api/v1/rooms", status=201, json={"title": "Scam"})

    warn = await reporter.ok("POST", "/api/v1/reports", status=201,
                             json={"member": "rude", "reason": "insults"})
    suspend = await reporter.ok("POST", "/api/v1/reports", status=201,
                                json={"member": "@bully", "reason": "harassment"})
    ban = await witness.ok("POST", "/api/v1/reports", status=201,
                           json={"room_id": shady_room["id"], "reason": "a scam"})
    dismiss = await witness.ok("POST", "/api/v1/reports", status=201,
                               json={"member": "meh", "reason": "I just do not like them"})

    await reporter.fails("GET", "/api/v1/admin/reports", 403, "not_an_admin")
    await reporter.fails("POST", f"/api/v1/admin/reports/{warn['id']}/resolve", 403,
                         "not_an_admin", json={"action": "dismiss"})
    queue = await admin.get("/api/v1/admin/reports")
    assert [(r["id"], r["reporter"], r["member"], r["room_title"], r["reason"], r["status"])
            for r in queue] == [
        (warn["id"], "reporter", "rude", None, "insults", "open"),
        (suspend["id"], "reporter", "bully", None, "harassment", "open"),
        (ban["id"], "witness", None, "Scam", "a scam", "open"),
        (dismiss["id"], "witness", "meh", None, "I just do not like them", "open")]

    # Warn: an email, nothing else.
    await kit.new_mail()
    warned = await admin.ok("POST", f"/api/v1/admin/reports/{warn['id']}/resolve",
                            json={"action": "warn", "note": "Mind your language."})
    assert (warned["status"], warned["resolution"], warned["note"]) == \
        ("resolved", "warned", "Mind your language.")
    assert warned["resolved_at"]
    notice = await kit.last_mail("rude@example.org")
    assert "warning" in notice.text
    assert "Mind your language." in notice.text
    await rude.get("/api/v1/me")
    await admin.fails("POST", f"/api/v1/admin/reports/{warn['id']}/resolve", 409,
                      "already_resolved", json={"action": "ban"})
    await rude.get("/api/v1/me")
    await admin.fails("POST", "/api/v1/admin/reports/424242/resolve", 404, "not_found",
                      json={"action": "dismiss"})

    # Suspend for some days: out of the room at once, connection closed, login refused.
    opened: list[Realtime] = []
    try:
        others: list[tuple[str, dict[str, Any]]] = []
        mine: list[tuple[str, dict[str, Any]]] = []
        host_session = await room_session(reporter, room["id"], others, opened)
        bully_session = await room_session(bully, room["id"], mine, opened)
        await reporter.stage(room["id"], "invite", "bully")  # on stage: seen by everyone
        await bully_session.wait_for(lambda s: s.invited)
        await bully_session.answer_invite(True)
        await host_session.wait_for(lambda s: s.snapshot is not None
                                    and s.snapshot.member(bully.id or 0) is not None)
        await admin.fails("POST", f"/api/v1/admin/reports/{suspend['id']}/resolve", 400,
                          "invalid_input", json={"action": "suspend"})
        resolved = await admin.ok("POST", f"/api/v1/admin/reports/{suspend['id']}/resolve",
                                  json={"action": "suspend", "days": 3})
        assert resolved["resolution"] == "suspended"
        await wait_closed(opened[1], timeout=3)
        await host_session.wait_for(
            lambda s: s.snapshot is not None and s.snapshot.member(bully.id or 0) is None)
        assert ("member_left", {"type": "member_left", "member_id": bully.id,
                                "reason": "left"}) in others
        snapshot = (await reporter.get(f"/api/v1/rooms/{room['id']}"))["snapshot"]
        assert [m["username"] for m in snapshot["stage"]] == ["reporter"]
        assert snapshot["audience_count"] == 0
    finally:
        for rt in opened:
            await rt.close()
    await bully.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await kit.anon.fails("POST", "/api/v1/auth/login", 403, "account_suspended",
                         json={"username": "bully", "password": PASSWORD})
    row = await kit.row("bully")
    assert row.status == "suspended"
    assert row.suspended_until is not None
    left = row.suspended_until - utcnow()
    assert dt.timedelta(days=3) - dt.timedelta(minutes=1) < left <= dt.timedelta(days=3)
    assert "suspended until" in (await kit.last_mail("bully@example.org")).text

    # A report of a room sanctions its host.
    banned = await admin.ok("POST", f"/api/v1/admin/reports/{ban['id']}/resolve",
                            json={"action": "ban"})
    assert banned["resolution"] == "banned"
    await shady.fails("GET", "/api/v1/me", 401, "not_authenticated")
    await kit.anon.fails("POST", "/api/v1/auth/login", 403, "account_banned",
                         json={"username": "shady", "password": PASSWORD})
    await reporter.fails("GET", "/api/v1/members/shady", 404, "member_not_found")
    assert "closed" in (await kit.last_mail("shady@example.org")).text

    dismissed = await admin.ok("POST", f"/api/v1/admin/reports/{dismiss['id']}/resolve",
                               json={"action": "dismiss"})
    assert dismissed["resolution"] == "dismissed"
    assert await kit.mail_to("meh@example.org") == []
    await kit.login("meh")

    assert await admin.get("/api/v1/admin/reports") == []
    resolved_all = await admin.get("/api/v1/admin/reports", params={"status": "resolved"})
    assert [r["resolution"] for r in resolved_all] == ["warned", "suspended", "banned",
                                                       "dismissed"]
    assert len(await admin.get("/api/v1/admin/reports", params={"status": "all"})) == 4


# --- avatars --------------------------------------------------------------------------------


async def test_avatar_uploads_the_server_refuses_and_replaces(tmp_path: Path,
                                                              database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, avatar_max_bytes=10_000)
    async with run_server(settings) as live, Kit(live) as kit:
        member = await kit.member("picky")
        too_big = noise_png((80, 80))
        assert len(too_big) > 10_000
        bomb = bomb_png()
        assert len(bomb) < 10_000
        refusals = [(b"this is not a picture", 400, "avatar_not_an_image"),
                    (b"", 400, "avatar_not_an_image"),
                    (png()[:60], 400, "avatar_not_an_image"),
                    (gif(), 415, "avatar_unsupported_format"),
                    (too_big, 413, "avatar_too_large"),
                    (bomb, 400, "avatar_too_many_pixels")]
        for data, status, code in refusals:
            # The name and claimed type do not matter: the content does.
            await member.fails("PUT", "/api/v1/me/avatar", status, code,
                               **avatar_file(data, "picture.png", "image/png"))
        await member.fails("PUT", "/api/v1/me/avatar", 400, "invalid_input")
        assert (await member.get("/api/v1/members/picky"))["avatar_url"] is None
        store = kit.svc.avatars
        assert store is not None

        first = (await member.ok("PUT", "/api/v1/me/avatar",
                                 **avatar_file(png(color=(255, 0, 0)))))["avatar_url"]
        first_file = store.path(first.rsplit("/", 1)[1])
        assert first_file is not None
        assert first_file.is_file()
        second = (await member.ok("PUT", "/api/v1/me/avatar",
                                  **avatar_file(png(color=(0, 0, 255)))))["avatar_url"]
        assert second != first
        second_file = store.path(second.rsplit("/", 1)[1])
        assert second_file is not None
        assert not first_file.exists()
        await member.fails("GET", first, 404, "not_found")
        assert (await member.call("GET", second)).status_code == 200
        # The same picture again keeps its file.
        again = (await member.ok("PUT", "/api/v1/me/avatar",
                                 **avatar_file(png(color=(0, 0, 255)))))["avatar_url"]
        assert again == second
        assert second_file.is_file()
        # A refused upload leaves the current one alone.
        await member.fails("PUT", "/api/v1/me/avatar", 415, "avatar_unsupported_format",
                           **avatar_file(gif()))
        assert (await member.get("/api/v1/members/picky"))["avatar_url"] == second
        await member.ok("DELETE", "/api/v1/me/avatar", status=204)
        assert not second_file.exists()
        assert (await member.get("/api/v1/members/picky"))["avatar_url"] is None
        await member.fails("GET", second, 404, "not_found")
        await member.fails("GET", "/api/v1/avatars/..%2F..%2Fruang.db", 404, "not_found")
        assert await asyncio.to_thread(os.listdir, store.folder) == []


async def test_suspended_members_are_out_of_search_until_the_suspension_ends(kit: Kit) -> None:
    admin = await kit.member("root", admin=True)
    await kit.member("sleepy", display_name="Sleepy Sam")
    await admin.ok("POST", "/api/v1/admin/members/sleepy/sanction",
                   json={"action": "suspend", "days": 1})
    assert await names(admin, "sleepy") == []
    await admin.ok("POST", "/api/v1/admin/members/sleepy/sanction", json={"action": "lift"})
    assert await names(admin, "sam") == ["sleepy"]

    # A suspension that ran out lets the member in again: they are findable again too.
    await admin.ok("POST", "/api/v1/admin/members/sleepy/sanction",
                   json={"action": "suspend", "days": 1})
    assert await names(admin, "sam") == []
    await kit.execute(update(Member).where(Member.username_key == "sleepy")
                      .values(suspended_until=utcnow() - dt.timedelta(seconds=1)))
    sleepy = await kit.login("sleepy")
    assert (await sleepy.get("/api/v1/me"))["username"] == "sleepy"
    assert await names(admin, "sam") == ["sleepy"]


async def test_following_and_blocking_twice_at_once(kit: Kit) -> None:
    """A double click: the same request several times at once is still one follow/block."""
    fan = await kit.member("fan")
    await kit.member("idol")

    async def together(method: str, path: str, times: int = 4) -> list[int]:
        answers = await asyncio.gather(*(fan.call(method, path) for _ in range(times)))
        return [resp.status_code for resp in answers]

    assert await together("POST", "/api/v1/members/idol/follow") == [204] * 4
    idol = await fan.get("/api/v1/members/idol")
    assert (idol["followers_count"], idol["you_follow"]) == (1, True)
    assert (await fan.get("/api/v1/members/fan"))["following_count"] == 1
    assert await together("DELETE", "/api/v1/members/idol/follow") == [204] * 4
    assert (await fan.get("/api/v1/members/idol"))["followers_count"] == 0
    assert (await fan.get("/api/v1/members/fan"))["following_count"] == 0
    assert await together("POST", "/api/v1/members/idol/block") == [204] * 4
    assert [c["username"] for c in await fan.get("/api/v1/me/blocks")] == ["idol"]
