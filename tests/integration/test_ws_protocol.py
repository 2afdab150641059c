"""The WebSocket protocol (ruang.v1) with a raw client: every frame as the server sends it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from ruang.actions import rooms as room_actions
from ruang.api.deps import COOKIE
from ruang.client.api import ApiError, RuangClient
from ruang.events.models import RoomSnapshot
from tests.integration.rawws import Frame, RawWS, envelope_of, replay, use_fast_hashing

Open = Callable[..., Awaitable[RawWS]]
Member = Callable[[str], Awaitable[RuangClient]]


@pytest.fixture
async def member(live: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Member]:
    use_fast_hashing(live, monkeypatch)
    clients: list[RuangClient] = []

    async def make(name: str) -> RuangClient:
        client = await live.member(name)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def ws(live: Any) -> AsyncIterator[Open]:
    """Open raw connections (``await ws(client)`` says hello with the client's token)."""
    opened: list[RawWS] = []

    async def open_(client: RuangClient | None = None, **kwargs: Any) -> RawWS:
        if client is not None:
            kwargs.setdefault("token", client.token)
        conn = await RawWS.open(live.url, **kwargs)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        await conn.close()


def is_error(code: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") == "error" and f.get("code") == code


def event_types(frames: list[Frame]) -> list[str]:
    return [f["event"]["type"] for f in frames]


async def fresh(client: RuangClient, room_id: int) -> RoomSnapshot:
    return RoomSnapshot.model_validate((await client.get_room(room_id))["snapshot"])


async def settled(conn: RawWS, client: RuangClient, room_id: int,
                  audience: int) -> RoomSnapshot:
    """Wait until the room announced this audience size and the connection has every event
    up to now; returns the room as the server has it."""
    for _ in range(500):
        snap = await fresh(client, room_id)
        if snap.audience_count == audience:
            await conn.wait_seq(room_id, snap.seq)
            return snap
        await asyncio.sleep(0.02)
    raise AssertionError(f"the audience of room {room_id} never reached {audience}")


async def on_stage(moderator: RuangClient, conn: RawWS, who: RuangClient,
                   room_id: int) -> None:
    """The moderator invites a listener on stage, and the listener accepts."""
    await moderator.stage(room_id, "invite", who.member["username"])
    answer = await conn.request({"type": "stage.answer", "room_id": room_id, "accept": True})
    assert answer["type"] == "ack"


def snapshot_of(conn: RawWS, room_id: int) -> RoomSnapshot:
    """What this connection knows of the room: its snapshot plus the events after it."""
    snaps = [f for f in conn.frames if f.get("type") == "room.snapshot"
             and f["snapshot"]["room"]["id"] == room_id]
    snap = RoomSnapshot.model_validate(snaps[-1]["snapshot"])
    return replay(snap, conn.events(room_id, after=snap.seq))


# --- hello ----------------------------------------------------------------------------------


async def test_hello_is_required_first(live, member, ws) -> None:
    alice = await member("alice")
    room = await alice.create_room("Hello first")
    conn = await ws(hello=False)
    for msg in ({"type": "room.join", "room_id": room["id"]},
                {"type": "media.mute", "room_id": room["id"], "muted": True},
                {"type": "room.leave", "room_id": room["id"]}):
        answer = await conn.request(msg)
        assert answer["type"] == "error"
        assert answer["code"] == "not_authenticated"
        assert answer["message"]
    await conn.ping()  # keepalive needs no session
    assert not conn.closed.is_set()
    welcome = await conn.request({"type": "hello", "protocol": 1, "token": alice.token,
                                  "client": "tests"})
    assert welcome["type"] == "welcome"
    assert welcome["protocol"] == 1
    assert welcome["member"] == {"id": alice.member["id"], "username": "alice",
                                 "display_name": "alice"}
    snap = await conn.join(room["id"])
    assert snap["type"] == "room.snapshot"
    # A second hello is a mistake, not a new login.
    assert (await conn.request({"type": "hello", "protocol": 1, "token": alice.token})
            )["code"] == "bad_message"


async def test_wrong_protocol_version(live, member, ws) -> None:
    alice = await member("alice")
    conn = await ws(hello=False)
    for version in (0, 2, 99):
        answer = await conn.request({"type": "hello", "protocol": version, "token": alice.token})
        assert (answer["type"], answer["code"]) == ("error", "unsupported_protocol")
    welcome = await conn.request({"type": "hello", "protocol": 1, "token": alice.token})
    assert welcome["type"] == "welcome"


async def test_bad_tokens(live, member, ws) -> None:
    alice = await member("alice")
    conn = await ws(hello=False)
    for token in ("rg_not-a-session", "nonsense", None):
        answer = await conn.request({"type": "hello", "protocol": 1, "token": token})
        assert (answer["type"], answer["code"]) == ("error", "not_authenticated")
    await alice.logout()
    answer = await conn.request({"type": "hello", "protocol": 1, "token": alice.token})
    assert answer["code"] == "not_authenticated"
    assert not conn.closed.is_set()


async def test_the_handshake_can_carry_the_session(live, member, ws) -> None:
    alice = await member("alice")
    for headers in ({"Authorization": f"Bearer {alice.token}"},
                    {"Cookie": f"{COOKIE}={alice.token}"}):
        conn = await ws(hello=False, headers=headers)
        welcome = await conn.request({"type": "hello", "protocol": 1})
        assert welcome["type"] == "welcome"
        assert welcome["member"]["id"] == alice.member["id"]


# --- malformed messages ---------------------------------------------------------------------


async def test_malformed_json_is_bad_message_and_the_connection_goes_on(live, member,
                                                                        ws) -> None:
    alice = await member("alice")
    conn = await ws(alice)
    for raw in ('{"type": "ping"', "not json at all", b"\xff\xfe binary junk"):
        start = len(conn.frames)
        await conn.send(raw)
        answer = await conn.wait_frame(lambda f: f.get("type") == "error", start=start)
        assert answer["code"] == "bad_message"
        assert answer["message"]
    await conn.ping()


async def test_invalid_messages_are_bad_message_with_ref(live, member, ws) -> None:
    alice = await member("alice")
    conn = await ws(alice)
    for msg in ({"type": "room.dance", "room_id": 1},  # unknown type
                {"room_id": 1},  # no type
                {"type": "room.join"},  # missing field
                {"type": "room.join", "room_id": "one"},
                {"type": "room.join", "room_id": 0},
                {"type": "media.mute", "room_id": 1, "muted": True, "extra": 1},
                {"type": "ping", "ref": "x" * 65}):
        start = len(conn.frames)
        await conn.send(msg)
        answer = await conn.wait_frame(lambda f: f.get("type") == "error", start=start)
        assert answer["code"] == "bad_message", (msg, answer)
        if "ref" not in msg:
            assert answer["ref"] is None
    for payload in ([1, 2], "just a string", 42, None):
        start = len(conn.frames)
        await conn.send(orjson.dumps(payload).decode())
        answer = await conn.wait_frame(lambda f: f.get("type") == "error", start=start)
        assert answer["code"] == "bad_message"
    answer = await conn.request({"type": "nope"})
    assert answer["code"] == "bad_message"  # ``request`` matched it by its ref
    await conn.ping()


async def test_oversized_message_is_refused_and_the_connection_goes_on(live, member,
                                                                       ws) -> None:
    alice = await member("alice")
    conn = await ws(alice)
    limit = live.runtime.settings.ws_max_message_bytes
    assert limit == 65536
    big = orjson.dumps({"type": "ping", "ref": "r", "pad": "x" * (limit + 10)}).decode()
    await conn.send(big)
    answer = await conn.wait_frame(lambda f: f.get("type") == "error")
    assert answer["code"] == "message_too_large"
    assert str(limit) in answer["message"]
    await conn.ping()
    # Exactly at the limit is still read (and then judged on its content).
    exact = '{"type":"ping","ref":"edge","pad":"' + "y" * (limit - 37) + '"}'
    assert len(exact.encode()) == limit
    await conn.send(exact)
    answer = await conn.wait_frame(lambda f: f.get("ref") == "edge")
    assert answer["code"] == "bad_message"


async def test_the_size_limit_counts_bytes_not_characters(live, member, ws) -> None:
    """ws_max_message_bytes is a number of bytes: 40000 two-byte characters are too many."""
    alice = await member("alice")
    conn = await ws(alice)
    limit = live.runtime.settings.ws_max_message_bytes
    text = orjson.dumps({"type": "ping", "pad": "é" * (limit // 2 + 1000)}).decode()
    assert len(text) < limit < len(text.encode())
    await conn.send(text)
    answer = await conn.wait_frame(lambda f: f.get("type") == "error")
    assert answer["code"] == "message_too_large"
    await conn.ping()


async def test_ref_is_echoed_in_acks_and_errors(live, member, ws) -> None:
    alice = await member("alice")
    room = await alice.create_room("Refs")
    conn = await ws(alice)
    await conn.send({"type": "room.join", "room_id": room["id"], "media": False, "ref": "j1"})
    snap = await conn.wait_frame(lambda f: f.get("ref") == "j1")
    assert snap["type"] == "room.snapshot"
    await conn.send({"type": "media.mute", "room_id": room["id"], "muted": True, "ref": "m1"})
    assert (await conn.wait_frame(lambda f: f.get("ref") == "m1")) == {"type": "ack",
                                                                        "ref": "m1"}
    await conn.send({"type": "room.sync", "room_id": room["id"], "since_seq": 0,
                     "ref": "s1"})
    assert (await conn.wait_frame(lambda f: f.get("ref") == "s1"))["type"] == "ack"
    await conn.send({"type": "stage.answer", "room_id": room["id"], "accept": True,
                     "ref": "e1"})
    err = await conn.wait_frame(lambda f: f.get("ref") == "e1")
    assert err == {"type": "error", "code": "already_on_stage", "message": err["message"],
                   "ref": "e1", "room_id": room["id"]}
    await conn.send({"type": "ping", "ref": "p1"})
    assert (await conn.wait_frame(lambda f: f.get("ref") == "p1")) == {"type": "pong",
                                                                        "ref": "p1"}
    await conn.send({"type": "room.leave", "room_id": room["id"], "ref": "l1"})
    assert (await conn.wait_frame(lambda f: f.get("ref") == "l1")) == {
        "type": "room.left", "room_id": room["id"], "reason": "left", "ref": "l1"}


# --- rooms ----------------------------------------------------------------------------------


async def test_joining_an_unknown_room(live, member, ws) -> None:
    alice = await member("alice")
    conn = await ws(alice)
    answer = await conn.request({"type": "room.join", "room_id": 424242, "media": False})
    assert (answer["type"], answer["code"], answer["room_id"]) == ("error", "room_not_found",
                                                                   424242)
    # Nothing of that room lingers: joining a real room afterwards works.
    room = await alice.create_room("Real")
    assert (await conn.join(room["id"]))["type"] == "room.snapshot"


async def test_room_messages_need_the_room(live, member, ws) -> None:
    alice = await member("alice")
    room = await alice.create_room("Not joined")
    conn = await ws(alice)
    for msg in ({"type": "media.answer", "room_id": room["id"], "media_id": "m1",
                 "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"},
                {"type": "media.candidate", "room_id": room["id"], "media_id": "m1",
                 "candidate": None},
                {"type": "media.restart", "room_id": room["id"]},
                {"type": "media.mute", "room_id": room["id"], "muted": True},
                {"type": "stage.answer", "room_id": room["id"], "accept": True},
                {"type": "room.leave", "room_id": room["id"]},
                {"type": "room.sync", "room_id": room["id"], "since_seq": 0}):
        answer = await conn.request(msg)
        assert (answer["type"], answer["code"], answer["room_id"]) == (
            "error", "not_in_room", room["id"]), msg


async def test_joining_twice_on_one_connection(live, member, ws) -> None:
    alice = await member("alice")
    room = await alice.create_room("Twice")
    conn = await ws(alice)
    await conn.join(room["id"])
    answer = await conn.request({"type": "room.join", "room_id": room["id"], "media": False})
    assert answer["code"] == "bad_message"
    assert len(conn.events(room["id"])) == 0  # no second member_joined


async def test_a_listener_cannot_mute(live, member, ws) -> None:
    alice = await member("alice")
    bob = await member("bob")
    room = await alice.create_room("Listeners")
    await (await ws(alice)).join(room["id"])
    conn = await ws(bob)
    await conn.join(room["id"])
    for muted in (True, False):
        answer = await conn.request({"type": "media.mute", "room_id": room["id"],
                                     "muted": muted})
        assert (answer["type"], answer["code"]) == ("error", "not_on_stage")
    answer = await conn.request({"type": "stage.answer", "room_id": room["id"],
                                 "accept": True})
    assert answer["code"] == "not_invited"


async def test_media_when_the_server_has_none(live, member, ws) -> None:
    alice = await member("alice")
    room = await alice.create_room("No media")
    conn = await ws(alice)
    assert (await conn.request({"type": "room.join", "room_id": room["id"], "media": True})
            )["type"] == "room.snapshot"
    state = await conn.wait_frame(lambda f: f.get("type") == "media.state")
    assert state["state"] == "waiting"
    assert state["error"]["code"] == "media_unavailable"
    answer = await conn.request({"type": "media.restart", "room_id": room["id"]})
    assert answer["code"] == "stale_media"


async def test_a_second_connection_replaces_the_first(live, member, ws) -> None:
    alice = await member("alice")
    bob = await member("bob")
    room = await alice.create_room("Replace")
    rid = room["id"]
    first = await ws(alice)
    await first.join(rid)
    b = await ws(bob)
    await b.join(rid)
    seq_before = (await settled(first, alice, rid, audience=1)).seq

    second = await ws(alice)
    assert (await second.join(rid))["type"] == "room.snapshot"
    left = await first.wait_frame(lambda f: f.get("type") == "room.left")
    assert left == {"type": "room.left", "room_id": rid, "reason": "replaced", "ref": None}
    # Taking over a place is not a change anyone else sees.
    assert (await fresh(alice, rid)).seq == seq_before
    first_events = len(first.events(rid))

    # The room goes on, for both members, on the new connection.
    await alice.stage(rid, "invite", "bob")
    assert (await b.request({"type": "stage.answer", "room_id": rid, "accept": True})
            )["type"] == "ack"
    answer = await second.request({"type": "media.mute", "room_id": rid, "muted": True})
    assert answer["type"] == "ack"
    end = (await fresh(alice, rid)).seq
    await second.wait_seq(rid, end)
    await b.wait_seq(rid, end)
    assert event_types(second.events(rid)) == ["speak_invited", "role_changed",
                                               "mute_changed"]
    assert snapshot_of(second, rid) == await fresh(bob, rid)
    assert snapshot_of(b, rid) == await fresh(bob, rid)
    assert all(m.connected for m in (await fresh(bob, rid)).stage)

    # The first connection no longer follows the room, but it still works.
    assert len(first.events(rid)) == first_events
    assert (await first.request({"type": "media.mute", "room_id": rid, "muted": False})
            )["code"] == "not_in_room"
    await first.ping()
    # Closing it does not disturb the place the second connection holds.
    await first.close()
    with pytest.raises(ApiError) as refused:  # a request that changes nothing
        await alice.stage(rid, "invite", "bob")
    assert refused.value.code == "already_on_stage"
    snap = await fresh(bob, rid)
    assert snap.seq == end
    assert [m.connected for m in snap.stage] == [True, True]


async def test_reconnect_replays_exactly_the_missed_events(live, member, ws) -> None:
    alice = await member("alice")
    bob = await member("bob")
    carol = await member("carol")
    rid = (await alice.create_room("Resume"))["id"]
    a = await ws(alice)
    await a.join(rid)
    b = await ws(bob)
    await b.join(rid)
    c1 = await ws(carol)
    await c1.join(rid)
    await settled(c1, alice, rid, audience=2)
    carol_knows = snapshot_of(c1, rid)
    assert carol_knows == await fresh(carol, rid)

    await c1.close()  # a dropped connection, not a leave: carol keeps her place, quietly
    # While carol is away, the stage changes.
    await on_stage(alice, b, bob, rid)
    await alice.stage(rid, "mute", "bob")
    await alice.stage(rid, "unmute", "bob")

    async def bob_keeps_talking() -> None:
        for i in range(12):
            answer = await b.request({"type": "media.mute", "room_id": rid,
                                      "muted": i % 2 == 0})
            assert answer["type"] == "ack"

    talking = asyncio.create_task(bob_keeps_talking())
    c2 = await ws(carol)
    answer = await c2.request({"type": "room.join", "room_id": rid, "media": False,
                               "since_seq": carol_knows.seq})
    assert answer["type"] == "ack"  # a replay, not a snapshot
    await talking
    final = await settled(c2, alice, rid, audience=1)

    got = c2.events(rid)
    assert [f["seq"] for f in got] == list(range(carol_knows.seq + 1, final.seq + 1))
    assert not [f for f in c2.frames if f.get("type") == "room.snapshot"]
    # What happened while carol was away, then bob's muting (the audience count, announced
    # every two seconds, falls somewhere in between).
    types = [t for t in event_types(got) if t != "audience_changed"]
    assert types[:4] == ["speak_invited", "role_changed", "mute_changed", "mute_changed"]
    assert types.count("mute_changed") == 2 + 12
    assert len(types) == 2 + 2 + 12
    # The replay is made of the same frames the others got live.
    a_frames = {f["seq"]: f for f in a.events(rid)}
    assert all(a_frames[f["seq"]] == f for f in got)
    assert replay(carol_knows, got) == final
    # Carol is back in the audience (listeners are counted, not listed).
    page = await alice.audience(rid)
    assert [m["username"] for m in page["members"]] == ["carol"]
    assert page["members"][0]["connected"]


async def test_sync_replays_from_a_given_point(live, member, ws) -> None:
    alice = await member("alice")
    bob = await member("bob")
    rid = (await alice.create_room("Sync"))["id"]
    a = await ws(alice)
    await a.join(rid)
    await (await ws(bob)).join(rid)
    await alice.stage(rid, "invite", "bob")
    await a.wait_seq(rid, 3)
    start = len(a.frames)
    answer = await a.request({"type": "room.sync", "room_id": rid, "since_seq": 1})
    assert answer["type"] == "ack"
    replayed = [f for f in a.frames[start:] if f.get("type") == "room.event"]
    assert [f["seq"] for f in replayed] == [2, 3]
    assert replayed == a.events(rid, after=1)[:2]
    # Too far back (or ahead) for a replay: a fresh snapshot instead.
    answer = await a.request({"type": "room.sync", "room_id": rid, "since_seq": 99})
    assert answer["type"] == "room.snapshot"
    assert RoomSnapshot.model_validate(answer["snapshot"]) == await fresh(alice, rid)


async def test_leaving_tells_the_others(live, member, ws) -> None:
    alice = await member("alice")
    bob = await member("bob")
    rid = (await alice.create_room("Leave"))["id"]
    a = await ws(alice)
    await a.join(rid)
    b = await ws(bob)
    await b.join(rid)
    await on_stage(alice, b, bob, rid)  # listeners leave quietly; speakers are seen to go
    answer = await b.request({"type": "room.leave", "room_id": rid})
    assert (answer["type"], answer["reason"], answer["room_id"]) == ("room.left", "left", rid)
    frame = await a.wait_frame(lambda f: f.get("type") == "room.event"
                               and f["event"]["type"] == "member_left")
    assert envelope_of(frame).event.model_dump() == {"type": "member_left",
                                                     "member_id": bob.member["id"],
                                                     "reason": "left"}
    assert (await fresh(alice, rid)).member(bob.member["id"]) is None
    # Bob no longer follows the room, and may come back (to the audience).
    assert not b.events(rid, after=frame["seq"] - 1)
    assert (await b.join(rid))["type"] == "room.snapshot"
    await settled(a, alice, rid, audience=1)
    assert [m["username"] for m in (await alice.audience(rid))["members"]] == ["bob"]


async def test_a_dropped_connection_keeps_the_place_until_the_grace_period_ends(
        live, member, ws) -> None:
    assert live.runtime.settings.presence_grace_seconds == 2.0
    alice = await member("alice")
    bob = await member("bob")
    rid = (await alice.create_room("Grace"))["id"]
    a = await ws(alice)
    await a.join(rid)
    b = await ws(bob)
    await b.join(rid)
    await on_stage(alice, b, bob, rid)  # a listener's presence is not announced
    await settled(a, alice, rid, audience=0)
    await b.close()  # no room.leave

    gone = await a.wait_frame(lambda f: f.get("type") == "room.event"
                              and f["event"]["type"] == "presence_changed")
    assert gone["event"] == {"type": "presence_changed", "member_id": bob.member["id"],
                             "connected": False}
    snap = await fresh(alice, rid)
    bob_view = snap.member(bob.member["id"])
    assert bob_view is not None
    assert not bob_view.connected

    left = await a.wait_frame(lambda f: f.get("type") == "room.event"
                              and f["event"]["type"] == "member_left", timeout=15)
    assert left["event"] == {"type": "member_left", "member_id": bob.member["id"],
                             "reason": "timeout"}
    assert left["seq"] == gone["seq"] + 1
    assert snapshot_of(a, rid) == await fresh(alice, rid)
    assert (await fresh(alice, rid)).member(bob.member["id"]) is None


async def test_the_last_member_leaving_ends_the_room(live, member, ws) -> None:
    alice = await member("alice")
    bob = await member("bob")
    rid = (await alice.create_room("Last one out"))["id"]
    a = await ws(alice)
    await a.join(rid)
    assert (await a.request({"type": "room.leave", "room_id": rid}))["type"] == "room.left"

    detail = await alice.get_room(rid)
    snap = RoomSnapshot.model_validate(detail["snapshot"])
    assert snap.room.state == "ended"
    assert snap.room.ended_at is not None
    assert (snap.stage, snap.hands, snap.invited, snap.audience_count) == ([], [], [], 0)
    assert detail["you"] == {"in_room": False, "role": None, "hand_raised": False,
                             "invited": False, "actions": [], "member_actions": {}}
    stored = await room_actions.events_since(live.runtime.svc, rid, 0)
    assert [e.event.model_dump(mode="json") for e in stored] == [
        {"type": "member_joined", "member": stored[0].event.member.model_dump(mode="json")},
        {"type": "member_left", "member_id": alice.member["id"], "reason": "left"},
        {"type": "room_ended", "by": None, "reason": "empty"},
    ]
    assert [e.seq for e in stored] == [1, 2, 3] == list(range(1, snap.seq + 1))
    assert rid not in {r["id"] for r in await alice.list_rooms()}

    late = await ws(bob)
    answer = await late.request({"type": "room.join", "room_id": rid, "media": False})
    assert (answer["type"], answer["code"]) == ("error", "room_ended")


async def _poll(check: Callable[[], Awaitable[bool]], what: str,
                timeout: float = 10.0) -> None:
    """Poll for a condition that no event announces (PostgreSQL's lock queue)."""
    for _ in range(int(timeout / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


async def test_a_new_connection_racing_the_old_ones_cleanup_keeps_the_member_present(
        live, member, ws, caplog) -> None:
    """Bob's new connection joins while his old connection's disconnect is still being
    handled: he is connected on the new one, so he must not end up 'disconnected' (and then
    timed out of the room after the grace period).

    The interleaving is made deterministic by holding the room's row lock (PostgreSQL): the
    new connection's join queues up first, then the old connection goes away, and only when
    its cleanup is queued behind the join too (or is over) is the lock released.
    """
    import asyncpg

    if live.runtime.db.backend != "postgresql":
        pytest.skip("orders the two writes with a PostgreSQL row lock")
    caplog.set_level(logging.INFO, logger="ruang.access")
    alice = await member("alice")
    bob = await member("bob")
    rid = (await alice.create_room("Quick reconnect"))["id"]
    a = await ws(alice)
    await a.join(rid)
    old = await ws(bob)
    await old.join(rid)
    new = await ws(bob)
    dsn = str(live.runtime.db.url.set(drivername="postgresql"))
    locker, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)

    async def lock_waiters() -> int:
        return int(await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"))

    async def old_connection_done() -> bool:  # the access log line comes after its cleanup
        return any(r.name == "ruang.access" and r.getMessage() == "websocket closed"
                   for r in caplog.records)

    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("SELECT id FROM rooms WHERE id = $1 FOR UPDATE", rid)
        start = len(new.frames)
        await new.send({"type": "room.join", "room_id": rid, "media": False, "ref": "rejoin"})

        async def join_waits() -> bool:
            return await lock_waiters() >= 1

        await _poll(join_waits, "the new connection's join waits for the room")
        await old.close()  # the old connection goes away

        async def cleanup_waits_or_is_done() -> bool:
            return await lock_waiters() >= 2 or await old_connection_done()

        await _poll(cleanup_waits_or_is_done, "the old connection's cleanup is queued or over")
        await lock.rollback()
        answer = await new.wait_frame(lambda f: f.get("ref") == "rejoin", start=start)
        assert answer["type"] == "room.snapshot"
    finally:
        await locker.close()
        await watcher.close()
    # A later write queues behind both, so both are done when it returns.
    await alice.stage(rid, "invite", "bob")
    snap = await fresh(alice, rid)
    bob_view = snap.member(bob.member["id"])
    assert bob_view is not None
    assert bob_view.connected, "bob is connected (on his new connection)"
    await a.wait_seq(rid, snap.seq)
    assert snapshot_of(a, rid) == snap
    assert (await new.request({"type": "stage.answer", "room_id": rid, "accept": False})
            )["type"] == "ack"
