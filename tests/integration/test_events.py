"""Every room event, produced by the real action (in the style of Zulip's verify_action).

For each action: read the room from the server, perform the action through the API (REST or
the WebSocket, via the SDK), capture the ``room.event`` frames an observer connected to the
room receives, check each against the schema, and check that the snapshot from before with
those events applied is exactly the snapshot the server gives now. events/models.apply is the
meaning of every event; this keeps the server's writes and that meaning in step.

Listeners come and go without events; the audience count they change is announced a moment
later (``audience_changed``, coalesced). Each verification therefore starts and ends with the
announced count caught up with the listeners present, so an action that changes the audience
must list its ``audience_changed`` too. (The announcement interval is shortened here to keep
the tests quick; test_audience_changed_is_coalesced runs at the real one.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from sqlalchemy import update

from ruang.actions import rooms as room_actions
from ruang.actions.context import Services
from ruang.client.api import ApiError, RuangClient
from ruang.client.realtime import Realtime, RoomSession
from ruang.domain.rooms import ChatMode, Role, RoomState
from ruang.events import live as live_views
from ruang.events.hub import decode_event, encode_event
from ruang.events.models import EVENT_TYPES, RoomEventEnvelope, RoomSnapshot, apply
from ruang.storage.models import Room as RoomRow
from ruang.storage.models import utcnow
from tests.integration.rawws import Frame, RawWS, envelope_of, replay, use_fast_hashing

F = TypeVar("F", bound=Callable[..., Any])

# Which event types the tests below produce (a test registers the ones it checks).
COVERED: set[str] = set()
FAST_AUDIENCE = 0.25  # seconds between audience announcements in these tests (real: 2)


def covers(*types: str) -> Callable[[F], F]:
    COVERED.update(types)
    return lambda fn: fn


def test_every_event_type_is_covered() -> None:
    assert {str(t.model_fields["type"].default) for t in EVENT_TYPES} == COVERED


async def fresh(client: RuangClient, room_id: int) -> RoomSnapshot:
    return RoomSnapshot.model_validate((await client.get_room(room_id))["snapshot"])


async def you(client: RuangClient, room_id: int) -> dict[str, Any]:
    return dict((await client.get_room(room_id))["you"])


def member_view(client: RuangClient, role: str = "listener", **changes: Any) -> dict[str, Any]:
    return {"id": client.member["id"], "username": client.member["username"],
            "display_name": client.member["username"], "avatar_url": None, "role": role,
            "self_muted": False, "mod_muted": False, "connected": True, **changes}


async def settled(client: RuangClient, room_id: int, timeout: float = 10.0) -> int:
    """Wait until the announced audience count is the number of listeners present (nothing
    left to announce); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        page = await client.audience(room_id)
        if page["count"] == len(page["members"]):
            return int(page["count"])
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the announced audience ({page['count']}) never caught up with the "
                f"{len(page['members'])} listeners present")
        await asyncio.sleep(0.02)


@dataclass
class Room:
    id: int
    svc: Services
    alice: RuangClient  # the host: a moderator
    bob: RuangClient
    carol: RuangClient  # not in the room
    observer: RawWS  # olive, a listener who only watches
    rt_alice: Realtime
    rt_bob: Realtime
    alice_in: RoomSession
    bob_in: RoomSession | None
    # Rooms the observer joined by replay (since_seq), with the snapshot it resumed from.
    resumed: dict[int, RoomSnapshot] = field(default_factory=dict)

    async def verify(self, action: Callable[[], Awaitable[object]], expect: list[str],
                     timeout: float = 10.0, room_id: int | None = None) -> list[Frame]:
        """Do ``action``; the observer must get exactly events of types ``expect``."""
        rid = room_id or self.id
        await settled(self.alice, rid)
        before = await fresh(self.alice, rid)
        await self.observer.wait_seq(rid, before.seq)
        await action()
        try:
            await self.observer.wait_until(
                lambda: len(self.observer.events(rid, after=before.seq)) >= len(expect),
                timeout)
        except TimeoutError:
            got = [f["event"] for f in self.observer.events(rid, after=before.seq)]
            raise AssertionError(f"expected events {expect}, got only {got}") from None
        await settled(self.alice, rid)
        after = await fresh(self.alice, rid)
        await self.observer.wait_seq(rid, after.seq)

        frames = self.observer.events(rid, after=before.seq)
        assert [f["event"]["type"] for f in frames] == expect
        assert [f["seq"] for f in frames] == list(range(before.seq + 1, after.seq + 1))
        for frame in frames:
            check_frame(self.observer, frame, rid)
        assert replay(before, frames) == after
        # The observer, who applied every event since it joined, agrees too.
        assert observed(self.observer, rid, self.resumed.get(rid)) == after
        return frames

    async def bob_joins(self) -> RoomSession:
        self.bob_in = await self.rt_bob.join(self.id)
        return self.bob_in

    async def bob_on_stage(self) -> RoomSession:
        session = self.bob_in or await self.bob_joins()
        await self.alice.stage(self.id, "invite", "bob")
        await session.answer_invite(True)
        await session.wait_for(lambda s: s.me is not None and s.me.role is Role.SPEAKER)
        return session

    async def bob_raises_his_hand(self) -> RoomSession:
        session = self.bob_in or await self.bob_joins()
        await session.raise_hand()
        await session.wait_for(lambda s: s.hand_raised)
        return session

    async def stored(self, after: int) -> list[RoomEventEnvelope]:
        return await room_actions.events_since(self.svc, self.id, after)


