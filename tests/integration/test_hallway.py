"""The hallway over the real server, on SQLite and PostgreSQL: ranking of live and upcoming
rooms, what is hidden (blocks, kinds), and the live hallway over the WebSocket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.roomkit import Crowd, card_ids, hallway_until, on_stage, refused


@pytest.fixture
async def crowd(live: Any) -> AsyncIterator[Crowd]:
    async with Crowd(live) as c:
        yield c


def later(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).replace(microsecond=0).isoformat()


def card(cards: list[dict[str, Any]], rid: int) -> dict[str, Any]:
    return next(c for c in cards if c["id"] == rid)


async def test_hallway_ranking(crowd: Crowd) -> None:
    vic = await crowd.member("vic")
    fay, tina, hank, sam, lou, lea, lin = await crowd.members(
        "fay", "tina", "hank", "sam", "lou", "lea", "lin")
    topics = await vic.call("GET", "/api/v1/topics")
    assert isinstance(topics, list)
    assert len(topics) >= 3
    mine, other = topics[2], topics[4]
    profile = await vic.call("PATCH", "/api/v1/me/profile", json={"interests": [mine]})
    assert profile["interests"] == [mine]
    await vic.call("POST", "/api/v1/members/fay/follow")

    # Four live rooms: a big one, one on vic's interest, one with fay (whom vic follows) on
    # stage, and a small one on another topic. Created in the order they should NOT rank.
    small = (await sam.client.create_room("Small talk", topics=[other]))["id"]
    big = (await hank.client.create_room("Crowded"))["id"]
    topical = (await tina.client.create_room("On topic", topics=[mine.upper()]))["id"]
    friends = (await fay.client.create_room("Fay's room"))["id"]
    for host, rid in ((sam, small), (hank, big), (tina, topical), (fay, friends)):
        await host.join(rid)
    for p in (lou, lea, lin):
        await p.join(big)
    await hank.s(big).wait_for(lambda s: s.snapshot.audience_count == 3)

    hallway = await vic.client.hallway()
    assert card_ids(hallway["live"]) == [friends, topical, big, small]
    assert card(hallway["live"], friends)["followed_on_stage"] == ["fay"]
    assert card(hallway["live"], topical)["topics"] == [mine]
    assert (card(hallway["live"], big)["stage_count"],
            card(hallway["live"], big)["audience_count"]) == (1, 3)
    assert [p["username"] for p in card(hallway["live"], big)["stage"]] == ["hank"]
    assert card(hallway["live"], big)["host"]["username"] == "hank"
    assert await vic.client.list_rooms() == hallway["live"]
    assert await vic.call("GET", "/api/v1/rooms") == hallway

    # More people vic follows on stage rank higher still.
    await vic.call("POST", "/api/v1/members/hank/follow")
    await vic.call("POST", "/api/v1/members/lou/follow")
    await on_stage(hank, lou, big)
    assert card_ids((await vic.client.hallway())["live"]) == [big, friends, topical, small]
    assert sorted(card((await vic.client.hallway())["live"], big)["followed_on_stage"]) == \
        ["hank", "lou"]

    # Upcoming: rooms vic RSVPed or whose host vic follows first, each group soonest first.
    soon = (await sam.client.create_room("Soon", scheduled_for=later(days=1)))["id"]
    mid = (await tina.client.create_room("Mid", scheduled_for=later(days=2)))["id"]
    followed = (await fay.client.create_room("Fay later", scheduled_for=later(days=4)))["id"]
    rsvped = (await lea.client.create_room("Lea's", scheduled_for=later(days=3)))["id"]
    await vic.client.rsvp(rsvped)
    upcoming = (await vic.client.hallway())["upcoming"]
    assert card_ids(upcoming) == [rsvped, followed, soon, mid]
    assert (card(upcoming, rsvped)["you_rsvped"], card(upcoming, rsvped)["rsvp_count"]) == \
        (True, 1)
    assert card(upcoming, followed)["you_rsvped"] is False
    # Someone else's hallway has its own order.
    assert card_ids((await lin.client.hallway())["upcoming"]) == [soon, mid, rsvped, followed]


async def test_hallway_hides_blocked_and_private_rooms(crowd: Crowd) -> None:
    vic = await crowd.member("vic")
    bea, ian, moe, sol, cla, host = await crowd.members("bea", "ian", "moe", "sol", "cla", "host")
    blocked_me = (await bea.client.create_room("Bea's"))["id"]
    i_blocked = (await ian.client.create_room("Ian's"))["id"]
    moderated = (await host.client.create_room("Host's"))["id"]
    social = (await sol.client.create_room("Sol's friends", kind="social"))["id"]
    closed_in = (await cla.client.create_room("Cla's circle", kind="closed",
                                              invitees=["vic"]))["id"]
    closed_out = (await cla.client.create_room("Cla's other", kind="closed",
                                               invitees=["moe"]))["id"]
    bea_later = (await bea.client.create_room("Bea later", scheduled_for=later(days=1)))["id"]
    ian_later = (await ian.client.create_room("Ian later", scheduled_for=later(days=1)))["id"]
    sol_later = (await sol.client.create_room("Sol later", kind="social",
                                              scheduled_for=later(days=1)))["id"]
    await host.join(moderated)
    await moe.join(moderated)

    everything = {blocked_me, i_blocked, moderated, social, closed_in, bea_later, ian_later}
    before = await vic.client.hallway()
    shown = set(card_ids(before["live"] + before["upcoming"]))
    assert everything - {social} <= shown
    assert social not in shown
    assert sol_later not in shown
    assert closed_out not in shown

    await bea.call("POST", "/api/v1/members/vic/block")
    await vic.call("POST", "/api/v1/members/ian/block")
    after = await vic.client.hallway()
    shown = set(card_ids(after["live"] + after["upcoming"]))
    assert not {blocked_me, i_blocked, bea_later, ian_later} & shown
    assert {moderated, closed_in} <= shown
    await refused(vic.client.get_room(blocked_me), "room_not_found", 404)

    # A moderator present (not the host) who blocked vic hides the room too.
    await on_stage(host, moe, moderated)
    await host.client.stage(moderated, "make-moderator", "moe")
    await moe.call("POST", "/api/v1/members/vic/block")
    assert moderated not in card_ids((await vic.client.hallway())["live"])
    await refused(vic.client.get_room(moderated), "room_not_found", 404)

    # Following sol opens his social rooms.
    await vic.call("POST", "/api/v1/members/sol/follow")
    hallway = await vic.client.hallway()
    assert social in card_ids(hallway["live"])
    assert sol_later in card_ids(hallway["upcoming"])
    # Rooms hidden from vic still show for others.
    others = await moe.client.hallway()
    assert {blocked_me, i_blocked, closed_out} <= set(card_ids(others["live"]))


async def test_live_hallway_follows_rooms_starting_growing_and_ending(crowd: Crowd) -> None:
    vic, fay, lou, lea = await crowd.members("vic", "fay", "lou", "lea")
    await vic.call("POST", "/api/v1/members/fay/follow")
    rt = vic.rt
    assert rt is not None
    await rt.watch_hallway()
    assert rt.hallway == {"type": "hallway", "live": [], "upcoming": []}

    async def new_frame(predicate: Any) -> dict[str, Any]:
        """The change produces a new hallway frame (within 5 s) that shows it."""
        before = rt.hallway
        found = await hallway_until(rt, predicate, timeout=5)
        assert found is not before
        return found

    # Scheduled: upcoming.
    rid = (await fay.client.create_room("Fay's show", scheduled_for=later(hours=1)))["id"]
    found = await new_frame(lambda h: card_ids(h["upcoming"]) == [rid])
    assert found["live"] == []
    # Started: live.
    await fay.client.start_room(rid)
    found = await new_frame(lambda h: card_ids(h["live"]) == [rid])
    assert found["upcoming"] == []
    assert card(found["live"], rid)["state"] == "live"
    # The host on stage, then the audience grows.
    await fay.join(rid)
    await new_frame(lambda h: card(h["live"], rid)["followed_on_stage"] == ["fay"])
    await lou.join(rid)
    await lea.join(rid)
    found = await new_frame(lambda h: card(h["live"], rid)["audience_count"] == 2)
    assert card(found["live"], rid)["stage_count"] == 1
    # Another room starting right away shows too.
    other = (await lou.client.create_room("Lou's corner"))["id"]
    await new_frame(lambda h: set(card_ids(h["live"])) == {rid, other})
    # Ended: gone.
    await fay.client.end_room(rid)
    found = await new_frame(lambda h: card_ids(h["live"]) == [other])
    # The REST hallway agrees with the last frame.
    rest = await vic.client.hallway()
    assert card_ids(rest["live"]) == card_ids(found["live"])
    assert rest["upcoming"] == found["upcoming"]

    # Unsubscribed: no more frames (lou, still subscribed, gets the next one).
    await rt.watch_hallway(False)
    last = rt.hallway
    assert lou.rt is not None
    await lou.rt.watch_hallway()
    unseen = (await lea.client.create_room("Unseen"))["id"]
    await hallway_until(lou.rt, lambda h: unseen in card_ids(h["live"]), timeout=5)
    assert (await rt.request({"type": "ping"}))["type"] == "pong"
    assert rt.hallway is last
