"""Scheduled rooms over the real server, on SQLite and PostgreSQL: scheduling rules, the event
page, RSVPs, the calendar file, starting (with notifications, REST and live) and cancelling."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ruang.domain.rooms import RoomState
from tests.integration.roomkit import Crowd, Person, card_ids, eventually, fresh, refused

UTC = dt.UTC


@pytest.fixture
async def crowd(live: Any) -> AsyncIterator[Crowd]:
    async with Crowd(live) as c:
        yield c


def later(**delta: float) -> dt.datetime:
    return (dt.datetime.now(UTC) + dt.timedelta(**delta)).replace(microsecond=0)


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def ics_escape(text: str) -> str:
    """TEXT values in iCalendar (RFC 5545, 3.3.11)."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


async def test_scheduling_needs_a_future_time_with_its_timezone(crowd: Crowd) -> None:
    alice, bob = await crowd.members("alice", "bob")
    create = alice.client.create_room
    await refused(create("Too late", scheduled_for=later(hours=-1).isoformat()),
                  "invalid_input", 400)
    await refused(create("Too early", scheduled_for=later(days=400).isoformat()),
                  "invalid_input", 400)
    naive = later(days=1).replace(tzinfo=None).isoformat()
    await refused(create("Which zone?", scheduled_for=naive), "invalid_input", 400)
    assert (await alice.client.hallway())["upcoming"] == []

    jakarta = dt.timezone(dt.timedelta(hours=7))
    when = later(days=2).astimezone(jakarta)
    room = await create("Tomorrow's talk", scheduled_for=when.isoformat())
    assert room["state"] == "scheduled"
    assert parse(room["scheduled_for"]) == when
    assert room["started_at"] is None
    snap = await fresh(bob, room["id"])
    assert snap.room.state is RoomState.SCHEDULED
    assert snap.room.scheduled_for == when
    assert snap.stage == []
    far = await create("Next year", scheduled_for=later(days=364).isoformat())
    assert far["state"] == "scheduled"

    # Nobody joins before it starts, not even its host.
    for p in (alice, bob):
        await refused(p.rt.join(room["id"]), "room_not_started")  # type: ignore[union-attr]
    raw = await crowd.raw(bob)
    answer = await raw.request({"type": "room.join", "room_id": room["id"], "media": False})
    assert (answer["type"], answer["code"]) == ("error", "room_not_started")


async def test_event_page_and_rsvps(crowd: Crowd) -> None:
    alice, erin, bob, carol = await crowd.members("alice", "erin", "bob", "carol",
                                                  realtime=False)
    when = later(days=1)
    rid = (await alice.client.create_room("Launch party", "we ship", cohosts=["erin"],
                                          scheduled_for=when.isoformat()))["id"]

    async def page(p: Person) -> dict[str, Any]:
        return dict(await p.call("GET", f"/api/v1/rooms/{rid}/event"))

    first = await page(bob)
    assert [h["username"] for h in first["hosts"]] == ["alice", "erin"]
    assert (first["rsvp_count"], first["you_rsvped"]) == (0, False)
    assert first["calendar_url"] == f"/api/v1/rooms/{rid}/event.ics"
    assert first["room"]["state"] == "scheduled"
    assert parse(first["room"]["scheduled_for"]) == when
    assert first["room"]["cohost_ids"] == [erin.id]

    assert await bob.client.rsvp(rid) == 1
    assert await bob.client.rsvp(rid) == 1  # once per member
    assert await carol.client.rsvp(rid) == 2
    assert ((await page(bob))["rsvp_count"], (await page(bob))["you_rsvped"]) == (2, True)
    assert (await page(alice))["you_rsvped"] is False
    card = next(c for c in (await carol.client.hallway())["upcoming"] if c["id"] == rid)
    assert (card["rsvp_count"], card["you_rsvped"]) == (2, True)

    assert await bob.client.rsvp(rid, going=False) == 1
    assert await bob.client.rsvp(rid, going=False) == 1
    assert ((await page(bob))["rsvp_count"], (await page(bob))["you_rsvped"]) == (1, False)
    assert (await page(carol))["you_rsvped"] is True

    # Only scheduled rooms take RSVPs; unknown rooms are not found.
    now = (await alice.client.create_room("Right now"))["id"]
    await refused(bob.client.rsvp(now), "invalid_input", 400)
    await refused(bob.client.rsvp(987654), "room_not_found", 404)
    await refused(bob.call("GET", "/api/v1/rooms/987654/event"), "room_not_found", 404)