def check_frame(conn: RawWS, frame: Frame, room_id: int) -> RoomEventEnvelope:
    envelope = envelope_of(frame)  # validates against the schema
    raw = conn.raw[conn.frames.index(frame)]
    assert decode_event(str(raw)) == envelope
    assert encode_event(envelope) == raw
    assert envelope.room_id == room_id
    return envelope


def observed(conn: RawWS, room_id: int, base: RoomSnapshot | None = None) -> RoomSnapshot:
    """The room as the connection sees it: its latest snapshot (or ``base``, the snapshot
    it resumed from when it joined by replay) with every later event applied."""
    snaps = [f for f in conn.frames if f.get("type") == "room.snapshot"
             and f["snapshot"]["room"]["id"] == room_id]
    snap = RoomSnapshot.model_validate(snaps[-1]["snapshot"]) if snaps else base
    assert snap is not None, f"no snapshot of room {room_id} to start from"
    return replay(snap, conn.events(room_id, after=snap.seq))


@pytest.fixture
async def room(live: Any, connect: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Room]:
    use_fast_hashing(live, monkeypatch)
    monkeypatch.setattr(live_views, "AUDIENCE_INTERVAL", FAST_AUDIENCE)
    alice = await live.member("alice")
    bob = await live.member("bob")
    carol = await live.member("carol")
    olive = await live.member("olive")
    rid = (await alice.create_room("Events", "every one of them"))["id"]
    rt_alice = await connect(alice)
    rt_bob = await connect(bob)
    alice_in = await rt_alice.join(rid)
    observer = await RawWS.open(live.url, token=olive.token)
    await olive.close()
    assert (await observer.join(rid))["type"] == "room.snapshot"
    await settled(alice, rid)  # every test starts with the observer counted
    try:
        yield Room(rid, live.runtime.svc, alice, bob, carol, observer, rt_alice, rt_bob,
                   alice_in, None)
    finally:
        await observer.close()
        await carol.close()


def event(frame: Frame) -> dict[str, Any]:
    return dict(frame["event"])


async def refused(call: Callable[[], Awaitable[object]], code: str) -> None:
    with pytest.raises(ApiError) as err:
        await call()
    assert err.value.code == code


# --- arriving, leaving, connections ---------------------------------------------------------


@covers("member_joined")
async def test_member_joined(room: Room) -> None:
    """A host comes in on stage, as a moderator (as alice did in the fixture)."""
    first = RoomSnapshot.model_validate(
        next(f for f in room.observer.frames if f.get("type") == "room.snapshot")["snapshot"])
    assert [m.model_dump(mode="json") for m in first.stage] == [
        member_view(room.alice, "moderator")]
    # She steps out, and comes back.
    await room.verify(room.alice_in.leave, ["member_left"])
    sessions: list[RoomSession] = []

    async def alice_returns() -> None:
        sessions.append(await room.rt_alice.join(room.id))

    [frame] = await room.verify(alice_returns, ["member_joined"])
    assert event(frame) == {"type": "member_joined",
                            "member": member_view(room.alice, "moderator")}
    assert sessions[0].snapshot == await fresh(room.alice, room.id)
    assert (await you(room.alice, room.id))["role"] == "moderator"


async def test_member_joined_by_a_cohost(room: Room, connect: Any) -> None:
    """A co-host comes in on stage as a moderator too."""
    rid = (await room.alice.create_room("Co-hosted", cohosts=["carol"]))["id"]
    assert (await room.observer.join(rid))["type"] == "room.snapshot"
    rt_carol = await connect(room.carol)
    [frame] = await room.verify(lambda: rt_carol.join(rid), ["member_joined"], room_id=rid)
    assert event(frame) == {"type": "member_joined",
                            "member": member_view(room.carol, "moderator")}
    snap = await fresh(room.alice, rid)
    assert snap.room.cohost_ids == [room.carol.member["id"]]
    assert [m.id for m in snap.stage] == [room.carol.member["id"]]
    assert (await you(room.carol, rid))["actions"][-4:] == [
        "end_room", "set_hands", "set_chat_mode", "delete_any_chat"]


