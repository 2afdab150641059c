"""The whole way in, against a real server (SQLite and PostgreSQL): someone joins the waitlist
naming a member, is waved in, redeems the invitation, makes a profile, follows, blocks and
unblocks that member."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

from ruang.client.api import ApiError
from ruang.client.realtime import Realtime
from tests.integration.kit import Kit, avatar_file, png


@pytest.fixture
async def kit(live: Any) -> AsyncIterator[Kit]:
    async with Kit(live) as k:
        yield k


async def test_from_the_waitlist_to_a_member_who_follows_and_blocks(kit: Kit) -> None:
    mentor = await kit.member("mentor", email="mentor@example.org",
                              display_name="Maya Mentor")
    assert (await mentor.get("/api/v1/me"))["invites_left"] == 2

    # --- Nadia asks to join, naming the member who knows her -----------------------------
    resp = await kit.anon.call("POST", "/api/v1/waitlist", json={
        "name": "Nadia Rahman", "email": "Nadia@Example.org", "username": "nadia",
        "vouchers": ["@Mentor"], "note": "We met at the design meetup."})
    assert resp.status_code == 202, resp.text
    assert set(resp.json()) == {"message"}

    received = await kit.last_mail("nadia@example.org", "waitlist")
    assert "Nadia Rahman" in received.text
    status_token = kit.token_in(received, "waitlist")
    status = await kit.anon.get("/api/v1/waitlist/status", params={"token": status_token})
    assert status == {"name": "Nadia Rahman", "username": "nadia", "status": "waiting",
                      "position": 1}

    # --- the member sees who named them and waves her in ---------------------------------
    named = await mentor.get("/api/v1/waitlist/named-me")
    assert len(named) == 1
    entry = named[0]
    assert (entry["name"], entry["username"], entry["vouched_by"], entry["status"]) == \
        ("Nadia Rahman", "nadia", ["mentor"], "waiting")
    assert entry["note"] == "We met at the design meetup."
    assert entry["email"] is None  # only administrators see addresses

    invite = await mentor.ok("POST", f"/api/v1/waitlist/{entry['id']}/wave-in", status=201)
    assert invite["status"] == "pending"
    assert invite["email"].lower() == "nadia@example.org"
    mine = await mentor.get("/api/v1/invites")
    assert mine["invites_left"] == 1
    assert [i["id"] for i in mine["invites"]] == [invite["id"]]
    assert (await mentor.get("/api/v1/me"))["invites_left"] == 1
    assert await mentor.get("/api/v1/waitlist/named-me") == []
    status = await kit.anon.get("/api/v1/waitlist/status", params={"token": status_token})
    assert (status["status"], status["position"]) == ("invited", None)

    # --- the invitation comes by email ---------------------------------------------------
    letter = await kit.last_mail("nadia@example.org", "invite")
    assert "Maya Mentor" in letter.text
    assert "@nadia" in letter.text
    token = kit.token_in(letter, "invite")
    lookup = await kit.anon.get("/api/v1/invites/lookup", params={"token": token})
    assert lookup["inviter"] == "Maya Mentor"
    assert lookup["email"].lower() == "nadia@example.org"
    assert lookup["username"] == "nadia"

    redeemed = await kit.anon.ok("POST", "/api/v1/invites/redeem", status=201,
                                 json={"token": token, "password": "blue-lanterns-at-dusk"})
    assert redeemed["member"]["username"] == "nadia"
    assert redeemed["member"]["display_name"] == "Nadia Rahman"
    assert redeemed["token"].startswith("rg_")
    assert redeemed["csrf_token"]
    nadia = kit.client(redeemed["token"], member_id=redeemed["member"]["id"],
                       username="nadia")
    me = await nadia.get("/api/v1/me")
    assert me["username"] == "nadia"
    assert me["email"].lower() == "nadia@example.org"
    assert me["email_verified"] is True
    assert me["invites_left"] == kit.settings.invites_per_member
    # She can log in with her password too.
    await kit.login("nadia", "blue-lanterns-at-dusk")

    profile = await nadia.get("/api/v1/members/nadia")
    assert profile["nominated_by"] == "mentor"
    assert profile["is_you"] is True
    sent = (await mentor.get("/api/v1/invites"))["invites"]
    assert [(i["status"], i["redeemed_by"]) for i in sent] == [("redeemed", "nadia")]
    status = await kit.anon.get("/api/v1/waitlist/status", params={"token": status_token})
    assert status["status"] == "joined"
    # The link worked once.
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 409, "invite_used",
                         json={"token": token, "password": "blue-lanterns-at-dusk"})

    # --- profile -------------------------------------------------------------------------
    topics = await nadia.get("/api/v1/topics")
    assert topics == kit.settings.topic_list
    assert len(topics) >= 3
    updated = await nadia.ok("PATCH", "/api/v1/me/profile", json={
        "display_name": "  Nadia   R. ", "headline": "Product designer at Lumen",
        "bio": "I draw interfaces.\nAnd bridges.",
        "interests": [topics[0], topics[2].upper(), topics[0]]})
    assert updated["display_name"] == "Nadia R."
    assert updated["headline"] == "Product designer at Lumen"
    assert updated["bio"] == "I draw interfaces.\nAnd bridges."
    assert updated["interests"] == [topics[0], topics[2]]
    await nadia.fails("PATCH", "/api/v1/me/profile", 400, "invalid_input",
                      json={"interests": [topics[1], "Underwater Basket Weaving"]})
    assert (await nadia.get("/api/v1/members/nadia"))["interests"] == [topics[0], topics[2]]

    # --- avatar --------------------------------------------------------------------------
    with_avatar = await nadia.ok("PUT", "/api/v1/me/avatar",
                                 **avatar_file(png((300, 200), (10, 120, 200))))
    avatar_url = with_avatar["avatar_url"]
    assert avatar_url.startswith("/api/v1/avatars/")
    picture = await nadia.call("GET", avatar_url)
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(picture.content)) as img:
        assert img.format == "WEBP"
        assert img.size == (512, 512)
        red, _green, blue = img.convert("RGB").getpixel((256, 256))
        assert blue > 150
        assert red < 60
    # Other members see it; nobody logged out does.
    assert (await mentor.call("GET", avatar_url)).content == picture.content
    assert (await mentor.get("/api/v1/members/nadia"))["avatar_url"] == avatar_url
    await kit.anon.fails("GET", avatar_url, 401, "not_authenticated")

    # --- follow --------------------------------------------------------------------------
    await nadia.ok("POST", "/api/v1/members/mentor/follow", status=204)
    await nadia.ok("POST", "/api/v1/members/mentor/follow", status=204)  # idempotent
    await mentor.ok("POST", "/api/v1/members/nadia/follow", status=204)
    followers = await nadia.get("/api/v1/members/mentor/followers")
    assert [c["username"] for c in followers["items"]] == ["nadia"]
    assert followers["items"][0]["avatar_url"] == avatar_url
    assert followers["items"][0]["headline"] == "Product designer at Lumen"
    following = await mentor.get("/api/v1/members/nadia/following")
    assert [c["username"] for c in following["items"]] == ["mentor"]
    seen_by_nadia = await nadia.get("/api/v1/members/mentor")
    assert (seen_by_nadia["followers_count"], seen_by_nadia["following_count"]) == (1, 1)
    assert seen_by_nadia["you_follow"]
    assert seen_by_nadia["follows_you"]
    seen_by_mentor = await mentor.get("/api/v1/members/nadia")
    assert (seen_by_mentor["followers_count"], seen_by_mentor["following_count"]) == (1, 1)

    # --- block ---------------------------------------------------------------------------
    room = await nadia.ok("POST", "/api/v1/rooms", status=201, json={"title": "Design crit"})
    await nadia.ok("POST", "/api/v1/members/mentor/block", status=204)
    blocked_view = await nadia.get("/api/v1/members/mentor")
    assert blocked_view["you_blocked"] is True
    assert not blocked_view["you_follow"]
    assert not blocked_view["follows_you"]
    assert (blocked_view["followers_count"], blocked_view["following_count"]) == (0, 0)
    mine_now = await nadia.get("/api/v1/members/nadia")
    assert (mine_now["followers_count"], mine_now["following_count"]) == (0, 0)
    assert (await nadia.get("/api/v1/members/mentor/followers"))["items"] == []
    assert (await nadia.get("/api/v1/members/nadia/following"))["items"] == []
    assert [c["username"] for c in await nadia.get("/api/v1/me/blocks")] == ["mentor"]
    await mentor.fails("POST", "/api/v1/members/nadia/follow", 403, "blocked")
    await nadia.fails("POST", "/api/v1/members/mentor/follow", 403, "blocked")

    # The blocked member cannot join a room the blocker hosts.
    rt = Realtime(mentor, reconnect=False)
    await rt.connect()
    try:
        with pytest.raises(ApiError) as refused:
            await rt.join(room["id"])
        assert refused.value.code == "blocked"
        assert room["id"] not in rt.rooms

        # --- unblock -----------------------------------------------------------------------
        await nadia.ok("DELETE", "/api/v1/members/mentor/block", status=204)
        assert await nadia.get("/api/v1/me/blocks") == []
        assert (await nadia.get("/api/v1/members/mentor"))["you_blocked"] is False
        await mentor.ok("POST", "/api/v1/members/nadia/follow", status=204)
        assert (await nadia.get("/api/v1/members/nadia"))["followers_count"] == 1
        session = await rt.join(room["id"])
        await session.wait_for(lambda s: s.me is not None)
        assert session.me is not None
        assert session.me.username == "mentor"
    finally:
        await rt.close()
