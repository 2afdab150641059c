"""Two Ruang servers on one PostgreSQL database and one Redis: members connected to either
see the same room, event for event, in the same order; moderation and bans cross servers.

Needs PostgreSQL and Redis: skipped on a machine without them, failing in CI (conftest's
``require``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ruang.actions import chat
from ruang.domain.rooms import Role
from ruang.events.models import RoomSnapshot
from ruang.ratelimit import RedisRateLimiter
from tests.conftest import _truncate_pg, make_settings, require, run_server
from tests.integration.rawws import RawWS, replay
from tests.integration.roomkit import Crowd, eventually, ids, refused, role_in, settle

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("RUANG_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def shared(pg_database: str | None) -> AsyncIterator[tuple[str, aioredis.Redis]]:
    """The database and the Redis both servers use (the database is emptied afterwards)."""
    require(pg_database is not None, "PostgreSQL on 127.0.0.1:5432")
    assert pg_database is not None
    redis = aioredis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        await redis.ping()
        available = True
    except (RedisError, OSError):
        available = False
    if not available:
        await redis.aclose()
    require(available, f"Redis at {REDIS_URL}")
    try:
        yield pg_database, redis
    finally:
        await redis.aclose()
        await _truncate_pg(pg_database)


async def forget_limits(redis: aioredis.Redis, room_id: int, member_ids: list[int]) -> None:
    """Ids restart with every test database: drop counts an earlier run left in Redis."""
    keys = [RedisRateLimiter.redis_key(limit, f"{room_id}:{mid}")
            for limit in (chat.CHAT_LIMIT, chat.REACT_LIMIT) for mid in member_ids]
    await redis.delete(*keys)


def seq_events(raw: RawWS, rid: int, after: int) -> list[tuple[int, dict[str, Any]]]:
    return [(f["seq"], f["event"]) for f in raw.events(rid, after=after)]


async def test_two_servers_keep_one_room_in_step(shared: tuple[str, aioredis.Redis],
                                                 tmp_path: Path) -> None:
    database, redis = shared
    settings_a = make_settings(tmp_path / "a", database, redis_url=REDIS_URL)
    settings_b = make_settings(tmp_path / "b", database, redis_url=REDIS_URL)
    async with run_server(settings_a) as one, run_server(settings_b) as two, \
            Crowd(one) as crowd:
        root = await crowd.member("root", realtime=False, is_admin=True)
        alice = await crowd.member("alice")               # on server one
        carol = await crowd.member("carol")               # on server one
        bob = await crowd.member("bob", server=two)       # on server two
        dave = await crowd.member("dave", server=two)     # on server two
        olive = await crowd.member("olive", realtime=False)
        oscar = await crowd.member("oscar", realtime=False, server=two)
        assert alice.rt is not None
        assert bob.rt is not None
        assert (await alice.rt.client.ws_url()) != (await bob.rt.client.ws_url())

        rid = (await alice.client.create_room("Across servers"))["id"]
        await forget_limits(redis, rid, [p.id for p in (alice, bob, carol, dave)])
        a, c = await alice.join(rid), await carol.join(rid)
        b, d = await bob.join(rid), await dave.join(rid)
        watch_one = await crowd.raw(olive)
        watch_two = await crowd.raw(oscar, server=two)
        await watch_one.join(rid)
        await watch_two.join(rid)
        start = max(watch_one.last_seq(rid), watch_two.last_seq(rid))

        # A member on server two raises a hand; the moderator on server one sees it and
        # invites (REST on server one); the invitation reaches server two.
        await d.raise_hand()
        await a.wait_for(lambda s: ids(s.snapshot.hands) == [dave.id])
        await alice.client.stage(rid, "invite", "dave")
        await d.wait_for(lambda s: s.invited)
        await d.answer_invite(True)
        await a.wait_for(lambda s: role_in(s, dave.id) is Role.SPEAKER)
        await alice.client.stage(rid, "mute", "dave")
        await d.wait_for(lambda s: s.me is not None and s.me.mod_muted)
        await refused(d.set_muted(False), "muted_by_moderator")
        # ...and the other way: dave, made moderator, acts through server two.
        await alice.client.stage(rid, "make-moderator", "dave")
        await d.wait_for(lambda s: s.me is not None and s.me.role is Role.MODERATOR)
        await c.raise_hand()
        await d.wait_for(lambda s: ids(s.snapshot.hands) == [carol.id])
        await dave.client.stage(rid, "lower-hand", "carol")
        await c.wait_for(lambda s: not s.hand_raised)

        # Everyone acts at once, through both servers.
        await asyncio.gather(
            a.say("one: alice"), b.say("two: bob"), c.say("one: carol"), d.say("two: dave"),
            b.raise_hand(), c.raise_hand(),
            a.say("one: alice again"), b.say("two: bob again"),
            c.say("one: carol again"), d.say("two: dave again"),
            a.react("👏"), d.react("🔥"), b.react("🎉"),
            alice.client.stage(rid, "unmute", "dave"),
            dave.client.set_chat_mode(rid, "open"),
        )
        final = await settle(rid, alice, a, b, c, d)
        await watch_one.wait_seq(rid, final.seq)
        await watch_two.wait_seq(rid, final.seq)

        # The same events, in the same order, on both servers; each arrived in seq order.
        seen_one = seq_events(watch_one, rid, start)
        seen_two = seq_events(watch_two, rid, start)
        assert seen_one == seen_two
        assert [seq for seq, _ in seen_one] == list(range(start + 1, final.seq + 1))
        for watch in (watch_one, watch_two):
            arrived = [f["seq"] for f in watch.events(rid)]
            assert arrived == sorted(set(arrived))
            first = next(f for f in watch.frames if f["type"] == "room.snapshot")
            base = RoomSnapshot.model_validate(first["snapshot"])
            assert replay(base, watch.events(rid, after=base.seq)) == final
        for s in (a, b, c, d):
            assert s.snapshot == final
        assert ids(final.hands) == ids(a.snapshot.hands)
        assert {m.id for m in final.hands} == {bob.id, carol.id}

        # Chat from both sides interleaves identically for everyone.
        history = [m["message_id"] for m in (await bob.client.chat_history(rid))["messages"]]
        assert len(history) == 8
        for p in (alice, bob, carol, dave):
            assert [m.message_id for m in p.s(rid).chat] == history, p.name
        assert [e["text"] for _, e in seen_one if e["type"] == "chat_message"] == \
            [e["text"] for _, e in seen_two if e["type"] == "chat_message"]

        # Banned through server one: bob's WebSockets on server two close (4401).
        bob_raw = await crowd.raw(bob, server=two)
        await root.call("POST", "/api/v1/admin/members/bob/sanction",
                        json={"action": "ban", "reason": "spam"})
        await eventually(lambda: bob.rt.session_ended, timeout=10)
        assert bob.rt._ws is not None
        assert bob.rt._ws.close_code == 4401
        await asyncio.wait_for(bob_raw.closed.wait(), 10)
        assert bob_raw.ws.close_code == 4401
        assert any(f.get("code") == "not_authenticated" for f in bob_raw.frames)
        # He is out of the room for everyone, on both servers.
        await a.wait_for(lambda s: bob.id not in ids(s.snapshot.hands))
        await d.wait_for(lambda s: bob.id not in ids(s.snapshot.hands))
        await refused(bob.client.get_room(rid), "not_authenticated", 401)  # sessions ended
        assert (await carol.client.get_room(rid))["snapshot"]["room"]["state"] == "live"