@covers("audience_changed")
async def test_listeners_come_and_go_quietly(room: Room) -> None:
    """A listener arriving or leaving is no event of its own: the audience count changes, and
    is announced."""
    assert (await fresh(room.alice, room.id)).audience_count == 1  # the observer
    [frame] = await room.verify(room.bob_joins, ["audience_changed"])
    assert event(frame) == {"type": "audience_changed", "count": 2}
    snap = await fresh(room.alice, room.id)
    assert snap.member(room.bob.member["id"]) is None  # counted, not listed
    assert room.bob_in is not None
    assert room.bob_in.me is not None  # the SDK shows an unlisted member as a listener
    assert room.bob_in.me.model_dump(mode="json") == member_view(room.bob)
    page = await room.alice.audience(room.id)
    assert page["count"] == 2
    assert [m["username"] for m in page["members"]] == ["olive", "bob"]  # in joining order
    assert page["next_after"] is None
    assert await you(room.bob, room.id) == {
        "in_room": True, "role": "listener", "hand_raised": False, "invited": False,
        "actions": ["raise_hand", "chat", "react"], "member_actions": {}}

    [frame] = await room.verify(room.bob_in.leave, ["audience_changed"])
    assert event(frame) == {"type": "audience_changed", "count": 1}
    assert [m["username"] for m in (await room.alice.audience(room.id))["members"]] == [
        "olive"]
    assert (await you(room.bob, room.id))["in_room"] is False


async def test_a_listeners_dropped_connection_is_quiet_until_the_grace_period_ends(
        room: Room) -> None:
    await room.bob_joins()
    # The connection drops: no presence event for a listener; after the grace period (2 s)
    # the sweeper takes bob out, and only the count says so.
    [frame] = await room.verify(room.rt_bob.close, ["audience_changed"], timeout=15)
    assert event(frame) == {"type": "audience_changed", "count": 1}


async def test_audience_changed_is_coalesced(room: Room, monkeypatch: pytest.MonkeyPatch,
                                            live: Any) -> None:
    """At the real interval, announcements come at most every AUDIENCE_INTERVAL seconds, and
    a burst of arrivals is announced together."""
    monkeypatch.setattr(live_views, "AUDIENCE_INTERVAL", 2.0)
    interval = 2.0
    await settled(room.alice, room.id)
    start = room.observer.last_seq(room.id)
    times: dict[int, float] = {}

    def announcements() -> list[Frame]:
        found = [f for f in room.observer.events(room.id, after=start)
                 if f["event"]["type"] == "audience_changed"]
        for f in found:
            times.setdefault(f["seq"], time.monotonic())
        return found

    await room.bob_joins()
    await room.observer.wait_until(lambda: len(announcements()) >= 1, timeout=10)
    # Right after one announcement, three more listeners arrive at once.
    others = [await live.member(name) for name in ("dave", "erin", "fay")]
    realtimes = [Realtime(c, reconnect=False) for c in others]
    try:
        for rt in realtimes:
            await rt.connect()
        await asyncio.gather(*(rt.join(room.id) for rt in realtimes))
        await room.observer.wait_until(
            lambda: bool(announcements()) and announcements()[-1]["event"]["count"] == 5,
            timeout=10)
        counts = [f["event"]["count"] for f in announcements()]
        assert counts[0] == 2
        assert counts[-1] == 5
        assert len(counts) <= 3, counts  # three arrivals: one announcement, two at most
        seqs = sorted(times)
        for a, b in itertools.pairwise(seqs):
            assert times[b] - times[a] > interval * 0.8, (counts, times)
        assert (await fresh(room.alice, room.id)).audience_count == 5
        # Paging through the audience finds each of the five exactly once, in joining order.
        paged: list[str] = []
        after = 0
        while True:
            page = await room.alice._request("GET", f"/api/v1/rooms/{room.id}/audience",
                                             params={"after": after, "limit": 2})
            assert page["count"] == 5
            paged += [m["username"] for m in page["members"]]
            if page["next_after"] is None:
                break
            after = page["next_after"]
        assert paged[:2] == ["olive", "bob"]
        assert sorted(paged[2:]) == ["dave", "erin", "fay"], paged
    finally:
        for rt in realtimes:
            await rt.close()
        for c in others:
            await c.close()


@covers("member_left")
async def test_member_left(room: Room) -> None:
    session = await room.bob_on_stage()
    [frame] = await room.verify(session.leave, ["member_left"])
    assert event(frame) == {"type": "member_left", "member_id": room.bob.member["id"],
                            "reason": "left"}
    # Coming back is quiet: bob is a listener again, counted, not listed.
    await room.verify(room.bob_joins, ["audience_changed"])
    assert (await fresh(room.alice, room.id)).member(room.bob.member["id"]) is None
    assert (await you(room.bob, room.id))["role"] == "listener"
    # A listener with a raised hand is listed: their leaving is an event.
    session = await room.bob_raises_his_hand()
    [frame, _] = await room.verify(session.leave, ["member_left", "audience_changed"])
    assert event(frame) == {"type": "member_left", "member_id": room.bob.member["id"],
                            "reason": "left"}
    assert (await fresh(room.alice, room.id)).hands == []


async def test_member_left_after_the_grace_period(room: Room) -> None:
    await room.bob_on_stage()
    bob = room.bob.member["id"]
    gone, left = await room.verify(room.rt_bob.close, ["presence_changed", "member_left"],
                                   timeout=15)
    assert event(gone) == {"type": "presence_changed", "member_id": bob, "connected": False}
    assert event(left) == {"type": "member_left", "member_id": bob, "reason": "timeout"}
    assert (await fresh(room.alice, room.id)).member(bob) is None


