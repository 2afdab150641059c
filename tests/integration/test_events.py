"""Every room event, produced by the real action (in the style of Zulip's verify_action).

For each action: read the room from the server, perform the action through the API (REST or
the WebSocket, via the SDK), capture the ``room.event`` frames an observer connected to the
room receives, check each against the schema, and check that the snapshot from before with
those events applied is exactly the snapshot the server gives now. events/models.apply is the
meaning of every event; this keeps the server's writes and that meaning in step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from ruang.client.api import ApiError, RuangClient
from ruang.client.realtime import Realtime, RoomSession
from ruang.domain.rooms import Role, RoomState
from ruang.events.hub import decode_event, encode_event
from ruang.events.models import EVENT_TYPES, RoomSnapshot
from tests.integration.rawws import Frame, RawWS, envelope_of, replay, use_fast_hashing

F = TypeVar("F", bound=Callable[..., Any])

# Which event types the tests below produce (a test registers the ones it checks).
COVERED: set[str] = set()


def covers(*types: str) -> Callable[[F], F]:
    COVERED.update(types)
    return lambda fn: fn


def test_every_event_type_is_covered() -> None:
    assert {str(t.model_fields["type"].default) for t in EVENT_TYPES} == COVERED


async def fresh(client: RuangClient, room_id: int) -> RoomSnapshot:
    return RoomSnapshot.model_validate((await client.get_room(room_id))["snapshot"])


@dataclass
class Room:
    id: int
    alice: RuangClient  # the host: a moderator
    bob: RuangClient
    observer: RawWS  # olive, a listener who only watches
    rt_alice: Realtime
    rt_bob: Realtime
    alice_in: RoomSession
    bob_in: RoomSession | None

    async def verify(self, action: Callable[[], Awaitable[object]], expect: list[str],
                     timeout: float = 10.0) -> list[Frame]:
        """Do ``action``; the observer must get exactly events of types ``expect``."""
        before = await fresh(self.alice, self.id)
        await self.observer.wait_seq(self.id, before.seq)
        await action()
        await self.observer.wait_until(
            lambda: len(self.observer.events(self.id, after=before.seq)) >= len(expect),
            timeout)
        after = await fresh(self.alice, self.id)
        await self.observer.wait_seq(self.id, after.seq)

        frames = self.observer.events(self.id, after=before.seq)
        assert [f["event"]["type"] for f in frames] == expect
        assert [f["seq"] for f in frames] == list(range(before.seq + 1, after.seq + 1))
        for frame in frames:
            envelope = envelope_of(frame)  # validates against the schema
            raw = self.observer.raw[self.observer.frames.index(frame)]
            assert decode_event(str(raw)) == envelope
            assert encode_event(envelope) == raw
            assert envelope.room_id == self.id
        assert replay(before, frames) == after
        # The observer, who applied every event since it joined, agrees too.
        assert observed(self.observer, self.id) == after
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


def observed(conn: RawWS, room_id: int) -> RoomSnapshot:
    snaps = [f for f in conn.frames if f.get("type") == "room.snapshot"]
    snap = RoomSnapshot.model_validate(snaps[-1]["snapshot"])
    return replay(snap, conn.events(room_id, after=snap.seq))


@pytest.fixture
async def room(live: Any, connect: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Room]:
    use_fast_hashing(live, monkeypatch)
    alice = await live.member("alice")
    bob = await live.member("bob")
    olive = await live.member("olive")
    rid = (await alice.create_room("Events", "every one of them"))["id"]
    rt_alice = await connect(alice)
    rt_bob = await connect(bob)
    alice_in = await rt_alice.join(rid)
    observer = await RawWS.open(live.url, token=olive.token)
    await olive.close()
    assert (await observer.join(rid))["type"] == "room.snapshot"
    try:
        yield Room(rid, alice, bob, observer, rt_alice, rt_bob, alice_in, None)
    finally:
        await observer.close()


def event(frame: Frame) -> dict[str, Any]:
    return dict(frame["event"])


@covers("member_joined")
async def test_member_joined(room: Room) -> None:
    [frame] = await room.verify(room.bob_joins, ["member_joined"])
    bob = event(frame)["member"]
    assert bob == {"id": room.bob.member["id"], "username": "bob", "display_name": "bob",
                   "role": "listener", "self_muted": False, "mod_muted": False,
                   "invited": False, "connected": True}
    assert room.bob_in is not None
    assert room.bob_in.snapshot == await fresh(room.bob, room.id)


@covers("member_left")
async def test_member_left(room: Room) -> None:
    session = await room.bob_on_stage()
    [frame] = await room.verify(session.leave, ["member_left"])
    assert event(frame) == {"type": "member_left", "member_id": room.bob.member["id"],
                            "reason": "left"}
    # Coming back is a new member_joined, as a listener again.
    [frame] = await room.verify(room.bob_joins, ["member_joined"])
    assert event(frame)["member"]["role"] == "listener"


@covers("presence_changed")
async def test_presence_changed(room: Room, connect: Any) -> None:
    await room.bob_joins()
    bob_id = room.bob.member["id"]
    # The connection drops (no room.leave): bob keeps his place, shown as disconnected.
    [frame] = await room.verify(room.rt_bob.close, ["presence_changed"])
    assert event(frame) == {"type": "presence_changed", "member_id": bob_id,
                            "connected": False}
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


@covers("speak_invited")
async def test_speak_invited(room: Room) -> None:
    await room.bob_joins()
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"),
                                ["speak_invited"])
    assert event(frame) == {"type": "speak_invited", "member_id": room.bob.member["id"],
                            "by": room.alice.member["id"]}


@covers("invite_declined")
async def test_invite_declined(room: Room) -> None:
    session = await room.bob_joins()
    await room.alice.stage(room.id, "invite", "bob")
    await session.wait_for(lambda s: s.me is not None and s.me.invited)
    [frame] = await room.verify(lambda: session.answer_invite(False), ["invite_declined"])
    assert event(frame) == {"type": "invite_declined", "member_id": room.bob.member["id"]}
    with pytest.raises(ApiError) as err:
        await session.answer_invite(True)
    assert err.value.code == "not_invited"


@covers("role_changed")
async def test_role_changed_by_accepting_an_invitation(room: Room) -> None:
    session = await room.bob_joins()
    await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"), ["speak_invited"])
    [frame] = await room.verify(lambda: session.answer_invite(True), ["role_changed"])
    assert event(frame) == {"type": "role_changed", "member_id": room.bob.member["id"],
                            "role": "speaker", "by": None}


@covers("role_changed")
async def test_role_changed_by_a_moderator_clears_mutes(room: Room) -> None:
    session = await room.bob_on_stage()
    await room.verify(lambda: session.set_muted(True), ["mute_changed"])
    await room.verify(lambda: room.alice.stage(room.id, "mute", "bob"), ["mute_changed"])
    [frame] = await room.verify(lambda: room.alice.stage(room.id, "move-to-audience", "bob"),
                                ["role_changed"])
    assert event(frame) == {"type": "role_changed", "member_id": room.bob.member["id"],
                            "role": "listener", "by": room.alice.member["id"]}
    bob = (await fresh(room.alice, room.id)).member(room.bob.member["id"])
    assert bob is not None
    assert (bob.role, bob.self_muted, bob.mod_muted, bob.invited) == (Role.LISTENER, False,
                                                                      False, False)


@covers("role_changed")
async def test_role_changed_by_leaving_the_stage(room: Room) -> None:
    await room.bob_on_stage()
    [frame] = await room.verify(lambda: room.bob.stage(room.id, "move-to-audience", "bob"),
                                ["role_changed"])
    assert event(frame) == {"type": "role_changed", "member_id": room.bob.member["id"],
                            "role": "listener", "by": None}


@covers("mute_changed")
async def test_mute_changed(room: Room) -> None:
    session = await room.bob_on_stage()
    bob, alice = room.bob.member["id"], room.alice.member["id"]
    steps: list[tuple[Callable[[], Awaitable[object]], dict[str, Any]]] = [
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
            with pytest.raises(ApiError) as err:
                await step()
            assert err.value.code == "muted_by_moderator"
            continue
        [frame] = await room.verify(step, ["mute_changed"])
        assert event(frame) == {"type": "mute_changed", "member_id": bob, **change}
    # The moderator mutes themselves like anyone on stage.
    [frame] = await room.verify(lambda: room.alice_in.set_muted(True), ["mute_changed"])
    assert event(frame) == {"type": "mute_changed", "member_id": alice, "self_muted": True,
                            "mod_muted": False, "by": None}


@covers("room_ended")
async def test_room_ended(room: Room) -> None:
    await room.bob_on_stage()
    [frame] = await room.verify(lambda: room.alice.end_room(room.id), ["room_ended"])
    assert event(frame) == {"type": "room_ended", "by": room.alice.member["id"],
                            "reason": "ended"}
    snap = await fresh(room.alice, room.id)
    assert snap.room.state is RoomState.ENDED
    assert snap.members == []
    assert snap.room.ended_at == envelope_of(frame).at


async def test_actions_that_change_nothing_send_nothing(room: Room) -> None:
    session = await room.bob_joins()
    await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"), ["speak_invited"])
    await room.verify(lambda: room.alice.stage(room.id, "invite", "bob"), [])
    await session.answer_invite(True)
    await room.verify(lambda: room.alice.stage(room.id, "unmute", "bob"), [])
    await room.verify(lambda: session.set_muted(False), [])
    await room.verify(lambda: room.alice.stage(room.id, "mute", "bob"), ["mute_changed"])
    await room.verify(lambda: room.alice.stage(room.id, "mute", "bob"), [])
    await room.verify(lambda: session.set_muted(True), ["mute_changed"])
    await room.verify(lambda: session.set_muted(True), [])


async def test_refused_actions_send_nothing(room: Room) -> None:
    await room.bob_joins()

    async def refused(call: Callable[[], Awaitable[object]], code: str) -> None:
        with pytest.raises(ApiError) as err:
            await call()
        assert err.value.code == code

    alice, bob = room.alice, room.bob
    for call, code in [
        (lambda: bob.stage(room.id, "invite", "alice"), "not_a_moderator"),
        (lambda: bob.end_room(room.id), "not_a_moderator"),
        (lambda: alice.stage(room.id, "mute", "bob"), "not_on_stage"),
        (lambda: alice.stage(room.id, "move-to-audience", "bob"), "not_a_speaker"),
        (lambda: alice.stage(room.id, "invite", "alice"), "forbidden"),
        (lambda: alice.stage(room.id, "invite", "olive2"), "member_not_found"),
        (lambda: room.alice_in.answer_invite(True), "already_on_stage"),
    ]:
        await room.verify(lambda call=call, code=code: refused(call, code), [])
