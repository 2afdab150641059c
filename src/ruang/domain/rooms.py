"""Pure room rules: roles, kinds, the room lifecycle, and who may do what to whom. No I/O.

Every permission decision about rooms is :func:`decide` (actions on oneself, on the room, or on
another member) or :func:`may_join`; the actions layer calls them before it writes, and the API
returns :func:`allowed_actions` / :func:`allowed_on` so that clients show only what will work.
tests/unit/test_permissions.py walks every action x role x block state x room setting.
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


class RoomKind(enum.StrEnum):
    OPEN = "open"        # any member
    SOCIAL = "social"    # followers of the room's hosts and moderators
    CLOSED = "closed"    # invited members only


class RoomState(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class ChatMode(enum.StrEnum):
    OPEN = "open"          # everyone in the room
    SPEAKERS = "speakers"  # people on stage
    OFF = "off"            # nobody (moderators still can)


class IllegalTransition(Exception):
    """A room lifecycle change that the state machine does not allow."""


_ROOM_TRANSITIONS = {
    RoomState.SCHEDULED: {RoomState.LIVE, RoomState.ENDED},
    RoomState.LIVE: {RoomState.ENDED},
    RoomState.ENDED: set(),
}


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
    hand_raised: bool = False

    @property
    def on_stage(self) -> bool:
        return self.role in ON_STAGE

    @property
    def audible(self) -> bool:
        return self.on_stage and not self.self_muted and not self.mod_muted


@dataclass(frozen=True, slots=True)
class RoomFacts:
    """The room's settings a decision may depend on."""

    hands_enabled: bool = True
    chat_mode: ChatMode = ChatMode.OPEN


class Action(enum.StrEnum):
    # a moderator on another member
    INVITE_TO_SPEAK = "invite_to_speak"
    MOVE_TO_AUDIENCE = "move_to_audience"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    MAKE_MODERATOR = "make_moderator"
    LOWER_HAND = "lower_hand"
    # a member on themselves
    ACCEPT_INVITE = "accept_invite"
    DECLINE_INVITE = "decline_invite"
    SELF_MUTE = "self_mute"
    SELF_UNMUTE = "self_unmute"
    LEAVE_STAGE = "leave_stage"
    RAISE_HAND = "raise_hand"
    LOWER_OWN_HAND = "lower_own_hand"
    CHAT = "chat"
    REACT = "react"
    # a moderator on the room
    END_ROOM = "end_room"
    SET_HANDS = "set_hands"
    SET_CHAT_MODE = "set_chat_mode"
    DELETE_ANY_CHAT = "delete_any_chat"


@dataclass(frozen=True, slots=True)
class Denial:
    code: str
    message: str


Rule = Callable[["Seat | None", "Seat | None", bool, RoomFacts, bool], "Denial | None"]

_NOT_IN_ROOM = Denial("not_in_room", "you are not in this room")
_NOT_MOD = Denial("not_a_moderator", "only a moderator of this room can do that")
_TARGET_GONE = Denial("member_not_found", "that member is not in this room")
_BLOCKED = Denial("blocked", "a block between you and that member prevents it")


def _moderator_on(target_ok: Callable[[Seat], Denial | None], *,
                  contact: bool = False) -> Rule:
    """A moderator acting on another present member. ``contact`` actions (asking them on
    stage, handing them moderation) are refused across a block; moderation itself is not."""
    def rule(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
             blocked: bool) -> Denial | None:
        if actor is None:
            return _NOT_IN_ROOM
        if actor.role is not Role.MODERATOR:
            return _NOT_MOD
        if target is None:
            return _TARGET_GONE
        if is_self:
            return Denial("forbidden", "a moderator cannot do that to themselves")
        if contact and blocked:
            return _BLOCKED
        return target_ok(target)
    return rule


def _target_listener(target: Seat) -> Denial | None:
    if target.role is not Role.LISTENER:
        return Denial("already_on_stage", "that member is already on stage")
    return None


def _target_speaker(target: Seat) -> Denial | None:
    if target.role is not Role.SPEAKER:
        return Denial("not_a_speaker", "only speakers can be moved to the audience or "
                      "made moderators")
    return None


def _target_on_stage(target: Seat) -> Denial | None:
    if not target.on_stage:
        return Denial("not_on_stage", "that member is not on stage")
    return None


def _target_not_moderator(target: Seat) -> Denial | None:
    if target.role is Role.MODERATOR:
        return Denial("forbidden", "a moderator cannot remove another moderator")
    return None


def _target_hand_up(target: Seat) -> Denial | None:
    if not target.hand_raised:
        return Denial("hand_not_raised", "that member's hand is not raised")
    return None


