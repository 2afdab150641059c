"""Room state as clients see it, and the events that change it.

A room's history is a sequence: every event carries the room's next sequence number, written
in the same transaction as the change it describes. ``apply(snapshot, envelope)`` is the one
definition of what an event means; the server's snapshot after the change must equal the old
snapshot with the event applied (tests/integration/test_events.py checks every event type).

What a snapshot holds is what every member of a room needs and can show: the room, the stage
(moderators and speakers), the raised hands in order, the pending invitations to speak, and
the size of the audience. Listeners themselves are not listed (a room may hold thousands; see
``GET /api/v1/rooms/{id}/audience``): a listener joining or leaving is not an event, and the
audience count is announced as it changes, at most every couple of seconds
(``audience_changed``). Chat messages and reactions are events but not state: a client shows
them as they come, and reads earlier messages with ``GET /api/v1/rooms/{id}/chat``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ruang.domain.rooms import ChatMode, Role, RoomKind, RoomState


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberView(_Model):
    id: int
    username: str
    display_name: str
    avatar_url: str | None = None
    role: Role
    self_muted: bool = False
    mod_muted: bool = False
    connected: bool = True


class AuthorView(_Model):
    id: int
    username: str
    display_name: str
    avatar_url: str | None = None


class RoomView(_Model):
    id: int
    title: str
    description: str = ""
    kind: RoomKind = RoomKind.OPEN
    topics: list[str] = []
    state: RoomState
    host_id: int
    cohost_ids: list[int] = []
    created_at: dt.datetime
    scheduled_for: dt.datetime | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    chat_mode: ChatMode = ChatMode.OPEN
    hands_enabled: bool = True


class RoomSnapshot(_Model):
    room: RoomView
    stage: list[MemberView]       # moderators and speakers, in the order they came on stage
    hands: list[MemberView] = []  # listeners with a raised hand, in the order they raised it
    invited: list[MemberView] = []  # listeners invited to speak who have not answered
    audience_count: int = 0       # listeners present (announced as it changes)
    seq: int

    def member(self, member_id: int) -> MemberView | None:
        """A member the snapshot lists (on stage, with a hand up, or invited)."""
        for group in (self.stage, self.hands, self.invited):
            for m in group:
                if m.id == member_id:
                    return m
        return None

    def on_stage(self, member_id: int) -> MemberView | None:
        return next((m for m in self.stage if m.id == member_id), None)


class MemberJoined(_Model):
    """A host or co-host came in: they go straight on stage as a moderator."""

    type: Literal["member_joined"] = "member_joined"
    member: MemberView


class MemberLeft(_Model):
    """Someone listed in the snapshot left (listeners without a hand up leave quietly)."""

    type: Literal["member_left"] = "member_left"
    member_id: int
    reason: Literal["left", "timeout", "room_ended"] = "left"


class PresenceChanged(_Model):
    """Someone on stage lost their connection (they keep their place for a grace period) or
    came back."""

    type: Literal["presence_changed"] = "presence_changed"
    member_id: int
    connected: bool


class RoleChanged(_Model):
    type: Literal["role_changed"] = "role_changed"
    member: MemberView  # with the new role
    by: int | None = None


class SpeakInvited(_Model):
    type: Literal["speak_invited"] = "speak_invited"
    member: MemberView
    by: int


class InviteDeclined(_Model):
    type: Literal["invite_declined"] = "invite_declined"
    member_id: int


class HandRaised(_Model):
    type: Literal["hand_raised"] = "hand_raised"
    member: MemberView


class HandLowered(_Model):
    type: Literal["hand_lowered"] = "hand_lowered"
    member_id: int
    by: int | None = None


class HandsChanged(_Model):
    """Raised hands were turned on or off (off lowers every hand)."""

    type: Literal["hands_changed"] = "hands_changed"
    enabled: bool
    by: int


class MuteChanged(_Model):
    type: Literal["mute_changed"] = "mute_changed"
    member_id: int
    self_muted: bool
    mod_muted: bool
    by: int | None = None


class MemberRemoved(_Model):
    """A moderator removed someone from the room; they cannot come back to it."""

    type: Literal["member_removed"] = "member_removed"
    member_id: int
    by: int


class AudienceChanged(_Model):
    type: Literal["audience_changed"] = "audience_changed"
    count: int


class ChatMessage(_Model):
    type: Literal["chat_message"] = "chat_message"
    message_id: int
    author: AuthorView
    text: str


class ChatDeleted(_Model):
    type: Literal["chat_deleted"] = "chat_deleted"
    message_id: int
    by: int


class ChatModeChanged(_Model):
    type: Literal["chat_mode_changed"] = "chat_mode_changed"
    mode: ChatMode
    by: int


class Reaction(_Model):
    type: Literal["reaction"] = "reaction"
    member_id: int
    emoji: str


class RoomStarted(_Model):
    """A scheduled room went live."""

    type: Literal["room_started"] = "room_started"
    by: int


class RoomEnded(_Model):
    type: Literal["room_ended"] = "room_ended"
    by: int | None = None
    reason: Literal["ended", "empty", "no_moderator"] = "ended"


RoomEvent = Annotated[
    MemberJoined | MemberLeft | PresenceChanged | RoleChanged | SpeakInvited | InviteDeclined
    | HandRaised | HandLowered | HandsChanged | MuteChanged | MemberRemoved | AudienceChanged
    | ChatMessage | ChatDeleted | ChatModeChanged | Reaction | RoomStarted | RoomEnded,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[_Model], ...] = (
    MemberJoined, MemberLeft, PresenceChanged, RoleChanged, SpeakInvited, InviteDeclined,
    HandRaised, HandLowered, HandsChanged, MuteChanged, MemberRemoved, AudienceChanged,
    ChatMessage, ChatDeleted, ChatModeChanged, Reaction, RoomStarted, RoomEnded)


class RoomEventEnvelope(_Model):
    room_id: int
    seq: int
    at: dt.datetime
    event: RoomEvent


def subject_of(event: RoomEvent) -> int | None:
    """The member an event is about, or None for events about the whole room."""
    member = getattr(event, "member", None)
    if member is not None:
        return int(member.id)
    member_id = getattr(event, "member_id", None)
    return int(member_id) if member_id is not None else None


class SequenceGap(Exception):
    """An event does not follow the snapshot it is applied to."""


def _without(members: list[MemberView], member_id: int) -> list[MemberView]:
    return [m for m in members if m.id != member_id]


def _replace(members: list[MemberView], member_id: int, **changes: object) -> list[MemberView]:
    return [m.model_copy(update=changes) if m.id == member_id else m for m in members]


def apply(snapshot: RoomSnapshot, envelope: RoomEventEnvelope) -> RoomSnapshot:
    """The snapshot after this event. Raises SequenceGap unless seq is the next one."""
    if envelope.seq != snapshot.seq + 1:
        raise SequenceGap(f"event {envelope.seq} does not follow snapshot {snapshot.seq}")
    ev = envelope.event
    room, stage = snapshot.room, list(snapshot.stage)
    hands, invited = list(snapshot.hands), list(snapshot.invited)
    audience = snapshot.audience_count
    if isinstance(ev, MemberJoined):
        stage = [*_without(stage, ev.member.id), ev.member]
    elif isinstance(ev, MemberLeft | MemberRemoved):
        stage, hands, invited = (_without(g, ev.member_id) for g in (stage, hands, invited))
    elif isinstance(ev, PresenceChanged):
        stage = _replace(stage, ev.member_id, connected=ev.connected)
    elif isinstance(ev, RoleChanged):
        hands, invited = _without(hands, ev.member.id), _without(invited, ev.member.id)
        if ev.member.role is Role.LISTENER:
            stage = _without(stage, ev.member.id)
        elif any(m.id == ev.member.id for m in stage):
            stage = [ev.member if m.id == ev.member.id else m for m in stage]
        else:
            stage.append(ev.member)
    elif isinstance(ev, SpeakInvited):
        hands = _without(hands, ev.member.id)
        invited = [*_without(invited, ev.member.id), ev.member]
    elif isinstance(ev, InviteDeclined):
        invited = _without(invited, ev.member_id)
    elif isinstance(ev, HandRaised):
        hands = [*_without(hands, ev.member.id), ev.member]
    elif isinstance(ev, HandLowered):
        hands = _without(hands, ev.member_id)
    elif isinstance(ev, HandsChanged):
        room = room.model_copy(update={"hands_enabled": ev.enabled})
        if not ev.enabled:
            hands = []
    elif isinstance(ev, MuteChanged):
        stage = _replace(stage, ev.member_id, self_muted=ev.self_muted, mod_muted=ev.mod_muted)
    elif isinstance(ev, AudienceChanged):
        audience = ev.count
    elif isinstance(ev, ChatModeChanged):
        room = room.model_copy(update={"chat_mode": ev.mode})
    elif isinstance(ev, RoomStarted):
        room = room.model_copy(update={"state": RoomState.LIVE, "started_at": envelope.at})
    elif isinstance(ev, RoomEnded):
        room = room.model_copy(update={"state": RoomState.ENDED, "ended_at": envelope.at})
        stage, hands, invited, audience = [], [], [], 0
    # ChatMessage, ChatDeleted and Reaction are shown, not kept.
    return RoomSnapshot(room=room, stage=stage, hands=hands, invited=invited,
                        audience_count=audience, seq=envelope.seq)