@covers("presence_changed")
async def test_presence_changed(room: Room, connect: Any) -> None:
    await room.bob_on_stage()
    bob_id = room.bob.member["id"]
    # The connection drops (no room.leave): bob keeps his place, shown as disconnected.
    [frame] = await room.verify(room.rt_bob.close, ["presence_changed"])
    assert event(frame) == {"type": "presence_changed", "member_id": bob_id,
                            "connected": False}
    bob = (await fresh(room.alice, room.id)).on_stage(bob_id)
    assert bob is not None
    assert (bob.role, bob.connected) == (Role.SPEAKER, False)
    # He comes back on a new connection.
    assert room.bob_in is not None
    assert room.bob_in.snapshot is not None
    since = room.bob_in.snapshot.seq
    rt = await connect(room.bob)
    session: list[RoomSession] = []

    async def resume() -> None:
        session.append(await rt.join(room.id))

    [frame] = await room.verify(resume, ["presence_changed"])
    assert event(frame) == {"type": "presence_changed", "member_id": bob_id,
                            "connected": True}
    assert frame["seq"] > since
    assert session[0].snapshot == await fresh(room.bob, room.id)
    assert session[0].me is not None
    assert session[0].me.model_dump(mode="json") == member_view(room.bob, "speaker")


# --- the stage ------------------------------------------------------------------------------


@covers("speak_invited")
async def test_speak_invited(room: Room) -> None:
    await room.bob_joins()
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"),
                                ["speak_invited"])
    assert event(frame) == {"type": "speak_invited", "member": member_view(room.bob),
                            "by": room.alice.member["id"]}
    snap = await fresh(room.alice, room.id)
    assert [m.id for m in snap.invited] == [room.bob.member["id"]]
    mine = await you(room.bob, room.id)
    assert (mine["invited"], mine["actions"]) == (True, ["accept_invite", "decline_invite",
                                                         "chat", "react"])


async def test_speak_invited_lowers_a_raised_hand(room: Room) -> None:
    await room.bob_raises_his_hand()
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "invite", "@bob"),
                                ["speak_invited"])
    assert event(frame)["member"] == member_view(room.bob)
    snap = await fresh(room.alice, room.id)
    assert (snap.hands, [m.id for m in snap.invited]) == ([], [room.bob.member["id"]])


@covers("invite_declined")
async def test_invite_declined(room: Room) -> None:
    session = await room.bob_joins()
    await room.alice.stage(room.id, "invite", "bob")
    await session.wait_for(lambda s: s.invited)
    [frame] = await room.verify(lambda: session.answer_invite(False), ["invite_declined"])
    assert event(frame) == {"type": "invite_declined", "member_id": room.bob.member["id"]}
    assert (await fresh(room.alice, room.id)).invited == []
    with pytest.raises(ApiError) as err:
        await session.answer_invite(True)
    assert err.value.code == "not_invited"


@covers("role_changed")
async def test_role_changed_by_accepting_an_invitation(room: Room) -> None:
    session = await room.bob_joins()
    await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"), ["speak_invited"])
    # Bob leaves the audience for the stage: the count follows.
    [frame, count] = await room.verify(lambda: session.answer_invite(True),
                                       ["role_changed", "audience_changed"])
    assert event(frame) == {"type": "role_changed", "member": member_view(room.bob, "speaker"),
                            "by": None}
    assert event(count) == {"type": "audience_changed", "count": 1}
    snap = await fresh(room.alice, room.id)
    assert [m.id for m in snap.stage] == [room.alice.member["id"], room.bob.member["id"]]
    assert (snap.invited, snap.audience_count) == ([], 1)


@covers("role_changed")
async def test_role_changed_by_a_moderator_clears_mutes(room: Room) -> None:
    session = await room.bob_on_stage()
    await room.verify(lambda: session.set_muted(True), ["mute_changed"])
    await room.verify(lambda: room.alice.stage(room.id, "mute", "bob"), ["mute_changed"])
    [frame, count] = await room.verify(
        lambda: room.alice.stage(room.id, "move-to-audience", "bob"),
        ["role_changed", "audience_changed"])
    assert event(frame) == {"type": "role_changed", "member": member_view(room.bob),
                            "by": room.alice.member["id"]}
    assert event(count) == {"type": "audience_changed", "count": 2}
    snap = await fresh(room.alice, room.id)
    assert snap.member(room.bob.member["id"]) is None  # back in the audience
    assert session.me is not None
    assert (session.me.role, session.me.self_muted, session.me.mod_muted) == (
        Role.LISTENER, False, False)
    # Back on stage later, he starts unmuted.
    await room.bob_on_stage()
    bob = (await fresh(room.alice, room.id)).on_stage(room.bob.member["id"])
    assert bob is not None
    assert (bob.self_muted, bob.mod_muted) == (False, False)


