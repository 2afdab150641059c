"""A room's life over the real server (REST + WebSocket through the SDK), on SQLite and
PostgreSQL: raised hands, invitations, mutes, moderators, removals, the moderation handover,
the audience, room kinds, and what GET /rooms/{id} says each member may do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ruang.actions import rooms as room_actions
from ruang.app import SWEEP_INTERVAL
from ruang.domain.rooms import Role, RoomState
from ruang.events.models import RoomEnded
from tests.conftest import make_settings, run_server
from tests.integration.roomkit import (
    Crowd,
    card_ids,
    eventually,
    fresh,
    ids,
    on_stage,
    refused,
    role_in,
    settle,
)


@pytest.fixture
async def crowd(live: Any) -> AsyncIterator[Crowd]:
    async with Crowd(live) as c:
        yield c


async def test_raised_hands_queue_in_order_and_can_be_turned_off(crowd: Crowd) -> None:
    alice, bob, carol, dave = await crowd.members("alice", "bob", "carol", "dave")
    rid = (await alice.client.create_room("Hands up"))["id"]
    a = await alice.join(rid)
    b, c, d = [await p.join(rid) for p in (bob, carol, dave)]

    # The queue is the order hands went up, whoever raised first.
    for p in (carol, bob, dave):
        await p.s(rid).raise_hand()
    await a.wait_for(lambda s: ids(s.snapshot.hands) == [carol.id, bob.id, dave.id])
    assert ids((await fresh(alice, rid)).hands) == [carol.id, bob.id, dave.id]
    assert c.hand_raised
    assert not a.hand_raised
    # Raising it again keeps one's place.
    await carol.s(rid).raise_hand()
    assert ids((await fresh(alice, rid)).hands) == [carol.id, bob.id, dave.id]
    # The moderator is offered to lower each of them.
    mine = (await alice.client.get_room(rid))["you"]["member_actions"]
    for p in (carol, bob, dave):
        assert "lower_hand" in mine[str(p.id)]

    # A listener lowers their own hand, not someone else's.
    await refused(bob.client.stage(rid, "lower-hand", "dave"), "not_a_moderator", 403)
    await b.raise_hand(False)
    await a.wait_for(lambda s: ids(s.snapshot.hands) == [carol.id, dave.id])
    assert alice.seen(rid, "hand_lowered")[-1] == {"type": "hand_lowered",
                                                    "member_id": bob.id, "by": None}
    await refused(b.raise_hand(False), "hand_not_raised")
    # A moderator lowers anyone's.
    await alice.client.stage(rid, "lower-hand", "dave")
    await d.wait_for(lambda s: not s.hand_raised)
    assert dave.seen(rid, "hand_lowered")[-1] == {"type": "hand_lowered",
                                                   "member_id": dave.id, "by": alice.id}
    await refused(alice.client.stage(rid, "lower-hand", "dave"), "hand_not_raised", 409)
    await refused(alice.client.stage(rid, "lower-hand", "alice"), "hand_not_raised")

    # Hands off: every hand goes down, nobody can raise one; only moderators switch.
    await b.raise_hand()
    await a.wait_for(lambda s: ids(s.snapshot.hands) == [carol.id, bob.id])
    await refused(bob.client.set_hands(rid, False), "not_a_moderator", 403)
    await alice.client.set_hands(rid, False)
    snap = await settle(rid, alice, a, b, c, d)
    assert snap.hands == []
    assert snap.room.hands_enabled is False
    assert all(s.snapshot == snap for s in (a, b, c, d))
    assert bob.seen(rid, "hands_changed") == [{"type": "hands_changed", "enabled": False,
                                                "by": alice.id}]
    for s in (b, c, d):
        await refused(s.raise_hand(), "hands_off")
    you = (await dave.client.get_room(rid))["you"]
    assert "raise_hand" not in you["actions"]
    assert you["hand_raised"] is False

    # On again: hands can go up, and the queue starts afresh.
    await alice.client.set_hands(rid, True)
    await d.wait_for(lambda s: s.snapshot.room.hands_enabled)
    await d.raise_hand()
    await b.raise_hand()
    await a.wait_for(lambda s: ids(s.snapshot.hands) == [dave.id, bob.id])
    assert "raise_hand" in (await carol.client.get_room(rid))["you"]["actions"]


async def test_invitations_mutes_and_moves(crowd: Crowd) -> None:
    alice, bob, carol, dave = await crowd.members("alice", "bob", "carol", "dave")
    rid = (await alice.client.create_room("On stage"))["id"]
    a = await alice.join(rid)
    b, c, d = [await p.join(rid) for p in (bob, carol, dave)]

    # Invited from the hand queue: the hand becomes an invitation.
    await b.raise_hand()
    await c.raise_hand()
    await a.wait_for(lambda s: ids(s.snapshot.hands) == [bob.id, carol.id])
    await alice.client.stage(rid, "invite", "bob")
    await b.wait_for(lambda s: s.invited and not s.hand_raised)
    snap = await settle(rid, alice, a, b, c, d)
    assert ids(snap.hands) == [carol.id]
    assert ids(snap.invited) == [bob.id]
    invited = dave.seen(rid, "speak_invited")[-1]
    assert (invited["member"]["id"], invited["by"]) == (bob.id, alice.id)
    assert (await bob.client.get_room(rid))["you"]["invited"] is True
    await refused(b.raise_hand(), "already_invited")  # answer the invitation instead

    # Declined: off the list, still a listener, hand down.
    await b.answer_invite(False)
    await a.wait_for(lambda s: s.snapshot.invited == [])
    assert alice.seen(rid, "invite_declined") == [{"type": "invite_declined",
                                                   "member_id": bob.id}]
    assert not b.hand_raised
    assert role_in(a, bob.id) is None
    await refused(b.answer_invite(True), "not_invited")

    # Accepted: a speaker.
    await alice.client.stage(rid, "invite", "@carol")
    await c.wait_for(lambda s: s.invited)
    await c.answer_invite(True)
    await a.wait_for(lambda s: role_in(s, carol.id) is Role.SPEAKER)
    assert a.snapshot is not None
    assert a.snapshot.hands == []
    assert a.snapshot.invited == []
    await refused(alice.client.stage(rid, "invite", "carol"), "already_on_stage", 409)
    await refused(bob.client.stage(rid, "invite", "dave"), "not_a_moderator", 403)

    # Muted by a moderator: the speaker cannot unmute; the moderator can.
    await alice.client.stage(rid, "mute", "carol")
    await c.wait_for(lambda s: s.me is not None and s.me.mod_muted)
    await refused(c.set_muted(False), "muted_by_moderator")
    await refused(bob.client.stage(rid, "unmute", "carol"), "not_a_moderator", 403)
    await c.set_muted(True)  # muting oneself is always allowed
    await alice.client.stage(rid, "unmute", "carol")
    await c.wait_for(lambda s: s.me is not None and not s.me.mod_muted)
    assert c.me is not None
    assert c.me.self_muted  # the moderator let her speak; her own mute stays hers
    await c.set_muted(False)
    await d.wait_for(lambda s: s.snapshot.on_stage(carol.id) is not None
                     and not s.snapshot.on_stage(carol.id).self_muted)
    mutes = [(m["self_muted"], m["mod_muted"], m["by"]) for m in dave.seen(rid, "mute_changed")]
    assert mutes == [(False, True, alice.id), (True, True, None), (True, False, alice.id),
                     (False, False, None)]
    await refused(alice.client.stage(rid, "mute", "dave"), "not_on_stage", 403)

    # Moved to the audience by a moderator.
    await refused(alice.client.stage(rid, "move-to-audience", "dave"), "not_a_speaker", 409)
    await alice.client.stage(rid, "move-to-audience", "carol")
    await c.wait_for(lambda s: s.me is not None and s.me.role is Role.LISTENER)
    moved = dave.seen(rid, "role_changed")[-1]
    assert (moved["member"]["id"], moved["member"]["role"], moved["by"]) == \
        (carol.id, "listener", alice.id)

    # Leaving the stage by oneself.
    await on_stage(alice, dave, rid)
    await d.leave_stage()
    await a.wait_for(lambda s: role_in(s, dave.id) is None)
    left = carol.seen(rid, "role_changed")[-1]
    assert (left["member"]["id"], left["member"]["role"], left["by"]) == \
        (dave.id, "listener", None)
    await refused(d.leave_stage(), "not_a_speaker")
    await refused(a.leave_stage(), "not_a_speaker")  # moderators stay on stage

    final = await settle(rid, alice, a, b, c, d)
    assert ids(final.stage) == [alice.id]
    assert all(s.snapshot == final for s in (a, b, c, d))


async def test_make_moderator_and_blocks_between_members(crowd: Crowd) -> None:
    alice, bob, carol, dave = await crowd.members("alice", "bob", "carol", "dave")
    rid = (await alice.client.create_room("Moderators"))["id"]
    a = await alice.join(rid)
    b, c, d = [await p.join(rid) for p in (bob, carol, dave)]

    await refused(alice.client.stage(rid, "make-moderator", "bob"), "not_a_speaker", 409)
    await on_stage(alice, bob, rid)
    await refused(carol.client.stage(rid, "make-moderator", "bob"), "not_a_moderator", 403)
    await alice.client.stage(rid, "make-moderator", "bob")
    await b.wait_for(lambda s: s.me is not None and s.me.role is Role.MODERATOR)
    made = carol.seen(rid, "role_changed")[-1]
    assert (made["member"]["id"], made["member"]["role"], made["by"]) == \
        (bob.id, "moderator", alice.id)
    await refused(alice.client.stage(rid, "make-moderator", "bob"), "not_a_speaker")
    await refused(bob.client.stage(rid, "remove", "alice"), "forbidden", 403)
    await refused(bob.client.stage(rid, "mute", "bob"), "forbidden", 403)

    # The new moderator moderates: brings carol on stage.
    await on_stage(bob, carol, rid)

    # Carol (a speaker) blocks alice: alice cannot hand her moderation (a contact action),
    # but still moderates her; bob, who is not blocked, can.
    await carol.call("POST", "/api/v1/members/alice/block")
    await refused(alice.client.stage(rid, "make-moderator", "carol"), "blocked", 403)
    on_carol = (await alice.client.get_room(rid))["you"]["member_actions"][str(carol.id)]
    assert "make_moderator" not in on_carol
    assert "mute" in on_carol
    await alice.client.stage(rid, "mute", "carol")
    await c.wait_for(lambda s: s.me is not None and s.me.mod_muted)
    await bob.client.stage(rid, "make-moderator", "carol")
    await a.wait_for(lambda s: role_in(s, carol.id) is Role.MODERATOR)

    # Dave (a listener) blocks alice: she cannot invite him to speak; bob can.
    await dave.call("POST", "/api/v1/members/alice/block")
    await refused(alice.client.stage(rid, "invite", "dave"), "blocked", 403)
    await bob.client.stage(rid, "invite", "dave")
    await d.wait_for(lambda s: s.invited)

    snap = await settle(rid, alice, a, b, c, d)
    assert [(m.id, m.role) for m in snap.stage] == [
        (alice.id, Role.MODERATOR), (bob.id, Role.MODERATOR), (carol.id, Role.MODERATOR)]


async def test_removed_members_cannot_come_back(crowd: Crowd) -> None:
    alice, carol, dave = await crowd.members("alice", "carol", "dave")
    bob = await crowd.member("bob", realtime=False)
    rid = (await alice.client.create_room("House rules"))["id"]
    a = await alice.join(rid)
    c, d = await carol.join(rid), await dave.join(rid)
    raw = await crowd.raw(bob)
    await raw.join(rid)

    await refused(carol.client.stage(rid, "remove", "bob"), "not_a_moderator", 403)
    await refused(alice.client.stage(rid, "remove", "nobody"), "member_not_found", 404)
    start = len(raw.frames)
    await alice.client.stage(rid, "remove", "bob")
    left = await raw.wait_frame(lambda f: f["type"] == "room.left", start=start)
    assert left["room_id"] == rid
    assert left["reason"] == "removed"
    events = [f["event"] for f in raw.frames[start:] if f["type"] == "room.event"]
    assert {"type": "member_removed", "member_id": bob.id, "by": alice.id} in events
    # The WebSocket stays open; rejoining (on it, or on a new one) is refused.
    again = await raw.request({"type": "room.join", "room_id": rid, "media": False})
    assert (again["type"], again["code"]) == ("error", "removed_from_room")
    other = await crowd.raw(bob)
    again = await other.request({"type": "room.join", "room_id": rid, "media": False})
    assert (again["type"], again["code"]) == ("error", "removed_from_room")
    # Over REST the room is gone for them.
    await refused(bob.client.get_room(rid), "room_not_found", 404)
    assert rid not in card_ids((await bob.client.hallway())["live"])
    assert (await carol.client.get_room(rid))["snapshot"]["room"]["state"] == "live"

    # A speaker removed: the SDK session ends with "removed", and cannot rejoin.
    await on_stage(alice, carol, rid)
    await alice.client.stage(rid, "remove", "carol")
    await c.wait_for(lambda s: s.left == "removed")
    await d.wait_for(lambda s: role_in(s, carol.id) is None)
    assert {"type": "member_removed", "member_id": carol.id, "by": alice.id} in \
        dave.seen(rid, "member_removed")
    assert carol.rt is not None
    await refused(carol.rt.join(rid), "removed_from_room")

    # A moderator who blocks someone present removes them from the room.
    await alice.call("POST", "/api/v1/members/dave/block")
    await d.wait_for(lambda s: s.left == "removed")
    assert dave.rt is not None
    await refused(dave.rt.join(rid), "removed_from_room")
    snap = await settle(rid, alice, a)
    assert ids(snap.stage) == [alice.id]
    await a.wait_for(lambda s: s.snapshot.audience_count == 0)


async def test_moderation_passes_to_the_longest_serving_speaker(crowd: Crowd) -> None:
    alice, bob, carol, dave = await crowd.members("alice", "bob", "carol", "dave")
    rid = (await alice.client.create_room("Handover"))["id"]
    a = await alice.join(rid)
    b, c, d = [await p.join(rid) for p in (bob, carol, dave)]
    await on_stage(alice, bob, rid)
    await on_stage(alice, carol, rid)
    await settle(rid, alice, a, b, c, d)

    before = len(dave.events)
    await a.leave()
    await d.wait_for(lambda s: role_in(s, bob.id) is Role.MODERATOR)
    new = [(kind, data) for room, kind, data in dave.events[before:] if room == rid
           and kind != "audience_changed"]
    assert [kind for kind, _ in new] == ["member_left", "role_changed"]
    assert new[0][1] == {"type": "member_left", "member_id": alice.id, "reason": "left"}
    heir = new[1][1]
    assert (heir["member"]["id"], heir["member"]["role"], heir["by"]) == \
        (bob.id, "moderator", None)
    assert role_in(d, carol.id) is Role.SPEAKER
    # The heir moderates.
    await bob.client.stage(rid, "mute", "carol")
    await c.wait_for(lambda s: s.me is not None and s.me.mod_muted)
    # The host comes back: a moderator again, at the end of the stage.
    await alice.join(rid)
    snap = await settle(rid, bob, alice.s(rid), b, c, d)
    assert [(m.id, m.role) for m in snap.stage] == [
        (bob.id, Role.MODERATOR), (carol.id, Role.SPEAKER), (alice.id, Role.MODERATOR)]


async def test_room_without_moderator_waits_for_a_host_then_ends(tmp_path: Path,
                                                                database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, room_orphan_grace_seconds=2)
    async with run_server(settings) as server, Crowd(server) as crowd:
        alice, bob = await crowd.members("alice", "bob")
        saved = (await alice.client.create_room("Saved by the host"))["id"]
        ends = (await alice.client.create_room("Nobody moderates"))["id"]
        for rid in (saved, ends):
            await alice.join(rid)
            await bob.join(rid)
        # The last moderator leaves; only a listener is left: the rooms wait.
        await alice.s(saved).leave()
        await alice.s(ends).leave()
        for rid in (saved, ends):
            snap = await fresh(bob, rid)
            assert snap.room.state is RoomState.LIVE
            assert snap.stage == []
        assert bob.seen(ends, "room_ended") == []
        # The host comes back to one of them in time.
        await alice.join(saved)

        await bob.s(ends).wait_for(lambda s: s.left == "ended", timeout=15)
        assert bob.seen(ends, "room_ended") == [{"type": "room_ended", "by": None,
                                                 "reason": "no_moderator"}]
        assert (await fresh(bob, ends)).room.state is RoomState.ENDED
        await refused(bob.rt.join(ends), "room_ended")  # type: ignore[union-attr]
        # The other room lives on (a sweep later too: the timer is what is under test).
        await asyncio.sleep(SWEEP_INTERVAL + 0.5)
        snap = await fresh(bob, saved)
        assert snap.room.state is RoomState.LIVE
        assert [(m.id, m.role) for m in snap.stage] == [(alice.id, Role.MODERATOR)]
        assert bob.s(saved).left is None
        assert bob.seen(saved, "room_ended") == []


async def test_last_member_leaving_ends_the_room(crowd: Crowd, live: Any) -> None:
    alice, bob = await crowd.members("alice", "bob")
    rid = (await alice.client.create_room("Short one"))["id"]
    a = await alice.join(rid)
    b = await bob.join(rid)
    await a.wait_for(lambda s: s.snapshot.audience_count == 1)
    await b.leave()  # a listener without a hand leaves quietly
    await a.wait_for(lambda s: s.snapshot.audience_count == 0)
    assert alice.seen(rid, "member_left") == []
    assert (await fresh(alice, rid)).room.state is RoomState.LIVE

    await a.leave()
    snap = await eventually(lambda: _ended(alice, rid))
    assert snap.stage == []
    assert snap.room.ended_at is not None
    events = await room_actions.events_since(live.runtime.svc, rid, 0)
    assert events[-1].event == RoomEnded(by=None, reason="empty")
    assert events[-1].seq == snap.seq
    await refused(bob.rt.join(rid), "room_ended")  # type: ignore[union-attr]


async def _ended(person: Any, rid: int) -> Any:
    snap = await fresh(person, rid)
    return snap if snap.room.state is RoomState.ENDED else None


async def test_audience_count_and_pages(crowd: Crowd) -> None:
    alice = await crowd.member("alice")
    names = ["lis_one", "lis_two", "lis_three", "lis_four", "lis_five"]
    listeners = await crowd.members(*names)
    rid = (await alice.client.create_room("Big audience"))["id"]
    a = await alice.join(rid)
    for p in listeners:
        await p.join(rid)
    await a.wait_for(lambda s: s.snapshot.audience_count == 5, timeout=10)
    counts = [e["count"] for e in alice.seen(rid, "audience_changed")]
    assert counts == sorted(counts)
    assert counts[-1] == 5

    async def page(after: int = 0, limit: int = 2) -> dict[str, Any]:
        result: dict[str, Any] = await alice.call(
            "GET", f"/api/v1/rooms/{rid}/audience", params={"after": after, "limit": limit})
        return result

    seen: list[str] = []
    after = 0
    for expected in (names[0:2], names[2:4], names[4:5]):
        got = await page(after)
        assert got["count"] == 5
        assert [m["username"] for m in got["members"]] == expected
        assert all(m["role"] == "listener" for m in got["members"])
        seen += expected
        after = got["next_after"]
        if expected == names[4:5]:
            assert after is None
        else:
            assert isinstance(after, int)
    assert seen == names

    # A listener leaves and another goes on stage: the count and the list follow.
    await listeners[1].s(rid).leave()
    await on_stage(alice, listeners[2], rid)
    await a.wait_for(lambda s: s.snapshot.audience_count == 3, timeout=10)
    got = await page(limit=100)
    assert [m["username"] for m in got["members"]] == ["lis_one", "lis_four", "lis_five"]
    assert got["next_after"] is None
    # Everyone sees the same count.
    snap = await settle(rid, alice, *(p.s(rid) for p in listeners if p.name != "lis_two"))
    assert snap.audience_count == 3


async def test_open_social_and_closed_rooms(crowd: Crowd) -> None:
    alice, erin, bob, carol, dave, mal, nina = await crowd.members(
        "alice", "erin", "bob", "carol", "dave", "mal", "nina")
    open_room = (await alice.client.create_room("Open to all"))["id"]
    social = (await alice.client.create_room("Friends", kind="social", cohosts=["erin"]))["id"]
    closed = (await alice.client.create_room("Invited only", kind="closed", cohosts=["erin"],
                                             invitees=["carol"]))["id"]

    # Open: anyone.
    await bob.join(open_room)

    # Social: followers of a host, a co-host or a moderator present.
    await refused(bob.rt.join(social), "not_following")  # type: ignore[union-attr]
    await refused(bob.client.get_room(social), "room_not_found", 404)
    assert social not in card_ids((await bob.client.hallway())["live"])
    await bob.call("POST", "/api/v1/members/alice/follow")
    s_bob = await bob.join(social)
    assert s_bob.me is not None
    assert s_bob.me.role is Role.LISTENER
    assert social in card_ids((await bob.client.hallway())["live"])
    await carol.call("POST", "/api/v1/members/erin/follow")  # a co-host
    await carol.join(social)
    await refused(dave.rt.join(social), "not_following")  # type: ignore[union-attr]
    await alice.join(social)
    await on_stage(alice, bob, social)
    await alice.client.stage(social, "make-moderator", "bob")
    await alice.s(social).wait_for(lambda s: role_in(s, bob.id) is Role.MODERATOR)
    await dave.call("POST", "/api/v1/members/bob/follow")  # a moderator present
    await dave.join(social)
    # Co-hosts come in as moderators.
    s_erin = await erin.join(social)
    assert s_erin.me is not None
    assert s_erin.me.role is Role.MODERATOR
    joined = [e for e in alice.seen(social, "member_joined") if e["member"]["id"] == erin.id]
    assert joined[0]["member"]["role"] == "moderator"

    # Closed: invitees and hosts only (following does not help).
    await refused(bob.rt.join(closed), "room_closed")  # type: ignore[union-attr]
    await refused(bob.client.get_room(closed), "room_not_found", 404)
    assert closed not in card_ids((await bob.client.hallway())["live"])
    s_carol = await carol.join(closed)
    assert s_carol.me is not None
    assert s_carol.me.role is Role.LISTENER
    assert closed in card_ids((await carol.client.hallway())["live"])
    s_erin = await erin.join(closed)
    assert s_erin.me is not None
    assert s_erin.me.role is Role.MODERATOR
    s_alice = await alice.join(closed)
    assert s_alice.me is not None
    assert s_alice.me.role is Role.MODERATOR

    # Blocked by the host: cannot join, and the room does not exist for them.
    await alice.call("POST", "/api/v1/members/mal/block")
    await refused(mal.rt.join(open_room), "blocked")  # type: ignore[union-attr]
    await refused(mal.client.get_room(open_room), "room_not_found", 404)
    await refused(mal.call("GET", f"/api/v1/rooms/{open_room}/audience"), "room_not_found", 404)
    assert open_room not in card_ids((await mal.client.hallway())["live"])
    # ...and so for a room where a moderator present (not a host) blocked them, even though
    # they follow its host.
    await nina.call("POST", "/api/v1/members/alice/follow")
    await bob.call("POST", "/api/v1/members/nina/block")
    await refused(nina.rt.join(social), "blocked")  # type: ignore[union-attr]
    await refused(nina.client.get_room(social), "room_not_found", 404)
    await nina.join(open_room)  # bob moderates only the social room


async def test_you_actions_follow_the_rules(crowd: Crowd) -> None:
    alice, bob, carol, dave = await crowd.members("alice", "bob", "carol", "dave")
    erin = await crowd.member("erin", realtime=False)
    rid = (await alice.client.create_room("Who may do what"))["id"]
    a = await alice.join(rid)
    b, c, d = [await p.join(rid) for p in (bob, carol, dave)]
    await on_stage(alice, bob, rid)
    await c.raise_hand()
    await settle(rid, alice, a, b, c, d)

    async def you(p: Any) -> dict[str, Any]:
        return dict((await p.client.get_room(rid))["you"])

    mod = await you(alice)
    assert (mod["in_room"], mod["role"]) == (True, "moderator")
    assert set(mod["actions"]) == {"self_mute", "self_unmute", "chat", "react", "end_room",
                                   "set_hands", "set_chat_mode", "delete_any_chat"}
    assert {k: set(v) for k, v in mod["member_actions"].items()} == {
        str(bob.id): {"move_to_audience", "mute", "unmute", "remove", "make_moderator"},
        str(carol.id): {"invite_to_speak", "remove", "lower_hand"}}

    speaker = await you(bob)
    assert (speaker["role"], speaker["hand_raised"]) == ("speaker", False)
    assert set(speaker["actions"]) == {"self_mute", "self_unmute", "leave_stage", "chat",
                                       "react"}
    assert speaker["member_actions"] == {}

    hand = await you(carol)
    assert (hand["role"], hand["hand_raised"], hand["invited"]) == ("listener", True, False)
    assert {"lower_own_hand", "chat", "react"} <= set(hand["actions"])
    assert not {"accept_invite", "decline_invite", "self_mute", "self_unmute", "leave_stage",
                "end_room", "set_hands", "set_chat_mode", "delete_any_chat"} & \
        set(hand["actions"])
    assert hand["member_actions"] == {}

    plain = await you(dave)
    assert set(plain["actions"]) == {"raise_hand", "chat", "react"}
    outsider = await you(erin)
    assert (outsider["in_room"], outsider["role"], outsider["actions"]) == (False, None, [])

    # The answers follow the room: a muted speaker, an invitation, chat off, hands off.
    await alice.client.stage(rid, "mute", "bob")
    await alice.client.stage(rid, "invite", "carol")
    await alice.client.set_chat_mode(rid, "off")
    await alice.client.set_hands(rid, False)
    await settle(rid, alice, a, b, c, d)
    assert set((await you(bob))["actions"]) == {"self_mute", "leave_stage", "react"}
    assert set((await you(carol))["actions"]) == {"accept_invite", "decline_invite", "react"}
    assert set((await you(dave))["actions"]) == {"react"}
    assert "chat" in (await you(alice))["actions"]
    mod = await you(alice)
    # An invited listener can still be invited (again) or removed; her hand is down.
    assert set(mod["member_actions"][str(carol.id)]) == {"invite_to_speak", "remove"}
