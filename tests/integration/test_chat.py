"""Room chat and reactions over the real server, on SQLite and PostgreSQL: delivery with
sequence numbers, cleaning and limits, rate limits, chat modes, deletion, history pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ruang.actions.chat import EMOJI
from tests.integration.roomkit import Crowd, fresh, on_stage, refused, settle


@pytest.fixture
async def crowd(live: Any) -> AsyncIterator[Crowd]:
    async with Crowd(live) as c:
        yield c


def texts(session: Any) -> list[str]:
    return [m.text for m in session.chat]


async def test_chat_reaches_everyone_with_a_sequence_number(crowd: Crowd) -> None:
    alice, bob, carol = await crowd.members("alice", "bob", "carol")
    olive = await crowd.member("olive", realtime=False)
    rid = (await alice.client.create_room("Chatty"))["id"]
    a, b, c = [await p.join(rid) for p in (alice, bob, carol)]
    raw = await crowd.raw(olive)
    await raw.join(rid)

    await a.say("hello room")
    await b.say("hi alice")
    await c.say("hey, all")
    sent = ["hello room", "hi alice", "hey, all"]
    for s in (a, b, c):
        await s.wait_for(lambda s: len(s.chat) == 3)
        assert texts(s) == sent
    await raw.wait_until(lambda: len(_chat_frames(raw, rid)) == 3)
    frames = _chat_frames(raw, rid)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs))
    assert [f["event"]["text"] for f in frames] == sent
    assert [f["event"]["author"]["username"] for f in frames] == ["alice", "bob", "carol"]
    assert [f["event"]["author"]["id"] for f in frames] == [alice.id, bob.id, carol.id]
    ids = [f["event"]["message_id"] for f in frames]
    assert len(set(ids)) == 3
    for s in (a, b, c):
        assert [m.message_id for m in s.chat] == ids
    # Chat is shown, not kept in the snapshot; the history has each line with its seq.
    history = (await bob.client.chat_history(rid))["messages"]
    assert [(m["message_id"], m["seq"], m["text"]) for m in history] == \
        [(f["event"]["message_id"], f["seq"], f["event"]["text"]) for f in frames]
    snap = await settle(rid, alice, a, b, c)
    assert all(s.snapshot == snap for s in (a, b, c))


def _chat_frames(raw: Any, rid: int) -> list[dict[str, Any]]:
    return [f for f in raw.events(rid) if f["event"]["type"] == "chat_message"]


async def test_chat_text_is_cleaned_bounded_and_rate_limited(crowd: Crowd) -> None:
    alice, bob = await crowd.members("alice", "bob")
    rid = (await alice.client.create_room("Limits"))["id"]
    a, b = await alice.join(rid), await bob.join(rid)

    await refused(b.say("x" * 501), "invalid_input")
    await refused(b.say(" \n\t "), "invalid_input")
    await refused(b.say("\x00\x07\x1b"), "invalid_input")  # nothing left once cleaned
    await refused(b.say("x" * 2001), "bad_message")  # beyond what the protocol carries
    await b.say("  a\x00b\x1bc\nd\te\x7f  ")
    await b.say(" " + "y" * 500 + " ")  # the limit counts what is kept
    await a.wait_for(lambda s: len(s.chat) == 2)
    assert texts(a) == ["abc\nd\te", "y" * 500]
    history = (await alice.client.chat_history(rid))["messages"]
    assert [m["text"] for m in history] == ["abc\nd\te", "y" * 500]

    # Five messages per ten seconds per member (the refused ones above did not count).
    for i in range(3):
        await b.say(f"number {i + 3}")
    await refused(b.say("one too many"), "rate_limited")
    await a.say("others still can")  # the limit is per member
    await b.wait_for(lambda s: len(s.chat) == 6)
    assert texts(b)[-2:] == ["number 5", "others still can"]
    assert "one too many" not in [m["text"] for m in
                                  (await alice.client.chat_history(rid))["messages"]]
    # The connection carries on after the refusals.
    assert bob.rt is not None
    assert (await bob.rt.request({"type": "ping"}))["type"] == "pong"


async def test_chat_modes(crowd: Crowd) -> None:
    alice, bob, carol = await crowd.members("alice", "bob", "carol")
    rid = (await alice.client.create_room("Modes"))["id"]
    a, b, c = [await p.join(rid) for p in (alice, bob, carol)]
    await on_stage(alice, bob, rid)

    await refused(bob.client.set_chat_mode(rid, "speakers"), "not_a_moderator", 403)
    await refused(carol.client.set_chat_mode(rid, "off"), "not_a_moderator", 403)
    await refused(alice.client.set_chat_mode(rid, "loud"), "invalid_input", 400)

    await alice.client.set_chat_mode(rid, "speakers")
    await c.wait_for(lambda s: s.snapshot.room.chat_mode == "speakers")
    assert carol.seen(rid, "chat_mode_changed") == [
        {"type": "chat_mode_changed", "mode": "speakers", "by": alice.id}]
    await refused(c.say("me too"), "chat_speakers_only")
    await b.say("a speaker speaks")
    await a.say("so does a moderator")

    await alice.client.set_chat_mode(rid, "off")
    await b.wait_for(lambda s: s.snapshot.room.chat_mode == "off")
    await refused(b.say("still here"), "chat_off")
    await refused(c.say("hello?"), "chat_off")
    await a.say("moderators only now")

    await alice.client.set_chat_mode(rid, "open")
    await c.wait_for(lambda s: s.snapshot.room.chat_mode == "open")
    await c.say("back for everyone")
    expected = ["a speaker speaks", "so does a moderator", "moderators only now",
                "back for everyone"]
    for s in (a, b, c):
        await s.wait_for(lambda s: len(s.chat) == 4)
        assert texts(s) == expected
    snap = await settle(rid, alice, a, b, c)
    assert snap.room.chat_mode == "open"
    assert [e["mode"] for e in bob.seen(rid, "chat_mode_changed")] == \
        ["speakers", "off", "open"]


async def test_deleting_messages(crowd: Crowd) -> None:
    alice, bob, carol = await crowd.members("alice", "bob", "carol")
    rid = (await alice.client.create_room("Tidy"))["id"]
    other = (await alice.client.create_room("Elsewhere"))["id"]
    a, b, c = [await p.join(rid) for p in (alice, bob, carol)]
    for s, text in ((a, "from alice"), (b, "from bob"), (c, "from carol"), (b, "bob again")):
        await s.say(text)
    for s in (a, b, c):
        await s.wait_for(lambda s: len(s.chat) == 4)
    by_text = {m.text: m.message_id for m in a.chat}

    # Authors delete their own.
    await b.delete_message(by_text["from bob"])
    for s in (a, b, c):
        await s.wait_for(lambda s: "from bob" not in texts(s))
    assert carol.seen(rid, "chat_deleted") == [
        {"type": "chat_deleted", "message_id": by_text["from bob"], "by": bob.id}]
    # Listeners cannot delete other people's; moderators can (over REST too).
    await refused(c.delete_message(by_text["from alice"]), "not_a_moderator")
    await refused(carol.call("DELETE", f"/api/v1/rooms/{rid}/chat/{by_text['bob again']}"),
                  "not_a_moderator", 403)
    await alice.call("DELETE", f"/api/v1/rooms/{rid}/chat/{by_text['from carol']}")
    for s in (a, b, c):
        await s.wait_for(lambda s: texts(s) == ["from alice", "bob again"])
    assert bob.seen(rid, "chat_deleted")[-1] == {
        "type": "chat_deleted", "message_id": by_text["from carol"], "by": alice.id}
    # Gone is gone; other rooms' and unknown ids are not found.
    await refused(b.delete_message(by_text["from bob"]), "message_not_found")
    await refused(alice.call("DELETE", f"/api/v1/rooms/{other}/chat/{by_text['from alice']}"),
                  "message_not_found", 404)
    await refused(alice.call("DELETE", f"/api/v1/rooms/{rid}/chat/987654"),
                  "message_not_found", 404)
    history = (await carol.client.chat_history(rid))["messages"]
    assert [m["text"] for m in history] == ["from alice", "bob again"]


async def test_chat_history_pages(crowd: Crowd) -> None:
    alice, bob, carol = await crowd.members("alice", "bob", "carol")
    dave = await crowd.member("dave", realtime=False)
    mal = await crowd.member("mal", realtime=False)
    rid = (await alice.client.create_room("History"))["id"]
    people = [alice, bob, carol]
    sessions = [await p.join(rid) for p in people]
    sent = []
    for i in range(12):
        text = f"line {i:02d} by {people[i % 3].name}"
        await sessions[i % 3].say(text)
        sent.append(text)
    await sessions[0].wait_for(lambda s: len(s.chat) == 12)
    by_text = {m.text: m.message_id for m in sessions[0].chat}
    await alice.call("DELETE", f"/api/v1/rooms/{rid}/chat/{by_text[sent[4]]}")
    await sessions[2].delete_message(by_text[sent[8]])
    await sessions[0].wait_for(lambda s: len(s.chat) == 10)
    expected = [t for t in sent if t not in (sent[4], sent[8])]

    # Newest page first, each page oldest first; ?before= goes back.
    pages: list[list[dict[str, Any]]] = []
    before: int | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 4}
        if before is not None:
            params["before"] = before
        page = await dave.call("GET", f"/api/v1/rooms/{rid}/chat", params=params)
        pages.append(page["messages"])
        seqs = [m["seq"] for m in page["messages"]]
        assert seqs == sorted(seqs)
        before = page["before_seq"]
        if before is None:
            break
        assert before == seqs[0]
    assert [len(p) for p in pages] == [4, 4, 2]
    lines = [m for p in reversed(pages) for m in p]
    assert [m["text"] for m in lines] == expected
    assert [m["author"]["username"] for m in lines] == [t.rsplit(" ", 1)[1] for t in expected]
    # The SDK's call (default page size) gives everything older; before the first: nothing.
    older = await alice.client.chat_history(rid, before=pages[0][0]["seq"])
    assert older == {"messages": lines[:-4], "before_seq": None}
    empty = await dave.call("GET", f"/api/v1/rooms/{rid}/chat",
                            params={"before": lines[0]["seq"]})
    assert empty == {"messages": [], "before_seq": None}
    # Someone the host blocked does not see the room, nor its chat.
    await alice.call("POST", "/api/v1/members/mal/block")
    await refused(mal.client.chat_history(rid), "room_not_found", 404)


async def test_reactions(crowd: Crowd) -> None:
    alice, bob, carol = await crowd.members("alice", "bob", "carol")
    olive = await crowd.member("olive", realtime=False)
    rid = (await alice.client.create_room("Applause"))["id"]
    a, b, c = [await p.join(rid) for p in (alice, bob, carol)]
    raw = await crowd.raw(olive)
    await raw.join(rid)

    for bad in ("🍕", "hello", "👏👏"):
        await refused(b.react(bad), "invalid_input")
    for emoji in EMOJI[:10]:
        await b.react(emoji)
    await refused(b.react("👏"), "rate_limited")  # ten per ten seconds
    await a.react("🔥")  # per member
    await c.wait_for(lambda s: len(s.reactions) == 11)
    assert [(r.member_id, r.emoji) for r in c.reactions] == \
        [(bob.id, e) for e in EMOJI[:10]] + [(alice.id, "🔥")]
    await raw.wait_until(lambda: len([f for f in raw.events(rid)
                                      if f["event"]["type"] == "reaction"]) == 11)
    frames = [f for f in raw.events(rid) if f["event"]["type"] == "reaction"]
    assert frames[0]["event"] == {"type": "reaction", "member_id": bob.id, "emoji": EMOJI[0]}
    assert [f["seq"] for f in frames] == sorted({f["seq"] for f in frames})
    # Reactions are shown, not kept: the snapshot is unchanged by them but for the seq.
    snap = await settle(rid, alice, a, b, c)
    assert all(s.snapshot == snap for s in (a, b, c))
    assert snap == (await fresh(carol, rid))