@covers("role_changed")
async def test_role_changed_by_leaving_the_stage(room: Room) -> None:
    session = await room.bob_on_stage()
    # Over REST (a speaker moving himself)...
    [frame, _] = await room.verify(lambda: room.bob.stage(room.id, "move-to-audience", "bob"),
                                   ["role_changed", "audience_changed"])
    assert event(frame) == {"type": "role_changed", "member": member_view(room.bob),
                            "by": None}
    # ... or over the WebSocket.
    await room.bob_on_stage()
    [frame, _] = await room.verify(session.leave_stage, ["role_changed", "audience_changed"])
    assert event(frame) == {"type": "role_changed", "member": member_view(room.bob),
                            "by": None}
    assert session.me is not None
    assert session.me.role is Role.LISTENER


@covers("role_changed")
async def test_role_changed_by_making_a_moderator(room: Room) -> None:
    await room.bob_on_stage()
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "make-moderator", "bob"),
                                ["role_changed"])
    assert event(frame) == {"type": "role_changed",
                            "member": member_view(room.bob, "moderator"),
                            "by": room.alice.member["id"]}
    snap = await fresh(room.alice, room.id)
    assert [(m.id, m.role) for m in snap.stage] == [
        (room.alice.member["id"], Role.MODERATOR), (room.bob.member["id"], Role.MODERATOR)]
    assert "end_room" in (await you(room.bob, room.id))["actions"]


@covers("role_changed")
async def test_role_changed_when_the_last_moderator_leaves(room: Room) -> None:
    """Moderation passes to the longest-serving speaker."""
    await room.bob_on_stage()
    [left, promoted] = await room.verify(room.alice_in.leave, ["member_left", "role_changed"])
    assert event(left) == {"type": "member_left", "member_id": room.alice.member["id"],
                           "reason": "left"}
    assert event(promoted) == {"type": "role_changed",
                               "member": member_view(room.bob, "moderator"), "by": None}
    snap = await fresh(room.alice, room.id)
    assert [(m.id, m.role) for m in snap.stage] == [(room.bob.member["id"], Role.MODERATOR)]
    assert snap.room.state is RoomState.LIVE


@covers("mute_changed")
async def test_mute_changed(room: Room) -> None:
    session = await room.bob_on_stage()
    bob, alice = room.bob.member["id"], room.alice.member["id"]
    steps: list[tuple[Callable[[], Awaitable[object]], dict[str, Any] | None]] = [
        (lambda: session.set_muted(True),
         {"self_muted": True, "mod_muted": False, "by": None}),
        (lambda: room.alice.stage(room.id, "mute", "bob"),
         {"self_muted": True, "mod_muted": True, "by": alice}),
        (lambda: session.set_muted(False),  # refused below: only the moderator can lift it
         None),
        (lambda: room.alice.stage(room.id, "unmute", "@bob"),
         {"self_muted": True, "mod_muted": False, "by": alice}),
        (lambda: session.set_muted(False),
         {"self_muted": False, "mod_muted": False, "by": None}),
    ]
    for step, change in steps:
        if change is None:
            await room.verify(lambda step=step: refused(step, "muted_by_moderator"), [])
            continue
        [frame] = await room.verify(step, ["mute_changed"])
        assert event(frame) == {"type": "mute_changed", "member_id": bob, **change}
    # The moderator mutes themselves like anyone on stage.
    [frame] = await room.verify(lambda: room.alice_in.set_muted(True), ["mute_changed"])
    assert event(frame) == {"type": "mute_changed", "member_id": alice, "self_muted": True,
                            "mod_muted": False, "by": None}


@covers("member_removed")
async def test_member_removed(room: Room) -> None:
    session = await room.bob_raises_his_hand()
    bob = room.bob.member["id"]
    assert (await you(room.alice, room.id))["member_actions"] == {
        str(bob): ["invite_to_speak", "remove", "lower_hand"]}
    [frame, count] = await room.verify(lambda: room.alice.stage(room.id, "remove", "bob"),
                                       ["member_removed", "audience_changed"])
    assert event(frame) == {"type": "member_removed", "member_id": bob,
                            "by": room.alice.member["id"]}
    assert event(count) == {"type": "audience_changed", "count": 1}
    await session.wait_for(lambda s: s.left == "removed")
    assert (await fresh(room.alice, room.id)).hands == []
    # The room is gone for him: he cannot see it, nor come back to it.
    await refused(lambda: room.bob.get_room(room.id), "room_not_found")
    await room.verify(lambda: refused(room.bob_joins, "removed_from_room"), [])


async def test_a_removed_speaker_is_taken_off_the_stage(room: Room) -> None:
    await room.bob_on_stage()
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "remove", "bob"),
                                ["member_removed"])
    assert event(frame)["member_id"] == room.bob.member["id"]
    assert [m.id for m in (await fresh(room.alice, room.id)).stage] == [
        room.alice.member["id"]]


# --- hands ----------------------------------------------------------------------------------


