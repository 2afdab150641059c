"""Connections that drop and come back, on SQLite and PostgreSQL: the SDK resumes by itself
and ends up exactly where everyone else is; a raw client resumes from its last sequence number
(replay), on the same server and after a restart of the server on the same database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ruang.client.api import RuangClient
from ruang.client.realtime import Realtime
from ruang.domain.rooms import Role
from ruang.events.models import RoomSnapshot
from tests.conftest import make_settings, run_server
from tests.integration.rawws import RawWS, replay
from tests.integration.roomkit import (
    Crowd,
    eventually,
    fresh,
    hold_reconnect,
    on_stage,
    role_in,
    settle,
)


@pytest.fixture
async def crowd(live: Any) -> AsyncIterator[Crowd]:
    async with Crowd(live) as c:
        yield c


def chat_ids(person: Any, rid: int) -> list[int]:
    """Every chat message this member's client applied, in the order it applied them."""
    return [data["message_id"] for room, kind, data in person.events
            if room == rid and kind == "chat_message"]


async def test_dropped_connections_resume_without_losing_or_repeating(crowd: Crowd) -> None:
    alice, bob, carol, dave, erin = await crowd.members("alice", "bob", "carol", "dave", "erin")
    rid = (await alice.client.create_room("Flaky network"))["id"]
    a, b, c, d, e = [await p.join(rid) for p in (alice, bob, carol, dave, erin)]
    await on_stage(alice, bob, rid)
    await c.say("before the drop")
    await a.wait_for(lambda s: len(s.chat) == 1)
    assert carol.rt is not None
    assert bob.rt is not None

    # Carol (a listener) and bob (a speaker) lose their connections while the others act.
    carol_back, bob_back = hold_reconnect(carol.rt), hold_reconnect(bob.rt)
    await carol.rt.drop_connection()
    await bob.rt.drop_connection()
    await d.wait_for(lambda s: not s.snapshot.on_stage(bob.id).connected)
    await asyncio.gather(
        d.raise_hand(),
        a.say("one"),
        d.say("two"),
        alice.client.stage(rid, "invite", "erin"),
        alice.client.stage(rid, "mute", "bob"),
        e.say("three"),
        a.react("👏"),
    )
    await e.wait_for(lambda s: s.invited)
    await e.answer_invite(True)
    await a.wait_for(lambda s: role_in(s, erin.id) is Role.SPEAKER)
    assert len(c.chat) == 1  # carol has seen none of it yet
    carol_back.set()
    bob_back.set()
    await c.wait_for(lambda s: role_in(s, erin.id) is Role.SPEAKER)
    assert (carol.rt.reconnects, bob.rt.reconnects) == (1, 1)

    # Once more, in the middle of a burst of chat.
    carol_back = hold_reconnect(carol.rt)
    burst = asyncio.gather(a.say("four"), d.say("five"), e.say("six"), a.say("seven"))
    await carol.rt.drop_connection()
    await burst
    await alice.client.stage(rid, "unmute", "bob")
    await alice.client.stage(rid, "lower-hand", "dave")
    carol_back.set()
    await eventually(lambda: carol.rt.reconnects == 2)
    await c.say("back again")

    snap = await settle(rid, alice, a, b, c, d, e)
    for s in (a, b, c, d, e):
        assert s.snapshot == snap
        assert s.left is None
    assert [m.id for m in snap.stage] == [alice.id, bob.id, erin.id]
    assert all(m.connected for m in snap.stage)
    assert snap.hands == []
    # Bob's drop was seen by the others (a speaker keeps his place while away).
    presence = [(x["member_id"], x["connected"]) for x in dave.seen(rid, "presence_changed")]
    assert (bob.id, False) in presence
    assert presence[-1] == (bob.id, True)

    history = [m["message_id"] for m in (await dave.client.chat_history(rid))["messages"]]
    assert len(history) == 9
    # Every client applied every message exactly once, in order (the ones that dropped
    # got the missed ones replayed, without repeats).
    for p in (alice, bob, carol, dave, erin):
        assert chat_ids(p, rid) == history, p.name
        assert [m.message_id for m in p.s(rid).chat] == history, p.name
    assert len(carol.seen(rid, "reaction")) == 1


