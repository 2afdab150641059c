"""Rooms end to end over REST and the WebSocket (no media), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ruang.client.api import ApiError
from ruang.domain.rooms import Role


async def test_stage_flow_keeps_every_member_in_step(live, connect) -> None:
    alice = await live.member("alice")
    bob = await live.member("bob")
    room = await alice.create_room("Weekly standup", "what shipped")

    rt_a = await connect(alice)
    rt_b = await connect(bob)
    sa = await rt_a.join(room["id"])
    sb = await rt_b.join(room["id"])
    await sa.wait_for(lambda s: s.snapshot is not None and s.snapshot.audience_count == 1)
    assert sa.me is not None
    assert sa.me.role is Role.MODERATOR
    assert sb.me is not None
    assert sb.me.role is Role.LISTENER
    bob_id = bob.member["id"]

    await sb.raise_hand()
    await sa.wait_for(lambda s: [m.id for m in s.snapshot.hands] == [bob_id])
    await alice.stage(room["id"], "invite", "bob")
    await sb.wait_for(lambda s: s.invited and not s.hand_raised)
    await sb.answer_invite(True)
    await sa.wait_for(lambda s: s.snapshot.on_stage(bob_id) is not None
                      and s.snapshot.on_stage(bob_id).role is Role.SPEAKER)

    await alice.stage(room["id"], "mute", "@bob")
    await sb.wait_for(lambda s: s.me.mod_muted)
    with pytest.raises(ApiError) as err:
        await sb.set_muted(False)
    assert err.value.code == "muted_by_moderator"

    await sa.say("welcome on stage")
    await sb.wait_for(lambda s: [m.text for m in s.chat] == ["welcome on stage"])

    await alice.stage(room["id"], "move-to-audience", "bob")
    await sb.wait_for(lambda s: s.me.role is Role.LISTENER and s.snapshot.on_stage(bob_id)
                      is None)

    # Both sides hold the same state as a fresh read from the server.
    await sa.wait_for(lambda s: s.snapshot.seq == sb.snapshot.seq)
    fresh = (await bob.get_room(room["id"]))["snapshot"]
    assert sa.snapshot.model_dump(mode="json") == fresh
    assert sb.snapshot.model_dump(mode="json") == fresh


async def test_listener_cannot_moderate(live, connect) -> None:
    alice = await live.member("alice")
    bob = await live.member("bob")
    carol = await live.member("carol")
    room = await alice.create_room("Closed-door chat")
    for c in (alice, bob, carol):
        await (await connect(c)).join(room["id"])
    for action in ("invite", "mute", "move-to-audience", "remove", "make-moderator"):
        with pytest.raises(ApiError) as err:
            await bob.stage(room["id"], action, "carol")
        assert err.value.status == 403
        assert err.value.code == "not_a_moderator"
    with pytest.raises(ApiError) as err:
        await bob.end_room(room["id"])
    assert err.value.code == "not_a_moderator"


async def test_unknown_room_and_bad_credentials(live, connect) -> None:
    alice = await live.member("alice")
    with pytest.raises(ApiError) as err:
        await alice.get_room(999)
    assert (err.value.status, err.value.code) == (404, "room_not_found")
    rt = await connect(alice)
    with pytest.raises(ApiError) as err:
        await rt.join(999)
    assert err.value.code == "room_not_found"

    from ruang.client.api import RuangClient

    with pytest.raises(ApiError) as err:
        await RuangClient.login(live.url, "alice", "wrong-password")
    assert (err.value.status, err.value.code) == (401, "invalid_credentials")
    with pytest.raises(ApiError) as err:
        await RuangClient.login(live.url, "nobody", "wrong-password")
    assert (err.value.status, err.value.code) == (401, "invalid_credentials")