@covers("hand_raised")
async def test_hand_raised(room: Room) -> None:
    session = await room.bob_joins()
    [frame] = await room.verify(session.raise_hand, ["hand_raised"])
    assert event(frame) == {"type": "hand_raised", "member": member_view(room.bob)}
    snap = await fresh(room.alice, room.id)
    assert [m.id for m in snap.hands] == [room.bob.member["id"]]
    assert session.hand_raised
    assert await you(room.bob, room.id) == {
        "in_room": True, "role": "listener", "hand_raised": True, "invited": False,
        "actions": ["raise_hand", "lower_own_hand", "chat", "react"], "member_actions": {}}
    # Hands are kept in the order they went up.
    [frame] = await room.verify(lambda: room.observer.request(
        {"type": "hand", "room_id": room.id, "raised": True}), ["hand_raised"])
    assert event(frame)["member"]["username"] == "olive"
    assert [m.username for m in (await fresh(room.alice, room.id)).hands] == ["bob", "olive"]


@covers("hand_lowered")
async def test_hand_lowered_by_oneself(room: Room) -> None:
    session = await room.bob_raises_his_hand()
    [frame] = await room.verify(lambda: session.raise_hand(False), ["hand_lowered"])
    assert event(frame) == {"type": "hand_lowered", "member_id": room.bob.member["id"],
                            "by": None}
    assert (await fresh(room.alice, room.id)).hands == []
    assert not session.hand_raised


@covers("hand_lowered")
async def test_hand_lowered_by_a_moderator(room: Room) -> None:
    session = await room.bob_raises_his_hand()
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "lower-hand", "bob"),
                                ["hand_lowered"])
    assert event(frame) == {"type": "hand_lowered", "member_id": room.bob.member["id"],
                            "by": room.alice.member["id"]}
    await session.wait_for(lambda s: not s.hand_raised)


@covers("hands_changed")
async def test_hands_changed(room: Room) -> None:
    session = await room.bob_raises_his_hand()
    [frame] = await room.verify(lambda: room.alice.set_hands(room.id, False),
                                ["hands_changed"])
    assert event(frame) == {"type": "hands_changed", "enabled": False,
                            "by": room.alice.member["id"]}
    snap = await fresh(room.alice, room.id)
    assert (snap.room.hands_enabled, snap.hands) == (False, [])  # off lowers every hand
    assert "raise_hand" not in (await you(room.bob, room.id))["actions"]
    await room.verify(lambda: refused(session.raise_hand, "hands_off"), [])
    [frame] = await room.verify(lambda: room.alice.set_hands(room.id, True), ["hands_changed"])
    assert event(frame) == {"type": "hands_changed", "enabled": True,
                            "by": room.alice.member["id"]}
    snap = await fresh(room.alice, room.id)
    assert (snap.room.hands_enabled, snap.hands) == (True, [])
    await room.verify(session.raise_hand, ["hand_raised"])


# --- chat and reactions ---------------------------------------------------------------------


@covers("chat_message")
async def test_chat_message(room: Room) -> None:
    session = await room.bob_joins()
    [frame] = await room.verify(lambda: session.say("  hello, room\n"), ["chat_message"])
    body = event(frame)
    assert body == {"type": "chat_message", "message_id": body["message_id"],
                    "author": {"id": room.bob.member["id"], "username": "bob",
                               "display_name": "bob", "avatar_url": None},
                    "text": "hello, room"}
    history = (await room.alice.chat_history(room.id))["messages"]
    assert [(m["message_id"], m["seq"], m["text"]) for m in history] == [
        (body["message_id"], frame["seq"], "hello, room")]
    await room.alice_in.wait_for(lambda s: len(s.chat) == 1)
    assert room.alice_in.chat[0].text == "hello, room"


@covers("chat_deleted")
async def test_chat_deleted(room: Room) -> None:
    session = await room.bob_joins()
    [mine] = await room.verify(lambda: session.say("oops"), ["chat_message"])
    [theirs] = await room.verify(lambda: room.alice_in.say("welcome"), ["chat_message"])
    [kept] = await room.verify(lambda: session.say("hi"), ["chat_message"])
    mine_id, theirs_id = event(mine)["message_id"], event(theirs)["message_id"]
    # A member may delete their own message, not someone else's.
    await room.verify(lambda: refused(lambda: session.delete_message(theirs_id),
                                      "not_a_moderator"), [])
    [frame] = await room.verify(lambda: session.delete_message(mine_id), ["chat_deleted"])
    assert event(frame) == {"type": "chat_deleted", "message_id": mine_id,
                            "by": room.bob.member["id"]}
    # A moderator may delete anyone's.
    [frame] = await room.verify(lambda: room.alice_in.delete_message(event(kept)["message_id"]),
                                ["chat_deleted"])
    assert event(frame) == {"type": "chat_deleted", "message_id": event(kept)["message_id"],
                            "by": room.alice.member["id"]}
    assert [m["text"] for m in (await room.alice.chat_history(room.id))["messages"]] == [
        "welcome"]
    await room.alice_in.wait_for(lambda s: [m.text for m in s.chat] == ["welcome"])
    await room.verify(lambda: refused(lambda: session.delete_message(mine_id),
                                      "message_not_found"), [])


