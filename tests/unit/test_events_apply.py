"""apply(): what every room event means, sequence checking, and the wire format of events."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import TypeAdapter, ValidationError

from ruang.domain.rooms import Role, RoomState
from ruang.events import models as ev
from ruang.events.hub import decode_event, encode_event

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
AT = dt.datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
ROOM_ID = 7


def member(mid: int, role: Role = Role.LISTENER, **kw: object) -> ev.MemberView:
    return ev.MemberView(id=mid, username=f"user{mid}", display_name=f"User {mid}", role=role,
                         **kw)


HOST = member(1, Role.MODERATOR)
SPEAKER = member(2, Role.SPEAKER, self_muted=True, mod_muted=True)
LISTENER = member(3, invited=True)


def base(seq: int = 5) -> ev.RoomSnapshot:
    room = ev.RoomView(id=ROOM_ID, title="Radio", description="d", state=RoomState.LIVE,
                       host_id=1, created_at=T0)
    return ev.RoomSnapshot(room=room, members=[HOST, SPEAKER, LISTENER], seq=seq)


def envelope(event: object, seq: int = 6) -> ev.RoomEventEnvelope:
    return ev.RoomEventEnvelope.model_validate({"room_id": ROOM_ID, "seq": seq, "at": AT,
                                                "event": event})


# One example of every event type (more variants follow for the ones with options).
SAMPLES: dict[str, list[ev.RoomEvent]] = {
    "member_joined": [ev.MemberJoined(member=member(4)),
                      ev.MemberJoined(member=member(3, Role.LISTENER))],
    "member_left": [ev.MemberLeft(member_id=2), ev.MemberLeft(member_id=3, reason="timeout"),
                    ev.MemberLeft(member_id=1, reason="room_ended")],
    "presence_changed": [ev.PresenceChanged(member_id=2, connected=False),
                         ev.PresenceChanged(member_id=2, connected=True)],
    "role_changed": [ev.RoleChanged(member_id=3, role=Role.SPEAKER),
                     ev.RoleChanged(member_id=2, role=Role.LISTENER, by=1)],
    "speak_invited": [ev.SpeakInvited(member_id=3, by=1)],
    "invite_declined": [ev.InviteDeclined(member_id=3)],
    "mute_changed": [ev.MuteChanged(member_id=2, self_muted=False, mod_muted=True, by=1),
                     ev.MuteChanged(member_id=1, self_muted=True, mod_muted=False)],
    "room_ended": [ev.RoomEnded(by=1), ev.RoomEnded(reason="empty")],
}
ALL_SAMPLES = [e for events in SAMPLES.values() for e in events]


def type_name(model: type) -> str:
    return str(model.model_fields["type"].default)


def test_every_event_type_has_samples() -> None:
    assert set(SAMPLES) == {type_name(t) for t in ev.EVENT_TYPES}
    assert len(ev.EVENT_TYPES) == len({type_name(t) for t in ev.EVENT_TYPES})


def test_the_union_and_the_tuple_agree() -> None:
    adapter: TypeAdapter[ev.RoomEvent] = TypeAdapter(ev.RoomEvent)
    union = adapter.json_schema()["discriminator"]["mapping"]
    assert set(union) == {type_name(t) for t in ev.EVENT_TYPES}


# --- apply, one event type at a time ---------------------------------------------------------


def test_member_joined_appends_the_member() -> None:
    new = member(4)
    after = ev.apply(base(), envelope(ev.MemberJoined(member=new)))
    assert after.members == [HOST, SPEAKER, LISTENER, new]
    assert after.seq == 6
    assert after.room == base().room


def test_member_joined_again_replaces_the_old_entry_and_moves_it_last() -> None:
    again = member(2, Role.LISTENER)
    after = ev.apply(base(), envelope(ev.MemberJoined(member=again)))
    assert after.members == [HOST, LISTENER, again]


@pytest.mark.parametrize("reason", ["left", "timeout", "room_ended"])
def test_member_left_removes_the_member(reason: str) -> None:
    after = ev.apply(base(), envelope(ev.MemberLeft(member_id=2, reason=reason)))
    assert after.members == [HOST, LISTENER]


def test_member_left_for_someone_absent_changes_only_seq() -> None:
    after = ev.apply(base(), envelope(ev.MemberLeft(member_id=99)))
    assert after == base(6)


@pytest.mark.parametrize("connected", [False, True])
def test_presence_changed(connected: bool) -> None:
    after = ev.apply(base(), envelope(ev.PresenceChanged(member_id=2, connected=connected)))
    assert after.members == [HOST, SPEAKER.model_copy(update={"connected": connected}),
                             LISTENER]


def test_role_changed_to_speaker_clears_the_invitation() -> None:
    after = ev.apply(base(), envelope(ev.RoleChanged(member_id=3, role=Role.SPEAKER)))
    assert after.member(3) == LISTENER.model_copy(update={"role": Role.SPEAKER,
                                                          "invited": False})
    assert after.members[:2] == [HOST, SPEAKER]


def test_role_changed_to_listener_clears_mutes_and_invitation() -> None:
    after = ev.apply(base(), envelope(ev.RoleChanged(member_id=2, role=Role.LISTENER, by=1)))
    assert after.member(2) == SPEAKER.model_copy(update={
        "role": Role.LISTENER, "self_muted": False, "mod_muted": False, "invited": False})


def test_speak_invited() -> None:
    plain = member(4)
    snap = ev.apply(base(), envelope(ev.MemberJoined(member=plain)))
    after = ev.apply(snap, envelope(ev.SpeakInvited(member_id=4, by=1), seq=7))
    assert after.member(4) == plain.model_copy(update={"invited": True})
    assert after.members[:3] == [HOST, SPEAKER, LISTENER]


def test_invite_declined() -> None:
    after = ev.apply(base(), envelope(ev.InviteDeclined(member_id=3)))
    assert after.member(3) == LISTENER.model_copy(update={"invited": False})


@pytest.mark.parametrize(("self_muted", "mod_muted"),
                         [(False, False), (True, False), (False, True), (True, True)])
def test_mute_changed(self_muted: bool, mod_muted: bool) -> None:
    after = ev.apply(base(), envelope(ev.MuteChanged(member_id=2, self_muted=self_muted,
                                                     mod_muted=mod_muted, by=1)))
    assert after.member(2) == SPEAKER.model_copy(update={"self_muted": self_muted,
                                                         "mod_muted": mod_muted})


@pytest.mark.parametrize("reason", ["ended", "empty"])
def test_room_ended_empties_the_room(reason: str) -> None:
    after = ev.apply(base(), envelope(ev.RoomEnded(by=1, reason=reason)))
    assert after.room == base().room.model_copy(update={"state": RoomState.ENDED,
                                                        "ended_at": AT})
    assert after.members == []
    assert after.seq == 6


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=lambda e: e.type)
def test_apply_never_changes_its_input(event: ev.RoomEvent) -> None:
    before = base()
    copy = before.model_copy(deep=True)
    after = ev.apply(before, envelope(event))
    assert before == copy
    assert after.seq == before.seq + 1


# --- sequence numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("event", [samples[0] for samples in SAMPLES.values()],
                         ids=list(SAMPLES))
@pytest.mark.parametrize("seq", [0, 4, 5, 7, 100])
def test_an_event_that_does_not_follow_raises_sequence_gap(event: ev.RoomEvent,
                                                           seq: int) -> None:
    with pytest.raises(ev.SequenceGap):
        ev.apply(base(5), envelope(event, seq=seq))


def test_events_apply_in_a_chain() -> None:
    snap = base(0)
    chain = [ev.MemberJoined(member=member(4)), ev.SpeakInvited(member_id=4, by=1),
             ev.RoleChanged(member_id=4, role=Role.SPEAKER),
             ev.MuteChanged(member_id=4, self_muted=True, mod_muted=False),
             ev.PresenceChanged(member_id=4, connected=False), ev.MemberLeft(member_id=4)]
    for i, event in enumerate(chain, start=1):
        snap = ev.apply(snap, envelope(event, seq=i))
    assert snap == base(len(chain))
    with pytest.raises(ev.SequenceGap):
        ev.apply(snap, envelope(chain[0], seq=len(chain)))


# --- the wire format -----------------------------------------------------------------------


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=lambda e: e.type)
def test_round_trip_through_the_frame(event: ev.RoomEvent) -> None:
    original = envelope(event, seq=42)
    frame = encode_event(original)
    data = json.loads(frame)
    assert data["type"] == "room.event"
    assert frame.startswith('{"type":"room.event",')
    assert set(data) == {"type", "room_id", "seq", "at", "event"}
    assert (data["room_id"], data["seq"]) == (ROOM_ID, 42)
    assert data["event"]["type"] == event.type
    decoded = decode_event(frame)
    assert decoded == original
    assert type(decoded.event) is type(event)
    assert encode_event(decoded) == frame


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=lambda e: e.type)
def test_frames_validate_against_the_schema(event: ev.RoomEvent) -> None:
    data = json.loads(encode_event(envelope(event)))
    payload = data["event"]
    model = next(t for t in ev.EVENT_TYPES if type_name(t) == payload["type"])
    schema = model.model_json_schema()
    assert set(payload) <= set(schema["properties"])
    assert set(schema.get("required", ())) <= set(payload)
    assert model.model_validate(payload) == event
    assert model.model_validate_json(json.dumps(payload), strict=True) == event
    body = {k: v for k, v in data.items() if k != "type"}
    assert ev.RoomEventEnvelope.model_validate_json(json.dumps(body)) == envelope(event)


@pytest.mark.parametrize("bad", [
    {"type": "member_left"},  # member_id is required
    {"type": "member_left", "member_id": 1, "reason": "kicked"},
    {"type": "mute_changed", "member_id": 1, "self_muted": True},
    {"type": "role_changed", "member_id": 1, "role": "owner"},
    {"type": "speak_invited", "member_id": 1, "by": 2, "extra": True},
    {"type": "room_exploded"},
])
def test_invalid_events_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ev.RoomEventEnvelope.model_validate({"room_id": 1, "seq": 1, "at": AT, "event": bad})


def test_undecodable_frames_raise_value_error() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the hub catches exactly ValueError
        decode_event('{"type":"room.event","room_id":1}')
