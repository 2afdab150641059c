"""apply(): what every room event means, sequence checking, and the wire format of events."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import TypeAdapter, ValidationError

from ruang.domain.rooms import ChatMode, Role, RoomState
from ruang.events import models as ev
from ruang.events.hub import decode_event, encode_event

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
AT = dt.datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
ROOM_ID = 7


def member(mid: int, role: Role = Role.LISTENER, **kw: object) -> ev.MemberView:
    return ev.MemberView(id=mid, username=f"user{mid}", display_name=f"User {mid}", role=role,
                         **kw)


def author(mid: int) -> ev.AuthorView:
    return ev.AuthorView(id=mid, username=f"user{mid}", display_name=f"User {mid}")


HOST = member(1, Role.MODERATOR)
SPEAKER = member(2, Role.SPEAKER, self_muted=True, mod_muted=True)
INVITEE = member(3)  # a listener invited to speak
HAND = member(4)     # a listener with a raised hand
HAND2 = member(5)
AUDIENCE = 12        # listeners present, counted but not listed


def base(seq: int = 5) -> ev.RoomSnapshot:
    room = ev.RoomView(id=ROOM_ID, title="Radio", description="d", state=RoomState.LIVE,
                       host_id=1, created_at=T0, started_at=T0)
    return ev.RoomSnapshot(room=room, stage=[HOST, SPEAKER], hands=[HAND, HAND2],
                           invited=[INVITEE], audience_count=AUDIENCE, seq=seq)


def scheduled(seq: int = 5) -> ev.RoomSnapshot:
    room = ev.RoomView(id=ROOM_ID, title="Later", state=RoomState.SCHEDULED, host_id=1,
                       created_at=T0, scheduled_for=T0 + dt.timedelta(days=1))
    return ev.RoomSnapshot(room=room, stage=[], seq=seq)


def envelope(event: object, seq: int = 6) -> ev.RoomEventEnvelope:
    return ev.RoomEventEnvelope.model_validate({"room_id": ROOM_ID, "seq": seq, "at": AT,
                                                "event": event})


def lists(snap: ev.RoomSnapshot) -> tuple[list[int], list[int], list[int], int]:
    """(stage ids, hands ids, invited ids, audience count)."""
    return ([m.id for m in snap.stage], [m.id for m in snap.hands],
            [m.id for m in snap.invited], snap.audience_count)


# One example of every event type (more variants follow for the ones with options).
SAMPLES: dict[str, list[ev.RoomEvent]] = {
    "member_joined": [ev.MemberJoined(member=member(6, Role.MODERATOR)),
                      ev.MemberJoined(member=HOST.model_copy(update={"connected": False}))],
    "member_left": [ev.MemberLeft(member_id=2), ev.MemberLeft(member_id=4, reason="timeout"),
                    ev.MemberLeft(member_id=1, reason="room_ended")],
    "presence_changed": [ev.PresenceChanged(member_id=2, connected=False),
                         ev.PresenceChanged(member_id=2, connected=True)],
    "role_changed": [ev.RoleChanged(member=INVITEE.model_copy(update={"role": Role.SPEAKER})),
                     ev.RoleChanged(member=member(2), by=1),
                     ev.RoleChanged(member=SPEAKER.model_copy(update={"role": Role.MODERATOR}),
                                    by=1)],
    "speak_invited": [ev.SpeakInvited(member=HAND, by=1)],
    "invite_declined": [ev.InviteDeclined(member_id=3)],
    "hand_raised": [ev.HandRaised(member=member(6))],
    "hand_lowered": [ev.HandLowered(member_id=4), ev.HandLowered(member_id=5, by=1)],
    "hands_changed": [ev.HandsChanged(enabled=False, by=1),
                      ev.HandsChanged(enabled=True, by=1)],
    "mute_changed": [ev.MuteChanged(member_id=2, self_muted=False, mod_muted=True, by=1),
                     ev.MuteChanged(member_id=1, self_muted=True, mod_muted=False)],
    "member_removed": [ev.MemberRemoved(member_id=2, by=1)],
    "audience_changed": [ev.AudienceChanged(count=13), ev.AudienceChanged(count=0)],
    "chat_message": [ev.ChatMessage(message_id=31, author=author(4), text="hi 👋\nall")],
    "chat_deleted": [ev.ChatDeleted(message_id=31, by=1)],
    "chat_mode_changed": [ev.ChatModeChanged(mode=ChatMode.SPEAKERS, by=1),
                          ev.ChatModeChanged(mode=ChatMode.OFF, by=1)],
    "reaction": [ev.Reaction(member_id=4, emoji="👏")],
    "room_started": [ev.RoomStarted(by=1)],
    "room_ended": [ev.RoomEnded(by=1), ev.RoomEnded(reason="empty"),
                   ev.RoomEnded(reason="no_moderator")],
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


def test_the_snapshot_finds_listed_members() -> None:
    snap = base()
    assert [snap.member(i) for i in (1, 2, 3, 4, 5)] == [HOST, SPEAKER, INVITEE, HAND, HAND2]
    assert snap.member(99) is None  # a listener in the audience is not listed
    assert snap.on_stage(2) == SPEAKER
    assert snap.on_stage(4) is None


# --- apply, one event type at a time ---------------------------------------------------------


def test_member_joined_appends_to_the_stage() -> None:
    new = member(6, Role.MODERATOR)
    after = ev.apply(base(), envelope(ev.MemberJoined(member=new)))
    assert after.stage == [HOST, SPEAKER, new]
    assert (after.hands, after.invited, after.audience_count) == ([HAND, HAND2], [INVITEE],
                                                                  AUDIENCE)
    assert after.seq == 6
    assert after.room == base().room


def test_member_joined_again_replaces_the_old_entry_and_moves_it_last() -> None:
    again = HOST.model_copy(update={"self_muted": True})
    after = ev.apply(base(), envelope(ev.MemberJoined(member=again)))
    assert after.stage == [SPEAKER, again]


@pytest.mark.parametrize("reason", ["left", "timeout", "room_ended"])
@pytest.mark.parametrize("who", [2, 3, 4])
def test_member_left_takes_them_off_every_list(reason: str, who: int) -> None:
    after = ev.apply(base(), envelope(ev.MemberLeft(member_id=who, reason=reason)))
    stage, hands, invited, audience = lists(base())
    assert lists(after) == ([i for i in stage if i != who], [i for i in hands if i != who],
                            [i for i in invited if i != who], audience)
    assert after.member(who) is None


def test_member_left_for_someone_not_listed_changes_only_seq() -> None:
    after = ev.apply(base(), envelope(ev.MemberLeft(member_id=99)))
    assert after == base(6)


@pytest.mark.parametrize("who", [2, 3, 4])
def test_member_removed_takes_them_off_every_list(who: int) -> None:
    after = ev.apply(base(), envelope(ev.MemberRemoved(member_id=who, by=1)))
    left = ev.apply(base(), envelope(ev.MemberLeft(member_id=who)))
    assert after == left
    assert after.member(who) is None
    # A removed listener who was not listed: nothing to take off.
    assert ev.apply(base(), envelope(ev.MemberRemoved(member_id=99, by=1))) == base(6)


@pytest.mark.parametrize("connected", [False, True])
def test_presence_changed(connected: bool) -> None:
    after = ev.apply(base(), envelope(ev.PresenceChanged(member_id=2, connected=connected)))
    assert after.stage == [HOST, SPEAKER.model_copy(update={"connected": connected})]
    assert after.hands == base().hands


def test_role_changed_to_speaker_moves_an_invitee_on_stage() -> None:
    speaker = INVITEE.model_copy(update={"role": Role.SPEAKER})
    after = ev.apply(base(), envelope(ev.RoleChanged(member=speaker)))
    assert after.stage == [HOST, SPEAKER, speaker]
    assert after.invited == []
    assert after.hands == [HAND, HAND2]
    assert after.member(3) == speaker


def test_role_changed_to_listener_takes_them_off_the_stage() -> None:
    listener = member(2)
    after = ev.apply(base(), envelope(ev.RoleChanged(member=listener, by=1)))
    assert lists(after) == ([1], [4, 5], [3], AUDIENCE)  # counted once announced
    assert after.member(2) is None


def test_role_changed_to_moderator_keeps_the_place_on_stage() -> None:
    promoted = SPEAKER.model_copy(update={"role": Role.MODERATOR})
    after = ev.apply(base(), envelope(ev.RoleChanged(member=promoted, by=1)))
    assert after.stage == [HOST, promoted]
    assert after.member(2) == promoted


def test_role_changed_clears_a_raised_hand() -> None:
    speaker = HAND.model_copy(update={"role": Role.SPEAKER})
    after = ev.apply(base(), envelope(ev.RoleChanged(member=speaker, by=1)))
    assert lists(after) == ([1, 2, 4], [5], [3], AUDIENCE)


def test_speak_invited_lowers_the_hand_and_lists_the_invitation() -> None:
    after = ev.apply(base(), envelope(ev.SpeakInvited(member=HAND, by=1)))
    assert after.hands == [HAND2]
    assert after.invited == [INVITEE, HAND]
    assert after.stage == base().stage
    # A listener without a raised hand can be invited too.
    plain = member(6)
    again = ev.apply(after, envelope(ev.SpeakInvited(member=plain, by=1), seq=7))
    assert again.invited == [INVITEE, HAND, plain]


def test_invite_declined() -> None:
    after = ev.apply(base(), envelope(ev.InviteDeclined(member_id=3)))
    assert lists(after) == ([1, 2], [4, 5], [], AUDIENCE)


def test_hand_raised_appends_in_order() -> None:
    new = member(6)
    after = ev.apply(base(), envelope(ev.HandRaised(member=new)))
    assert after.hands == [HAND, HAND2, new]
    again = ev.apply(after, envelope(ev.HandRaised(member=HAND), seq=7))
    assert again.hands == [HAND2, new, HAND]


@pytest.mark.parametrize("by", [None, 1])
def test_hand_lowered(by: int | None) -> None:
    after = ev.apply(base(), envelope(ev.HandLowered(member_id=4, by=by)))
    assert lists(after) == ([1, 2], [5], [3], AUDIENCE)


def test_hands_changed_off_lowers_every_hand_and_on_lowers_none() -> None:
    off = ev.apply(base(), envelope(ev.HandsChanged(enabled=False, by=1)))
    assert off.room == base().room.model_copy(update={"hands_enabled": False})
    assert lists(off) == ([1, 2], [], [3], AUDIENCE)
    on = ev.apply(off, envelope(ev.HandsChanged(enabled=True, by=1), seq=7))
    assert on.room == base().room
    assert on.hands == []


@pytest.mark.parametrize(("self_muted", "mod_muted"),
                         [(False, False), (True, False), (False, True), (True, True)])
def test_mute_changed(self_muted: bool, mod_muted: bool) -> None:
    after = ev.apply(base(), envelope(ev.MuteChanged(member_id=2, self_muted=self_muted,
                                                     mod_muted=mod_muted, by=1)))
    assert after.member(2) == SPEAKER.model_copy(update={"self_muted": self_muted,
                                                         "mod_muted": mod_muted})
    assert after.stage[0] == HOST


@pytest.mark.parametrize("count", [0, 13, 5000])
def test_audience_changed_sets_the_count(count: int) -> None:
    after = ev.apply(base(), envelope(ev.AudienceChanged(count=count)))
    assert after == base(6).model_copy(update={"audience_count": count})


@pytest.mark.parametrize("mode", list(ChatMode))
def test_chat_mode_changed(mode: ChatMode) -> None:
    after = ev.apply(base(), envelope(ev.ChatModeChanged(mode=mode, by=1)))
    assert after == base(6).model_copy(update={
        "room": base().room.model_copy(update={"chat_mode": mode})})


@pytest.mark.parametrize("event", [*SAMPLES["chat_message"], *SAMPLES["chat_deleted"],
                                   *SAMPLES["reaction"]], ids=lambda e: e.type)
def test_chat_and_reactions_are_shown_not_kept(event: ev.RoomEvent) -> None:
    assert ev.apply(base(), envelope(event)) == base(6)


def test_room_started_makes_it_live_at_the_events_time() -> None:
    after = ev.apply(scheduled(), envelope(ev.RoomStarted(by=1)))
    assert after.room == scheduled().room.model_copy(update={"state": RoomState.LIVE,
                                                             "started_at": AT})
    assert lists(after) == ([], [], [], 0)
    assert after.seq == 6


@pytest.mark.parametrize("reason", ["ended", "empty", "no_moderator"])
def test_room_ended_empties_the_room(reason: str) -> None:
    after = ev.apply(base(), envelope(ev.RoomEnded(by=1, reason=reason)))
    assert after.room == base().room.model_copy(update={"state": RoomState.ENDED,
                                                        "ended_at": AT})
    assert lists(after) == ([], [], [], 0)
    assert after.seq == 6


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=lambda e: e.type)
def test_apply_never_changes_its_input(event: ev.RoomEvent) -> None:
    before = base()
    copy = before.model_copy(deep=True)
    after = ev.apply(before, envelope(event))
    assert before == copy
    assert after.seq == before.seq + 1


@pytest.mark.parametrize("event", ALL_SAMPLES, ids=lambda e: e.type)
def test_subject_of(event: ev.RoomEvent) -> None:
    """The member an event is about (the hub uses it to skip events about others)."""
    subject = ev.subject_of(event)
    if isinstance(event, ev.MemberJoined | ev.RoleChanged | ev.SpeakInvited | ev.HandRaised):
        assert subject == event.member.id
    elif isinstance(event, ev.MemberLeft | ev.PresenceChanged | ev.InviteDeclined
                    | ev.HandLowered | ev.MuteChanged | ev.MemberRemoved | ev.Reaction):
        assert subject == event.member_id
    else:
        assert subject is None


# --- sequence numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("event", [samples[0] for samples in SAMPLES.values()],
                         ids=list(SAMPLES))
@pytest.mark.parametrize("seq", [0, 4, 5, 7, 100])
def test_an_event_that_does_not_follow_raises_sequence_gap(event: ev.RoomEvent,
                                                           seq: int) -> None:
    with pytest.raises(ev.SequenceGap):
        ev.apply(base(5), envelope(event, seq=seq))


def test_events_apply_in_a_chain() -> None:
    """A listener's way up and out again, each step undoing the previous one's change."""
    snap = base(0)
    six = member(6)
    chain = [ev.HandRaised(member=six), ev.HandLowered(member_id=6),
             ev.HandRaised(member=six), ev.SpeakInvited(member=six, by=1),
             ev.RoleChanged(member=six.model_copy(update={"role": Role.SPEAKER})),
             ev.MuteChanged(member_id=6, self_muted=True, mod_muted=False),
             ev.PresenceChanged(member_id=6, connected=False),
             ev.ChatMessage(message_id=1, author=author(6), text="bye"),
             ev.Reaction(member_id=6, emoji="👋"),
             ev.RoleChanged(member=six, by=1), ev.AudienceChanged(count=AUDIENCE + 1),
             ev.AudienceChanged(count=AUDIENCE)]
    for i, event in enumerate(chain, start=1):
        snap = ev.apply(snap, envelope(event, seq=i))
    assert snap == base(len(chain))
    with pytest.raises(ev.SequenceGap):
        ev.apply(snap, envelope(chain[0], seq=len(chain)))


def test_a_scheduled_room_from_start_to_end() -> None:
    snap = scheduled(0)
    host = member(1, Role.MODERATOR)
    for i, event in enumerate([ev.RoomStarted(by=1), ev.MemberJoined(member=host),
                               ev.AudienceChanged(count=3), ev.HandRaised(member=member(2)),
                               ev.ChatModeChanged(mode=ChatMode.OFF, by=1),
                               ev.RoomEnded(by=1)], start=1):
        snap = ev.apply(snap, envelope(event, seq=i))
    assert snap.room == scheduled().room.model_copy(update={
        "state": RoomState.ENDED, "started_at": AT, "ended_at": AT,
        "chat_mode": ChatMode.OFF})
    assert lists(snap) == ([], [], [], 0)
    assert snap.seq == 6


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


def test_the_snapshot_round_trips() -> None:
    snap = base()
    assert ev.RoomSnapshot.model_validate_json(snap.model_dump_json()) == snap
    assert set(json.loads(snap.model_dump_json())) == {"room", "stage", "hands", "invited",
                                                       "audience_count", "seq"}


@pytest.mark.parametrize("bad", [
    {"type": "member_left"},  # member_id is required
    {"type": "member_left", "member_id": 1, "reason": "kicked"},
    {"type": "mute_changed", "member_id": 1, "self_muted": True},
    {"type": "role_changed", "member_id": 1, "role": "speaker"},  # the old shape
    {"type": "role_changed", "member": {"id": 1, "username": "u", "display_name": "U",
                                        "role": "owner"}},
    {"type": "speak_invited", "member_id": 1, "by": 2},  # the old shape
    {"type": "speak_invited", "member": {"id": 1, "username": "u", "display_name": "U",
                                         "role": "listener", "invited": True}, "by": 2},
    {"type": "hand_raised", "member_id": 1},
    {"type": "hands_changed", "enabled": False},  # by is required
    {"type": "member_removed", "member_id": 1},
    {"type": "audience_changed"},
    {"type": "chat_message", "message_id": 1, "author": {"id": 1, "username": "u"},
     "text": "x"},
    {"type": "chat_mode_changed", "mode": "everyone", "by": 1},
    {"type": "reaction", "member_id": 1},
    {"type": "room_started"},
    {"type": "room_ended", "reason": "bored"},
    {"type": "room_exploded"},
])
def test_invalid_events_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ev.RoomEventEnvelope.model_validate({"room_id": 1, "seq": 1, "at": AT, "event": bad})


def test_undecodable_frames_raise_value_error() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the hub catches exactly ValueError
        decode_event('{"type":"room.event","room_id":1}')