@covers("chat_mode_changed")
async def test_chat_mode_changed(room: Room) -> None:
    session = await room.bob_joins()
    alice = room.alice.member["id"]
    [frame] = await room.verify(lambda: room.alice.set_chat_mode(room.id, "speakers"),
                                ["chat_mode_changed"])
    assert event(frame) == {"type": "chat_mode_changed", "mode": "speakers", "by": alice}
    assert (await fresh(room.alice, room.id)).room.chat_mode is ChatMode.SPEAKERS
    assert "chat" not in (await you(room.bob, room.id))["actions"]
    await room.verify(lambda: refused(lambda: session.say("hi"), "chat_speakers_only"), [])
    await room.verify(lambda: room.alice_in.say("stage only"), ["chat_message"])

    [frame] = await room.verify(lambda: room.alice.set_chat_mode(room.id, "off"),
                                ["chat_mode_changed"])
    assert event(frame) == {"type": "chat_mode_changed", "mode": "off", "by": alice}
    await room.verify(lambda: refused(lambda: session.say("hi"), "chat_off"), [])
    await room.verify(lambda: room.alice_in.say("moderators still can"), ["chat_message"])

    [frame] = await room.verify(lambda: room.alice.set_chat_mode(room.id, "open"),
                                ["chat_mode_changed"])
    assert event(frame) == {"type": "chat_mode_changed", "mode": "open", "by": alice}
    await room.verify(lambda: session.say("hi"), ["chat_message"])


@covers("reaction")
async def test_reaction(room: Room) -> None:
    session = await room.bob_joins()
    [frame] = await room.verify(lambda: session.react("👏"), ["reaction"])
    assert event(frame) == {"type": "reaction", "member_id": room.bob.member["id"],
                            "emoji": "👏"}
    await room.alice_in.wait_for(lambda s: len(s.reactions) == 1)
    assert room.alice_in.reactions[0].emoji == "👏"
    await room.verify(lambda: refused(lambda: session.react("🦄"), "invalid_input"), [])


# --- the room's life ------------------------------------------------------------------------


@covers("room_started")
async def test_room_started(room: Room) -> None:
    """Nobody can be in a scheduled room, so the observer catches up on joining: it asks for
    what followed the snapshot it read before the start, and gets the event replayed."""
    when = (utcnow() + dt.timedelta(days=1)).isoformat()
    later = (await room.alice.create_room("Later", scheduled_for=when))["id"]
    before = await fresh(room.alice, later)
    assert (before.room.state, before.room.started_at, before.seq) == (
        RoomState.SCHEDULED, None, 0)
    answer = await room.observer.request({"type": "room.join", "room_id": later,
                                          "media": False})
    assert (answer["type"], answer["code"]) == ("error", "room_not_started")

    await room.alice.start_room(later)
    answer = await room.observer.join(later, since_seq=before.seq)
    assert answer["type"] == "ack"  # a replay, not a snapshot
    room.resumed[later] = before
    frames = room.observer.events(later)
    assert [f["event"]["type"] for f in frames] == ["room_started"]
    envelope = check_frame(room.observer, frames[0], later)
    assert event(frames[0]) == {"type": "room_started", "by": room.alice.member["id"]}
    after = await fresh(room.alice, later)
    assert replay(before, frames) == after
    assert (after.room.state, after.room.started_at) == (RoomState.LIVE, envelope.at)
    # The room now works like any other: its host comes in on stage.
    rt = Realtime(room.alice, reconnect=False)
    try:
        await rt.connect()
        await room.verify(lambda: rt.join(later), ["member_joined"], room_id=later)
    finally:
        await rt.close()
    with pytest.raises(ApiError) as again:
        await room.alice.start_room(later)
    assert again.value.status == 409


@covers("room_ended")
async def test_room_ended(room: Room) -> None:
    session = await room.bob_on_stage()
    await room.verify(lambda: room.observer.request(
        {"type": "hand", "room_id": room.id, "raised": True}), ["hand_raised"])
    [frame] = await room.verify(lambda: room.alice.end_room(room.id), ["room_ended"])
    assert event(frame) == {"type": "room_ended", "by": room.alice.member["id"],
                            "reason": "ended"}
    snap = await fresh(room.alice, room.id)
    assert snap.room.state is RoomState.ENDED
    assert (snap.stage, snap.hands, snap.invited, snap.audience_count) == ([], [], [], 0)
    assert snap.room.ended_at == envelope_of(frame).at
    await session.wait_for(lambda s: s.left == "ended")
    answer = await room.observer.request({"type": "hand", "room_id": room.id, "raised": True})
    assert answer["code"] == "room_ended"