async def test_calendar_file(crowd: Crowd) -> None:
    alice, bob = await crowd.members("alice", "bob", realtime=False)
    title = "Roadmap; Q3, budget \\ hiring — café ☕ and a title long enough to need folding"
    description = "Line one\nLine two, with; punctuation"
    when = later(days=3).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    rid = (await alice.client.create_room(title, description,
                                          scheduled_for=when.isoformat()))["id"]

    resp = await bob.client._http.get(f"/api/v1/rooms/{rid}/event.ics",
                                      headers={"Authorization": f"Bearer {bob.client.token}"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/calendar")
    assert "attachment" in resp.headers["content-disposition"]
    assert resp.headers["content-disposition"].endswith('.ics"')
    text = resp.content.decode("utf-8")

    # CRLF everywhere; physical lines of at most 75 octets; folding happened.
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "\r" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    assert all(len(line.encode("utf-8")) <= 75 for line in physical), physical
    assert any(line.startswith(" ") for line in physical)

    lines = text.replace("\r\n ", "").split("\r\n")[:-1]
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert any(line.startswith("PRODID:") for line in lines)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 1
    props: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        props[name.split(";")[0]] = value
    assert props["DTSTART"] == when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert props["DTEND"] == (when + dt.timedelta(hours=1)).astimezone(UTC).strftime(
        "%Y%m%dT%H%M%SZ")
    assert props["SUMMARY"] == ics_escape(title)
    assert props["DESCRIPTION"].startswith(ics_escape(description) + "\\n\\n")
    assert props["DESCRIPTION"].endswith(f"/rooms/{rid}")
    assert props["URL"].endswith(f"/rooms/{rid}")
    assert str(rid) in props["UID"]
    assert "DTSTAMP" in props


async def _no_more_frames(person: Person) -> None:
    """Everything the server sent this member before now has arrived (a ping's answer comes
    after it on the same socket)."""
    assert person.rt is not None
    assert (await person.rt.request({"type": "ping"}))["type"] == "pong"


async def test_starting_notifies_followers_and_rsvps(crowd: Crowd) -> None:
    alice, erin, bob, carol, dave, frank, greg, hugo = await crowd.members(
        "alice", "erin", "bob", "carol", "dave", "frank", "greg", "hugo")
    rid = (await alice.client.create_room("Premiere", cohosts=["erin"],
                                          scheduled_for=later(hours=1).isoformat()))["id"]
    await bob.call("POST", "/api/v1/members/alice/follow")  # follows the host
    await dave.call("POST", "/api/v1/members/erin/follow")  # follows a co-host
    for p in (carol, frank, greg):
        await p.client.rsvp(rid)
    await frank.call("POST", "/api/v1/members/alice/follow")
    await alice.call("POST", "/api/v1/members/frank/block")  # blocked by the host
    await greg.call("POST", "/api/v1/members/alice/block")  # blocks the host

    await refused(bob.client.start_room(rid), "not_a_moderator", 403)
    await refused(hugo.client.start_room(rid), "not_a_moderator", 403)
    await erin.client.start_room(rid)  # a co-host may
    snap = await fresh(alice, rid)
    assert snap.room.state is RoomState.LIVE
    assert snap.room.started_at is not None

    # The room's history starts with room_started (a join from seq 0 replays it).
    raw = await crowd.raw(hugo)
    answer = await raw.join(rid, since_seq=0)
    assert answer["type"] == "ack"
    started = raw.events(rid)
    assert [(f["seq"], f["event"]) for f in started] == \
        [(1, {"type": "room_started", "by": erin.id})]

    # Live: a notification frame for each follower and RSVP connected now.
    notified = (bob, carol, dave)
    for p in notified:
        await eventually(lambda p=p: p.rt.notifications)
    for p in (alice, erin, frank, greg, hugo, *notified):
        await _no_more_frames(p)
    for p in notified:
        assert p.rt is not None
        [note] = p.rt.notifications
        assert (note["kind"], note["room_id"], note["room_title"], note["read"]) == \
            ("room_started", rid, "Premiere", False)
        assert note["actor"]["id"] == erin.id
    for p in (alice, erin, frank, greg, hugo):
        assert p.rt is not None
        assert p.rt.notifications == [], p.name

    # The same over REST.
    for p in notified:
        [note] = await p.client.notifications()
        assert (note["kind"], note["room_id"], note["read"]) == ("room_started", rid, False)
        assert note["id"] == p.rt.notifications[0]["id"]  # type: ignore[union-attr]
    for p in (alice, erin, frank, greg, hugo):
        assert await p.client.notifications() == [], p.name

    # Marking read: one's own only, by id or all at once.
    bob_note = (await bob.client.notifications())[0]["id"]
    dave_note = (await dave.client.notifications())[0]["id"]
    assert await bob.call("POST", "/api/v1/notifications/read", json={"ids": [dave_note]}) == \
        {"marked": 0}
    assert await bob.call("POST", "/api/v1/notifications/read", json={"ids": [bob_note]}) == \
        {"marked": 1}
    assert await bob.call("POST", "/api/v1/notifications/read", json={"ids": [bob_note]}) == \
        {"marked": 0}
    assert await bob.client.notifications(unread=True) == []
    assert [n["read"] for n in await bob.client.notifications()] == [True]
    assert len(await dave.client.notifications(unread=True)) == 1
    assert await carol.call("POST", "/api/v1/notifications/read", json={}) == {"marked": 1}
    assert await carol.client.notifications(unread=True) == []


async def test_closed_room_notifies_only_its_invitees(crowd: Crowd) -> None:
    alice, bob, carol, dave = await crowd.members("alice", "bob", "carol", "dave")
    for p in (bob, carol):
        await p.call("POST", "/api/v1/members/alice/follow")
    rid = (await alice.client.create_room("Board meeting", kind="closed",
                                          invitees=["carol", "dave"],
                                          scheduled_for=later(hours=2).isoformat()))["id"]
    await refused(bob.client.rsvp(rid), "room_not_found", 404)  # not for him
    assert rid not in card_ids((await bob.client.hallway())["upcoming"])
    assert rid in card_ids((await carol.client.hallway())["upcoming"])
    assert await dave.client.rsvp(rid) == 1

    await alice.client.start_room(rid)
    for p in (carol, dave):
        await eventually(lambda p=p: p.rt.notifications)
    for p in (alice, bob, carol, dave):
        await _no_more_frames(p)
    assert bob.rt is not None
    assert bob.rt.notifications == []
    assert await bob.client.notifications() == []
    for p in (carol, dave):
        [note] = await p.client.notifications()
        assert (note["room_id"], note["actor"]["id"]) == (rid, alice.id)


async def test_cancelling_a_scheduled_room(crowd: Crowd) -> None:
    alice, erin, bob = await crowd.members("alice", "erin", "bob")
    rid = (await alice.client.create_room("Maybe not", cohosts=["erin"],
                                          scheduled_for=later(days=1).isoformat()))["id"]
    other = (await alice.client.create_room("Also not", cohosts=["erin"],
                                            scheduled_for=later(days=2).isoformat()))["id"]
    await bob.call("POST", "/api/v1/members/alice/follow")
    await bob.client.rsvp(rid)

    await refused(bob.client.end_room(rid), "not_a_moderator", 403)
    await alice.client.end_room(rid)
    await erin.client.end_room(other)  # a co-host may cancel too
    for room in (rid, other):
        snap = await fresh(alice, room)
        assert snap.room.state is RoomState.ENDED
        assert snap.room.started_at is None
        assert snap.room.ended_at is not None
    await refused(alice.client.start_room(rid), "room_ended", 409)
    await refused(bob.rt.join(rid), "room_ended")  # type: ignore[union-attr]
    await refused(bob.client.rsvp(rid), "invalid_input", 400)
    await refused(alice.client.end_room(rid), "room_ended", 409)
    hallway = await bob.client.hallway()
    assert rid not in card_ids(hallway["upcoming"] + hallway["live"])
    # Nobody was told it started.
    await _no_more_frames(bob)
    assert bob.rt is not None
    assert bob.rt.notifications == []
    assert await bob.client.notifications() == []