def _room_moderator(actor: Seat | None, target: Seat | None, is_self: bool,
                    room: RoomFacts, blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    return None if actor.role is Role.MODERATOR else _NOT_MOD


def _invite_answer(actor: Seat | None, target: Seat | None, is_self: bool,
                   room: RoomFacts, blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if actor.role is not Role.LISTENER:
        return Denial("already_on_stage", "you are already on stage")
    if not actor.invited:
        return Denial("not_invited", "you have not been invited to speak")
    return None


def _self_mute(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
               blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    return None if actor.on_stage else Denial("not_on_stage", "listeners have no microphone")


def _self_unmute(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
                 blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if not actor.on_stage:
        return Denial("not_on_stage", "listeners cannot speak; raise your hand to be invited")
    if actor.mod_muted:
        return Denial("muted_by_moderator", "a moderator muted you; wait until they allow it")
    return None


def _leave_stage(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
                 blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if actor.role is not Role.SPEAKER:
        return Denial("not_a_speaker", "only speakers can leave the stage")
    return None


def _raise_hand(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
                blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if actor.role is not Role.LISTENER:
        return Denial("already_on_stage", "you are already on stage")
    if not room.hands_enabled:
        return Denial("hands_off", "the moderators turned raised hands off")
    if actor.invited:
        return Denial("already_invited", "you are already invited to speak: accept or decline")
    return None


def _lower_own_hand(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
                    blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if not actor.hand_raised:
        return Denial("hand_not_raised", "your hand is not raised")
    return None


def _chat(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
          blocked: bool) -> Denial | None:
    if actor is None:
        return _NOT_IN_ROOM
    if actor.role is Role.MODERATOR:
        return None
    if room.chat_mode is ChatMode.OFF:
        return Denial("chat_off", "the moderators turned the chat off")
    if room.chat_mode is ChatMode.SPEAKERS and not actor.on_stage:
        return Denial("chat_speakers_only", "only people on stage can write in the chat now")
    return None


def _react(actor: Seat | None, target: Seat | None, is_self: bool, room: RoomFacts,
           blocked: bool) -> Denial | None:
    return _NOT_IN_ROOM if actor is None else None


RULES: dict[Action, Rule] = {
    Action.INVITE_TO_SPEAK: _moderator_on(_target_listener, contact=True),
    Action.MOVE_TO_AUDIENCE: _moderator_on(_target_speaker),
    Action.MUTE: _moderator_on(_target_on_stage),
    Action.UNMUTE: _moderator_on(_target_on_stage),
    Action.REMOVE: _moderator_on(_target_not_moderator),
    Action.MAKE_MODERATOR: _moderator_on(_target_speaker, contact=True),
    Action.LOWER_HAND: _moderator_on(_target_hand_up),
    Action.ACCEPT_INVITE: _invite_answer,
    Action.DECLINE_INVITE: _invite_answer,
    Action.SELF_MUTE: _self_mute,
    Action.SELF_UNMUTE: _self_unmute,
    Action.LEAVE_STAGE: _leave_stage,
    Action.RAISE_HAND: _raise_hand,
    Action.LOWER_OWN_HAND: _lower_own_hand,
    Action.CHAT: _chat,
    Action.REACT: _react,
    Action.END_ROOM: _room_moderator,
    Action.SET_HANDS: _room_moderator,
    Action.SET_CHAT_MODE: _room_moderator,
    Action.DELETE_ANY_CHAT: _room_moderator,
}

# Actions a member does to another member (the rest concern themselves or the room).
TARGETED = frozenset({Action.INVITE_TO_SPEAK, Action.MOVE_TO_AUDIENCE, Action.MUTE,
                      Action.UNMUTE, Action.REMOVE, Action.MAKE_MODERATOR,
                      Action.LOWER_HAND})


def decide(action: Action, actor: Seat | None, target: Seat | None = None, *,
           is_self: bool = False, room: RoomFacts | None = None,
           blocked: bool = False) -> Denial | None:
    """None when allowed; otherwise why not. ``blocked``: either member blocked the other."""
    return RULES[action](actor, target, is_self, room or RoomFacts(), blocked)


def allowed_actions(actor: Seat | None, room: RoomFacts | None = None) -> list[Action]:
    """The actions about themselves or the room that this member may take now."""
    return [a for a in Action if a not in TARGETED and decide(a, actor, room=room) is None]


def allowed_on(actor: Seat | None, target: Seat | None, *, is_self: bool,
               blocked: bool = False) -> list[Action]:
    """The actions this member may take on that member now."""
    return [a for a in Action
            if a in TARGETED and decide(a, actor, target, is_self=is_self,
                                        blocked=blocked) is None]


# --- joining --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinFacts:
    """What decides whether a member may enter a room."""

    state: RoomState
    kind: RoomKind
    is_host: bool = False            # the host or a co-host
    follows_a_host: bool = False     # follows the host, a co-host or a present moderator
    invited_to_room: bool = False    # on a closed room's list
    removed: bool = False            # a moderator removed them from this room
    blocked_by_host: bool = False    # the host or a present moderator blocked them


def may_join(facts: JoinFacts) -> Denial | None:
    if facts.state is RoomState.ENDED:
        return Denial("room_ended", "this room has ended")
    if facts.state is RoomState.SCHEDULED:
        return Denial("room_not_started", "this room has not started yet")
    if facts.removed:
        return Denial("removed_from_room", "a moderator removed you from this room")
    if facts.blocked_by_host:
        return Denial("blocked", "you cannot join this room")
    if facts.is_host:
        return None
    if facts.kind is RoomKind.SOCIAL and not facts.follows_a_host:
        return Denial("not_following", "this room is for the followers of its hosts")
    if facts.kind is RoomKind.CLOSED and not facts.invited_to_room:
        return Denial("room_closed", "this room is for invited members only")
    return None


def may_see(facts: JoinFacts) -> bool:
    """Whether the room shows in this member's hallway (scheduled rooms included)."""
    if facts.state is RoomState.ENDED or facts.removed or facts.blocked_by_host:
        return False
    live = JoinFacts(RoomState.LIVE, facts.kind, facts.is_host, facts.follows_a_host,
                     facts.invited_to_room, facts.removed, facts.blocked_by_host)
    return may_join(live) is None