async def test_room_ended_when_the_last_member_leaves(room: Room) -> None:
    """Nobody is left to see it live: the stored events say it."""
    assert (await room.observer.request({"type": "room.leave", "room_id": room.id})
            )["type"] == "room.left"
    assert await settled(room.alice, room.id) == 0
    before = await fresh(room.alice, room.id)
    await room.alice_in.leave()
    stored = await room.stored(before.seq)
    assert [e.event.model_dump(mode="json") for e in stored] == [
        {"type": "member_left", "member_id": room.alice.member["id"], "reason": "left"},
        {"type": "room_ended", "by": None, "reason": "empty"}]
    after = await fresh(room.alice, room.id)
    assert [e.seq for e in stored] == list(range(before.seq + 1, after.seq + 1))
    for envelope in stored:
        assert decode_event(encode_event(envelope)) == envelope
    snap = before
    for envelope in stored:
        snap = apply(snap, envelope)
    assert snap == after
    assert after.room.state is RoomState.ENDED
    assert after.room.ended_at == stored[-1].at


async def test_room_ended_without_a_moderator(room: Room, live: Any) -> None:
    """The last moderator leaves with nobody else on stage: the room waits for a host, then
    ends once the grace period is over (the sweeper, every 2 s)."""
    [frame] = await room.verify(room.alice_in.leave, ["member_left"])
    snap = await fresh(room.alice, room.id)
    assert (snap.room.state, snap.stage, snap.audience_count) == (RoomState.LIVE, [], 1)

    async def grace_is_over() -> None:
        async with live.runtime.svc.db.transaction() as s:
            await s.execute(update(RoomRow).where(RoomRow.id == room.id).values(
                orphaned_at=utcnow() - dt.timedelta(hours=1)))

    [frame] = await room.verify(grace_is_over, ["room_ended"])
    assert event(frame) == {"type": "room_ended", "by": None, "reason": "no_moderator"}
    assert (await fresh(room.alice, room.id)).room.state is RoomState.ENDED


# --- what does not happen -------------------------------------------------------------------


async def test_actions_that_change_nothing_send_nothing(room: Room) -> None:
    session = await room.bob_joins()
    await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"), ["speak_invited"])
    await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"), [])
    await room.verify(lambda: session.answer_invite(True), ["role_changed", "audience_changed"])
    await room.verify(lambda: room.alice.stage(room.id, "unmute", "bob"), [])
    await room.verify(lambda: session.set_muted(False), [])
    await room.verify(lambda: room.alice.stage(room.id, "mute", "bob"), ["mute_changed"])
    await room.verify(lambda: room.alice.stage(room.id, "mute", "bob"), [])
    await room.verify(lambda: session.set_muted(True), ["mute_changed"])
    await room.verify(lambda: session.set_muted(True), [])
    hand = {"type": "hand", "room_id": room.id, "raised": True}
    await room.verify(lambda: room.observer.request(hand), ["hand_raised"])
    await room.verify(lambda: room.observer.request(hand), [])
    await room.verify(lambda: room.alice.set_hands(room.id, True), [])
    await room.verify(lambda: room.alice.set_hands(room.id, False), ["hands_changed"])
    await room.verify(lambda: room.alice.set_hands(room.id, False), [])
    await room.verify(lambda: room.alice.set_chat_mode(room.id, ChatMode.OPEN.value), [])


async def test_refused_actions_send_nothing(room: Room) -> None:
    session = await room.bob_joins()
    alice, bob, rid = room.alice, room.bob, room.id
    for call, code in [
        (lambda: bob.stage(rid, "invite", "alice"), "not_a_moderator"),
        (lambda: bob.stage(rid, "lower-hand", "alice"), "not_a_moderator"),
        (lambda: bob.end_room(rid), "not_a_moderator"),
        (lambda: bob.set_hands(rid, False), "not_a_moderator"),
        (lambda: bob.set_chat_mode(rid, "off"), "not_a_moderator"),
        (lambda: alice.stage(rid, "mute", "bob"), "not_on_stage"),
        (lambda: alice.stage(rid, "move-to-audience", "bob"), "not_a_speaker"),
        (lambda: alice.stage(rid, "make-moderator", "bob"), "not_a_speaker"),
        (lambda: alice.stage(rid, "lower-hand", "bob"), "hand_not_raised"),
        (lambda: alice.stage(rid, "invite", "alice"), "forbidden"),
        (lambda: alice.stage(rid, "remove", "alice"), "forbidden"),
        (lambda: alice.stage(rid, "invite", "olive2"), "member_not_found"),
        (lambda: alice.stage(rid, "remove", "carol"), "member_not_found"),  # not in the room
        (lambda: room.alice_in.answer_invite(True), "already_on_stage"),
        (lambda: session.answer_invite(True), "not_invited"),
        (lambda: session.raise_hand(False), "hand_not_raised"),
        (lambda: session.set_muted(True), "not_on_stage"),
        (lambda: session.leave_stage(), "not_a_speaker"),
        (lambda: session.react("🦄"), "invalid_input"),
        (lambda: session.say("   "), "invalid_input"),
        (lambda: session.delete_message(424242), "message_not_found"),
    ]:
        await room.verify(lambda call=call, code=code: refused(call, code), [])