async def test_resume_from_a_sequence_number(crowd: Crowd) -> None:
    alice, bob = await crowd.members("alice", "bob")
    olive = await crowd.member("olive", realtime=False)
    rid = (await alice.client.create_room("Replay"))["id"]
    a, b = await alice.join(rid), await bob.join(rid)
    raw = await crowd.raw(olive)
    first = await raw.join(rid)
    assert first["type"] == "room.snapshot"
    base = RoomSnapshot.model_validate(first["snapshot"])
    await raw.close()

    # While olive is away: a raised hand, an invitation, chat, a reaction, a mute, a mode.
    await b.raise_hand()
    await alice.client.stage(rid, "invite", "bob")
    await b.wait_for(lambda s: s.invited)
    await b.answer_invite(True)
    await a.say("first")
    await b.say("second")
    await b.react("🎉")
    await alice.client.stage(rid, "mute", "bob")
    await alice.client.set_chat_mode(rid, "speakers")
    now = await settle(rid, alice, a, b)
    assert now.seq == base.seq + 8

    # Resumed: exactly the missed events, in order, then the ack; no snapshot.
    back = await crowd.raw(olive)
    answer = await back.join(rid, since_seq=base.seq)
    assert answer["type"] == "ack"
    frames = back.events(rid)
    assert [f["seq"] for f in frames] == list(range(base.seq + 1, now.seq + 1))
    assert back.frames.index(answer) == len(frames) + back.frames.index(frames[0])
    assert not [f for f in back.frames if f["type"] == "room.snapshot"]
    assert replay(base, frames) == now
    assert [f["event"]["text"] for f in frames if f["event"]["type"] == "chat_message"] == \
        ["first", "second"]

    # Asking again on the same connection (room.sync) replays the same events.
    start = len(back.frames)
    synced = await back.request({"type": "room.sync", "room_id": rid, "since_seq": base.seq})
    assert synced["type"] == "ack"
    again = [f for f in back.frames[start:] if f["type"] == "room.event"]
    assert again == frames
    # Up to date already: just the ack.
    start = len(back.frames)
    synced = await back.request({"type": "room.sync", "room_id": rid, "since_seq": now.seq})
    assert synced["type"] == "ack"
    assert back.frames[start:] == [synced]
    # A position the server never had: a fresh snapshot instead.
    await back.close()
    odd = await crowd.raw(olive)
    answer = await odd.join(rid, since_seq=now.seq + 50)
    assert answer["type"] == "room.snapshot"
    assert RoomSnapshot.model_validate(answer["snapshot"]) == now
    # Live events follow either way.
    await a.say("third")
    await odd.wait_seq(rid, now.seq + 1)
    assert odd.events(rid)[-1]["event"]["text"] == "third"


async def test_resume_after_a_server_restart(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, presence_grace_seconds=60)
    async with run_server(settings) as first:
        crowd = Crowd(first)
        alice, bob = await crowd.members("alice", "bob", reconnect=False)
        olive = await crowd.member("olive", realtime=False)
        rid = (await alice.client.create_room("Survives a restart"))["id"]
        a, b = await alice.join(rid), await bob.join(rid)
        await on_stage(alice, bob, rid)
        await a.say("before the restart")
        raw = await crowd.raw(olive)
        base = RoomSnapshot.model_validate((await raw.join(rid))["snapshot"])
        assert base == await settle(rid, alice, a, b)
    # The first server is gone, and every connection with it.
    await eventually(lambda: raw.closed.is_set())
    tokens = {p.name: p.client.token for p in (alice, olive)}
    await crowd.close()

    async with run_server(settings) as second:
        back = await RawWS.open(second.url, token=tokens["olive"])
        try:
            answer = await back.join(rid, since_seq=base.seq)
            assert answer["type"] == "ack"
            frames = back.events(rid)
            async with httpx.AsyncClient(base_url=second.url) as http:
                body = (await http.get(f"/api/v1/rooms/{rid}", headers={
                    "Authorization": f"Bearer {tokens['olive']}"})).json()
            now = RoomSnapshot.model_validate(body["snapshot"])
            assert [f["seq"] for f in frames] == list(range(base.seq + 1, now.seq + 1))
            assert replay(base, frames) == now
            # The people on stage kept their places, marked as away.
            assert [(m.id, m.connected) for m in now.stage] == [(alice.id, False),
                                                                 (bob.id, False)]
            assert {f["event"]["type"] for f in frames} == {"presence_changed"}

            # Alice comes back through the new server with the same login.
            async with RuangClient(second.url, token=tokens["alice"]) as client:
                client.member = {"id": alice.id}
                rt = Realtime(client, reconnect=False)
                await rt.connect()
                try:
                    session = await rt.join(rid)
                    await session.wait_for(lambda s: s.snapshot is not None)
                    await back.wait_until(lambda: any(
                        f["event"] == {"type": "presence_changed", "member_id": alice.id,
                                       "connected": True} for f in back.events(rid)))
                    assert session.snapshot is not None
                    assert session.me is not None
                    assert session.me.role is Role.MODERATOR
                    await session.say("after the restart")
                    await session.wait_for(lambda s: len(s.chat) == 1)
                    await back.wait_until(lambda: any(
                        f["event"]["type"] == "chat_message" for f in back.events(rid)))
                    latest = RoomSnapshot.model_validate((await client.get_room(rid))[
                        "snapshot"])
                    await session.wait_for(lambda s: s.snapshot.seq == latest.seq)
                    assert session.snapshot == latest
                    assert replay(base, back.events(rid)) == latest
                    history = await client.chat_history(rid)
                    assert [m["text"] for m in history["messages"]] == \
                        ["before the restart", "after the restart"]
                finally:
                    await rt.close()
        finally:
            await back.close()


async def test_fresh_snapshot_matches_after_reconnect(crowd: Crowd) -> None:
    """A client that reconnects without a position gets the current snapshot."""
    alice, bob = await crowd.members("alice", "bob")
    rid = (await alice.client.create_room("Snapshots"))["id"]
    a, b = await alice.join(rid), await bob.join(rid)
    await b.raise_hand()
    await a.wait_for(lambda s: [m.id for m in s.snapshot.hands] == [bob.id])
    raw = await crowd.raw(bob)  # a second connection of bob's takes his place
    answer = await raw.join(rid)
    assert answer["type"] == "room.snapshot"
    await b.wait_for(lambda s: s.left == "replaced")
    assert RoomSnapshot.model_validate(answer["snapshot"]) == await fresh(alice, rid)
    assert bob.rt is not None
    assert bob.rt.rooms.get(rid) is None
