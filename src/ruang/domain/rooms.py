"""Pure room rules: roles, the room lifecycle, and who may do what to whom. No I/O.

Every permission decision in Ruang is :func:`decide`; the actions layer calls it before it
writes, and the API exposes :func:`allowed_actions` so clients show only what will work.
The table in :data:`RULES` is walked exhaustively by tests/unit/test_permissions.py.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Role(enum.StrEnum):
    MODERATOR = "moderator"
    SPEAKER = "speaker"
    LISTENER = "listener"


ON_STAGE = frozenset({Role.MODERATOR, Role.SPEAKER})


class RoomState(enum.StrEnum):
    LIVE = "live"
    ENDED = "ended"


class IllegalTransition(Exception):
    """A room lifecycle change that the state machine does not allow."""


_ROOM_TRANSITIONS = {RoomState.LIVE: {RoomState.ENDED}, RoomState.ENDED: set()}


def transition(current: RoomState, new: RoomState) -> RoomState:
    if new not in _ROOM_TRANSITIONS[current]:
        raise IllegalTransition(f"room cannot go from {current} to {new}")
    return new


@dataclass(frozen=True, slots=True)
class Seat:
    """A present member's place in a room, as the rules see it."""

    role: Role
    self_muted: bool = False
    mod_muted: bool = False
    invited: bool = False

    @property
    def on_stage(self) -> bool:
        return self.role in ON_STAGE

    @property
    def audible(self) -> bool:
        return self.on_stage and not self.self_muted and not self.mod_muted


class Action(enum.StrEnum):
    INVITE_TO_SPEAK = "invite_to_speak"
    MOVE_TO_AUDIENCE = "move_to_audience"
    MUTE = "mute"
    UNMUTE = "unmute"
    END_ROOM = "end_room"
    ACCEPT_INVITE = "accept_invite"
    DECLINE_INVITE = "decline_invite"
    SELF_MUTE = "self_mute"
    SELF_UNMUTE = "self_unmute"
    LEAVE_STAGE = "leave_stage"


@dataclass(frozen=True, slots=True)
class Denial:
    code: str
    message: str


Rule = Callable[[Seat | None, Seat | None, bool], Denial | None]

_NOT_IN_ROOM = Denial("not_in_room", "you are not in this room")
_NOT_MOD = Denial("not_a_moderator", "only a moderator of this room can do that")
_TARGET_GONE = Denial("member_not_found", "that member is not in this room")


def _moderator_on(target_ok: Callable[[Seat], Denial | None], *,
                  allow_self: bool = False) -> Rule:
    def rule(actor: Seat | None, target: Seat | None, is_self: bool) -> Denial | None:
        if actor is None:
            return _NOT_IN_ROOM
        if actor.role is not Role.MODERATOR:
            return _NOT_MOD
        if target is None:
            return _TARGET_GONE
        if is_self and not allow_self:
            return Denial("forbidden", "a moderator cannot do that to themselves")
        return target_ok(target)
    return rule


def _target_listener(target: Seat) -> Denial | None:
    if target.role is not Role.LISTENER:
        return Denial("already_on_stage", "that member is already on stage")
    return None


def _target_speaker(target: Seat) -> Denial | None:
    if target.role is not Role.SPEAKER:
        return Denial("not_a_speaker", "only speakers can be moved to the audience")
    return None


def _target_on_stage(target: Seat) -> Denial | None:
    if not target.on_stage:
        return Denial("not_on_stage", "that member is not on stage")
    return None


def _end_room(actor: Seat | None, target: Seat | None, is_self: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    return None if actor.role is Role.MODERATOR else _NOT_MOD


def _invite_answer(actor: Seat | None, target: Seat | None, is_self: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if actor.role is not Role.LISTENER:
        return Denial("already_on_stage", "you are already on stage")
    if not actor.invited:
        return Denial("not_invited", "you have not been invited to speak")
    return None


def _self_mute(actor: Seat | None, target: Seat | None, is_self: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    return None if actor.on_stage else Denial("not_on_stage", "listeners have no microphone")


def _self_unmute(actor: Seat | None, target: Seat | None, is_self: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if not actor.on_stage:
        return Denial("not_on_stage", "listeners cannot speak; raise your hand to be invited")
    if actor.mod_muted:
        return Denial("muted_by_moderator", "a moderator muted you; wait until they allow it")
    return None


def _leave_stage(actor: Seat | None, target: Seat | None, is_self: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if actor.role is not Role.SPEAKER:
        return Denial("not_a_speaker", "only speakers can leave the stage")
    return None


RULES: dict[Action, Rule] = {
    Action.INVITE_TO_SPEAK: _moderator_on(_target_listener),
    Action.MOVE_TO_AUDIENCE: _moderator_on(_target_speaker),
    Action.MUTE: _moderator_on(_target_on_stage),
    Action.UNMUTE: _moderator_on(_target_on_stage),
    Action.END_ROOM: _end_room,
    Action.ACCEPT_INVITE: _invite_answer,
    Action.DECLINE_INVITE: _invite_answer,
    Action.SELF_MUTE: _self_mute,
    Action.SELF_UNMUTE: _self_unmute,
    Action.LEAVE_STAGE: _leave_stage,
}

# Actions a member does to another member (the rest concern only themselves or the room).
TARGETED = frozenset({Action.INVITE_TO_SPEAK, Action.MOVE_TO_AUDIENCE, Action.MUTE,
                      Action.UNMUTE})


def decide(action: Action, actor: Seat | None, target: Seat | None = None, *,
           is_self: bool = False) -> Denial | None:
    """None when allowed; otherwise why not."""
    return RULES[action](actor, target, is_self)


def allowed_actions(actor: Seat | None) -> list[Action]:
    """The actions about themselves or the room that this member may take now."""
    return [a for a in Action if a not in TARGETED and decide(a, actor) is None]


def allowed_on(actor: Seat | None, target: Seat | None, *, is_self: bool) -> list[Action]:
    """The actions this member may take on that member now."""
    return [a for a in Action
            if a in TARGETED and decide(a, actor, target, is_self=is_self) is None]
