"""Room state as clients see it, and the events that change it.

A room's history is a sequence: every event carries the room's next sequence number, written
in the same transaction as the change it describes. ``apply(snapshot, envelope)`` is the one
definition of what an event means; the server's snapshot after the change must equal the old
snapshot with the event applied (tests/integration/test_events.py checks every event type).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ruang.domain.rooms import Role, RoomState


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberView(_Model):
    id: int
    username: str
    display_name: str
    role: Role
    self_muted: bool = False
    mod_muted: bool = False
    invited: bool = False
    connected: bool = True


class RoomView(_Model):
    id: int
    title: str
    description: str = ""
    state: RoomState
    host_id: int
    created_at: dt.datetime
    ended_at: dt.datetime | None = None


class RoomSnapshot(_Model):
    room: RoomView
    members: list[MemberView]
    seq: int

    def member(self, member_id: int) -> MemberView | None:
        return next((m for m in self.members if m.id == member_id), None)


class MemberJoined(_Model):
    type: Literal["member_joined"] = "member_joined"
    member: MemberView


class MemberLeft(_Model):
    type: Literal["member_left"] = "member_left"
    member_id: int
    reason: Literal["left", "timeout", "room_ended"] = "left"


class PresenceChanged(_Model):
    """A member's connection dropped (they keep their place for a grace period) or came back."""

    type: Literal["presence_changed"] = "presence_changed"
    member_id: int
    connected: bool


class RoleChanged(_Model):
    type: Literal["role_changed"] = "role_changed"
    member_id: int
    role: Role
    by: int | None = None


class SpeakInvited(_Model):
    type: Literal["speak_invited"] = "speak_invited"
    member_id: int
    by: int


class InviteDeclined(_Model):
    type: Literal["invite_declined"] = "invite_declined"
    member_id: int


class MuteChanged(_Model):
    type: Literal["mute_changed"] = "mute_changed"
    member_id: int
    self_muted: bool
    mod_muted: bool
    by: int | None = None


class RoomEnded(_Model):
    type: Literal["room_ended"] = "room_ended"
    by: int | None = None
    reason: Literal["ended", "empty"] = "ended"


RoomEvent = Annotated[
    MemberJoined | MemberLeft | PresenceChanged | RoleChanged | SpeakInvited | InviteDeclined
    | MuteChanged | RoomEnded,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[_Model], ...] = (MemberJoined, MemberLeft, PresenceChanged, RoleChanged,
                                         SpeakInvited, InviteDeclined, MuteChanged, RoomEnded)


class RoomEventEnvelope(_Model):
    room_id: int
    seq: int
    at: dt.datetime
    event: RoomEvent


class SequenceGap(Exception):
    """An event does not follow the snapshot it is applied to."""


def _replace(members: list[MemberView], member_id: int, **changes: object) -> list[MemberView]:
    return [m.model_copy(update=changes) if m.id == member_id else m for m in members]


def apply(snapshot: RoomSnapshot, envelope: RoomEventEnvelope) -> RoomSnapshot:
    """The snapshot after this event. Raises SequenceGap unless seq is the next one."""
    if envelope.seq != snapshot.seq + 1:
        raise SequenceGap(f"event {envelope.seq} does not follow snapshot {snapshot.seq}")
    ev = envelope.event
    members = list(snapshot.members)
    room = snapshot.room
    if isinstance(ev, MemberJoined):
        members = [m for m in members if m.id != ev.member.id] + [ev.member]
    elif isinstance(ev, MemberLeft):
        members = [m for m in members if m.id != ev.member_id]
    elif isinstance(ev, PresenceChanged):
        members = _replace(members, ev.member_id, connected=ev.connected)
    elif isinstance(ev, RoleChanged):
        changes: dict[str, object] = {"role": ev.role, "invited": False}
        if ev.role is Role.LISTENER:
            changes.update(self_muted=False, mod_muted=False)
        members = _replace(members, ev.member_id, **changes)
    elif isinstance(ev, SpeakInvited):
        members = _replace(members, ev.member_id, invited=True)
    elif isinstance(ev, InviteDeclined):
        members = _replace(members, ev.member_id, invited=False)
    elif isinstance(ev, MuteChanged):
        members = _replace(members, ev.member_id, self_muted=ev.self_muted,
                           mod_muted=ev.mod_muted)
    elif isinstance(ev, RoomEnded):
        room = room.model_copy(update={"state": RoomState.ENDED, "ended_at": envelope.at})
        members = []
    return RoomSnapshot(room=room, members=members, seq=envelope.seq)
