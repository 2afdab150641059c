"""Every permission decision, walked exhaustively against one explicit statement of the policy.

The policy is written out below as tables (the one place that says who may do what to whom):
who may act on themselves or the room, per actor seat and room setting; what a moderator may do
to whom, per target seat, with and without a block between the two; and who may enter a room.
The tests walk every Action x actor seat x target seat (plus "yourself") x block x room
setting through :func:`ruang.domain.rooms.decide`, and every JoinFacts through
:func:`ruang.domain.rooms.may_join`, and compare with the tables, code for code.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest

from ruang.domain.rooms import (
    RULES,
    TARGETED,
    Action,
    ChatMode,
    IllegalTransition,
    JoinFacts,
    Role,
    RoomFacts,
    RoomKind,
    RoomState,
    Seat,
    allowed_actions,
    allowed_on,
    decide,
    may_join,
    may_see,
    transition,
)

# --- the seats and the rooms ----------------------------------------------------------------

SEATS: dict[str, Seat | None] = {
    "absent": None,  # not (or no longer) in the room
    "listener": Seat(Role.LISTENER),
    "hand_up": Seat(Role.LISTENER, hand_raised=True),
    "invited": Seat(Role.LISTENER, invited=True),
    "speaker": Seat(Role.SPEAKER),
    "self_muted": Seat(Role.SPEAKER, self_muted=True),
    "mod_muted": Seat(Role.SPEAKER, mod_muted=True),
    "moderator": Seat(Role.MODERATOR),
    "muted_mod": Seat(Role.MODERATOR, mod_muted=True),  # a moderator another one muted
}
ACTORS = tuple(SEATS)
# Targets are the same seats, plus "self": the actor aiming at their own seat.
TARGETS = (*SEATS, "self")
MODERATORS = ("moderator", "muted_mod")

# The room settings a decision may depend on: raised hands on or off, the chat's mode.
ROOMS: dict[str, RoomFacts] = {
    f"hands_{'on' if hands else 'off'}-chat_{mode.value}": RoomFacts(hands, mode)
    for hands in (True, False) for mode in ChatMode}
BLOCKS = (False, True)  # a block (either way) between the actor and the target

# --- the policy -----------------------------------------------------------------------------

OK = None
NOT_IN_ROOM = "not_in_room"
NOT_MOD = "not_a_moderator"
GONE = "member_not_found"
FORBIDDEN = "forbidden"
BLOCKED = "blocked"
ON_STAGE = "already_on_stage"
NOT_SPEAKER = "not_a_speaker"
NOT_ON_STAGE = "not_on_stage"
NOT_INVITED = "not_invited"
INVITED = "already_invited"
MOD_MUTED = "muted_by_moderator"
HAND_DOWN = "hand_not_raised"
HANDS_OFF = "hands_off"
CHAT_OFF = "chat_off"
STAGE_CHAT = "chat_speakers_only"

# When a row of OWN_POLICY applies: in any room, or only with this setting.
ANY = "any room"
HANDS_ON, HANDS_OFF_ROOM = "hands on", "hands off"
CHAT_OPEN, CHAT_SPEAKERS, CHAT_CLOSED = "chat open", "chat speakers", "chat off"


def room_matches(condition: str, room: RoomFacts) -> bool:
    return {ANY: True, HANDS_ON: room.hands_enabled, HANDS_OFF_ROOM: not room.hands_enabled,
            CHAT_OPEN: room.chat_mode is ChatMode.OPEN,
            CHAT_SPEAKERS: room.chat_mode is ChatMode.SPEAKERS,
            CHAT_CLOSED: room.chat_mode is ChatMode.OFF}[condition]


# Actions about yourself or the room (no target; a block changes nothing): the outcome per
# actor seat, in the rooms the row names.
OWN_POLICY: dict[tuple[Action, str], dict[str, str | None]] = {
    key: dict(zip(ACTORS, row, strict=True)) for key, row in {
        #                                  absent       listener      hand_up       invited       speaker       self_muted    mod_muted     moderator    muted_mod  # noqa: E501
        (Action.ACCEPT_INVITE, ANY):       (NOT_IN_ROOM, NOT_INVITED,  NOT_INVITED,  OK,           ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE,    ON_STAGE),  # noqa: E501
        (Action.DECLINE_INVITE, ANY):      (NOT_IN_ROOM, NOT_INVITED,  NOT_INVITED,  OK,           ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE,    ON_STAGE),  # noqa: E501
        (Action.SELF_MUTE, ANY):           (NOT_IN_ROOM, NOT_ON_STAGE, NOT_ON_STAGE, NOT_ON_STAGE, OK,           OK,           OK,           OK,          OK),  # noqa: E501
        (Action.SELF_UNMUTE, ANY):         (NOT_IN_ROOM, NOT_ON_STAGE, NOT_ON_STAGE, NOT_ON_STAGE, OK,           OK,           MOD_MUTED,    OK,          MOD_MUTED),  # noqa: E501
        (Action.LEAVE_STAGE, ANY):         (NOT_IN_ROOM, NOT_SPEAKER,  NOT_SPEAKER,  NOT_SPEAKER,  OK,           OK,           OK,           NOT_SPEAKER, NOT_SPEAKER),  # noqa: E501
        # Raising a hand again is harmless; an invited listener answers the invitation instead.
        (Action.RAISE_HAND, HANDS_ON):     (NOT_IN_ROOM, OK,           OK,           INVITED,      ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE,    ON_STAGE),  # noqa: E501
        (Action.RAISE_HAND, HANDS_OFF_ROOM): (NOT_IN_ROOM, HANDS_OFF,  HANDS_OFF,    HANDS_OFF,    ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE,    ON_STAGE),  # noqa: E501
        (Action.LOWER_OWN_HAND, ANY):      (NOT_IN_ROOM, HAND_DOWN,    OK,           HAND_DOWN,    HAND_DOWN,    HAND_DOWN,    HAND_DOWN,    HAND_DOWN,   HAND_DOWN),  # noqa: E501
        # Moderators may always write in the chat.
        (Action.CHAT, CHAT_OPEN):          (NOT_IN_ROOM, OK,           OK,           OK,           OK,           OK,           OK,           OK,          OK),  # noqa: E501
        (Action.CHAT, CHAT_SPEAKERS):      (NOT_IN_ROOM, STAGE_CHAT,   STAGE_CHAT,   STAGE_CHAT,   OK,           OK,           OK,           OK,          OK),  # noqa: E501
        (Action.CHAT, CHAT_CLOSED):        (NOT_IN_ROOM, CHAT_OFF,     CHAT_OFF,     CHAT_OFF,     CHAT_OFF,     CHAT_OFF,     CHAT_OFF,     OK,          OK),  # noqa: E501
        (Action.REACT, ANY):               (NOT_IN_ROOM, OK,           OK,           OK,           OK,           OK,           OK,           OK,          OK),  # noqa: E501
        (Action.END_ROOM, ANY):            (NOT_IN_ROOM, NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      OK,          OK),  # noqa: E501
        (Action.SET_HANDS, ANY):           (NOT_IN_ROOM, NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      OK,          OK),  # noqa: E501
        (Action.SET_CHAT_MODE, ANY):       (NOT_IN_ROOM, NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      OK,          OK),  # noqa: E501
        (Action.DELETE_ANY_CHAT, ANY):     (NOT_IN_ROOM, NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      OK,          OK),  # noqa: E501
    }.items()
}
OWN_ACTIONS = {action for action, _ in OWN_POLICY}

# Actions on another member. Only a present moderator may take them at all (absent actors get
# not_in_room, everyone else not_a_moderator, whatever the target, block or room); for a
# moderator the outcome depends on the target's seat, never on the room's settings:
MODERATOR_ON: dict[Action, dict[str, str | None]] = {
    action: dict(zip(TARGETS, row, strict=True)) for action, row in {
        #                        absent listener      hand_up       invited       speaker       self_muted    mod_muted     moderator    muted_mod    self  # noqa: E501
        Action.INVITE_TO_SPEAK:  (GONE, OK,           OK,           OK,           ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE,    ON_STAGE,    FORBIDDEN),  # noqa: E501
        Action.MOVE_TO_AUDIENCE: (GONE, NOT_SPEAKER,  NOT_SPEAKER,  NOT_SPEAKER,  OK,           OK,           OK,           NOT_SPEAKER, NOT_SPEAKER, FORBIDDEN),  # noqa: E501
        Action.MUTE:             (GONE, NOT_ON_STAGE, NOT_ON_STAGE, NOT_ON_STAGE, OK,           OK,           OK,           OK,          OK,          FORBIDDEN),  # noqa: E501
        Action.UNMUTE:           (GONE, NOT_ON_STAGE, NOT_ON_STAGE, NOT_ON_STAGE, OK,           OK,           OK,           OK,          OK,          FORBIDDEN),  # noqa: E501
        Action.REMOVE:           (GONE, OK,           OK,           OK,           OK,           OK,           OK,           FORBIDDEN,   FORBIDDEN,   FORBIDDEN),  # noqa: E501
        Action.MAKE_MODERATOR:   (GONE, NOT_SPEAKER,  NOT_SPEAKER,  NOT_SPEAKER,  OK,           OK,           OK,           NOT_SPEAKER, NOT_SPEAKER, FORBIDDEN),  # noqa: E501
        Action.LOWER_HAND:       (GONE, HAND_DOWN,    OK,           HAND_DOWN,    HAND_DOWN,    HAND_DOWN,    HAND_DOWN,    HAND_DOWN,   HAND_DOWN,   FORBIDDEN),  # noqa: E501
    }.items()
}

# Across a block, a moderator still moderates (moves, mutes, removes, lowers hands: the rows
# above hold unchanged), but does not reach out: no asking the member on stage, no handing them
# moderation. (Nobody blocks themselves: "self" stays forbidden.)
MODERATOR_ON_BLOCKED: dict[Action, dict[str, str | None]] = {
    action: dict(zip(TARGETS, row, strict=True)) for action, row in {
        #                        absent listener hand_up  invited  speaker  self_muted mod_muted moderator muted_mod self  # noqa: E501
        Action.INVITE_TO_SPEAK:  (GONE, BLOCKED, BLOCKED, BLOCKED, BLOCKED, BLOCKED,   BLOCKED,  BLOCKED,  BLOCKED,  FORBIDDEN),  # noqa: E501
        Action.MAKE_MODERATOR:   (GONE, BLOCKED, BLOCKED, BLOCKED, BLOCKED, BLOCKED,   BLOCKED,  BLOCKED,  BLOCKED,  FORBIDDEN),  # noqa: E501
    }.items()
}


def own_expected(action: Action, actor: str, room: RoomFacts) -> str | None:
    [row] = [row for (a, condition), row in OWN_POLICY.items()
             if a is action and room_matches(condition, room)]
    return row[actor]


def expected(action: Action, actor: str, target: str, blocked: bool = False,
             room: RoomFacts | None = None) -> str | None:
    """The policy's answer for one case (by default: hands on, chat open, no block)."""
    if action in OWN_ACTIONS:
        return own_expected(action, actor, room or RoomFacts())
    if SEATS[actor] is None:
        return NOT_IN_ROOM
    if actor not in MODERATORS:
        return NOT_MOD
    if blocked and action in MODERATOR_ON_BLOCKED:
        return MODERATOR_ON_BLOCKED[action][target]
    return MODERATOR_ON[action][target]


def target_args(actor: str, target: str) -> tuple[Seat | None, bool]:
    if target == "self":
        return SEATS[actor], True
    return SEATS[target], False


CASES = list(itertools.product(Action, ACTORS, TARGETS, BLOCKS, ROOMS))


def test_the_policy_covers_every_action_exactly_once() -> None:
    assert OWN_ACTIONS | set(MODERATOR_ON) == set(Action)
    assert not OWN_ACTIONS & set(MODERATOR_ON)
    assert set(MODERATOR_ON) == TARGETED
    assert set(MODERATOR_ON_BLOCKED) <= TARGETED
    assert set(RULES) == set(Action)
    # In every room, exactly one row of OWN_POLICY speaks for each own action.
    for action, room in itertools.product(OWN_ACTIONS, ROOMS.values()):
        rows = [c for (a, c) in OWN_POLICY if a is action and room_matches(c, room)]
        assert len(rows) == 1, (action, room, rows)


def test_every_case_is_walked() -> None:
    assert len(CASES) == len(Action) * 9 * 10 * 2 * 6
    assert len(set(CASES)) == len(CASES)


@pytest.mark.parametrize(("action", "actor"), list(itertools.product(Action, ACTORS)),
                         ids=[f"{a.value}-{b}" for a, b in itertools.product(Action, ACTORS)])
def test_decide(action: Action, actor: str) -> None:
    """Every target, block state and room setting for this action and actor."""
    wrong: dict[str, tuple[str | None, str | None]] = {}
    for target, blocked, room_name in itertools.product(TARGETS, BLOCKS, ROOMS):
        target_seat, is_self = target_args(actor, target)
        denial = decide(action, SEATS[actor], target_seat, is_self=is_self,
                        room=ROOMS[room_name], blocked=blocked)
        got = denial.code if denial else None
        want = expected(action, actor, target, blocked, ROOMS[room_name])
        if got != want:
            wrong[f"on {target}, {'blocked' if blocked else 'no block'}, {room_name}"] = (
                got, want)
        if denial is not None:
            assert denial.message.strip(), "every denial explains itself"
    assert not wrong, f"(got, policy) for {action.value} by {actor}: {wrong}"


def test_decide_defaults_to_an_open_room_without_a_block() -> None:
    for action, actor, target in itertools.product(Action, ACTORS, TARGETS):
        target_seat, is_self = target_args(actor, target)
        denial = decide(action, SEATS[actor], target_seat, is_self=is_self)
        assert (denial.code if denial else None) == expected(action, actor, target), (
            action, actor, target)


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("action", sorted(OWN_ACTIONS))
@pytest.mark.parametrize("actor", ACTORS)
def test_own_actions_need_no_target(action: Action, actor: str, room: str) -> None:
    denial = decide(action, SEATS[actor], room=ROOMS[room])
    assert (denial.code if denial else None) == own_expected(action, actor, ROOMS[room])


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("actor", ACTORS)
def test_allowed_actions(actor: str, room: str) -> None:
    assert allowed_actions(SEATS[actor], ROOMS[room]) == [
        a for a in Action if a in OWN_ACTIONS and own_expected(a, actor, ROOMS[room]) is OK]


def test_allowed_actions_spelled_out() -> None:
    """What each seat may do in a room with the default settings (hands on, chat open)."""
    speaker = [Action.SELF_MUTE, Action.SELF_UNMUTE, Action.LEAVE_STAGE, Action.CHAT,
               Action.REACT]
    moderator = [Action.SELF_MUTE, Action.SELF_UNMUTE, Action.CHAT, Action.REACT,
                 Action.END_ROOM, Action.SET_HANDS, Action.SET_CHAT_MODE,
                 Action.DELETE_ANY_CHAT]
    assert {name: allowed_actions(seat) for name, seat in SEATS.items()} == {
        "absent": [],
        "listener": [Action.RAISE_HAND, Action.CHAT, Action.REACT],
        "hand_up": [Action.RAISE_HAND, Action.LOWER_OWN_HAND, Action.CHAT, Action.REACT],
        "invited": [Action.ACCEPT_INVITE, Action.DECLINE_INVITE, Action.CHAT, Action.REACT],
        "speaker": speaker,
        "self_muted": speaker,
        "mod_muted": [Action.SELF_MUTE, Action.LEAVE_STAGE, Action.CHAT, Action.REACT],
        "moderator": moderator,
        "muted_mod": [a for a in moderator if a is not Action.SELF_UNMUTE],
    }
    # With hands off and the chat for speakers only, listeners can only react (and answer an
    # invitation); with the chat off, only moderators write.
    quiet = RoomFacts(hands_enabled=False, chat_mode=ChatMode.SPEAKERS)
    assert allowed_actions(SEATS["listener"], quiet) == [Action.REACT]
    assert allowed_actions(SEATS["hand_up"], quiet) == [Action.LOWER_OWN_HAND, Action.REACT]
    assert allowed_actions(SEATS["invited"], quiet) == [Action.ACCEPT_INVITE,
                                                        Action.DECLINE_INVITE, Action.REACT]
    assert allowed_actions(SEATS["speaker"], quiet) == speaker
    off = RoomFacts(chat_mode=ChatMode.OFF)
    assert allowed_actions(SEATS["speaker"], off) == [Action.SELF_MUTE, Action.SELF_UNMUTE,
                                                      Action.LEAVE_STAGE, Action.REACT]
    assert allowed_actions(SEATS["moderator"], off) == moderator


@pytest.mark.parametrize("blocked", BLOCKS)
@pytest.mark.parametrize(("actor", "target"), list(itertools.product(ACTORS, TARGETS)))
def test_allowed_on(actor: str, target: str, blocked: bool) -> None:
    target_seat, is_self = target_args(actor, target)
    got = allowed_on(SEATS[actor], target_seat, is_self=is_self, blocked=blocked)
    assert got == [a for a in Action
                   if a in TARGETED and expected(a, actor, target, blocked) is OK]
    assert len(got) == len(set(got))


def test_allowed_on_spelled_out() -> None:
    mod = SEATS["moderator"]
    stage = [Action.MOVE_TO_AUDIENCE, Action.MUTE, Action.UNMUTE, Action.REMOVE,
             Action.MAKE_MODERATOR]
    assert allowed_on(mod, SEATS["listener"], is_self=False) == [Action.INVITE_TO_SPEAK,
                                                                 Action.REMOVE]
    assert allowed_on(mod, SEATS["hand_up"], is_self=False) == [
        Action.INVITE_TO_SPEAK, Action.REMOVE, Action.LOWER_HAND]
    assert allowed_on(mod, SEATS["invited"], is_self=False) == [Action.INVITE_TO_SPEAK,
                                                                Action.REMOVE]
    assert allowed_on(mod, SEATS["speaker"], is_self=False) == stage
    assert allowed_on(mod, SEATS["moderator"], is_self=False) == [Action.MUTE, Action.UNMUTE]
    assert allowed_on(mod, mod, is_self=True) == []
    assert allowed_on(SEATS["speaker"], SEATS["listener"], is_self=False) == []
    # Across a block: moderation, but no invitation and no promotion.
    assert allowed_on(mod, SEATS["hand_up"], is_self=False, blocked=True) == [
        Action.REMOVE, Action.LOWER_HAND]
    assert allowed_on(mod, SEATS["speaker"], is_self=False, blocked=True) == [
        Action.MOVE_TO_AUDIENCE, Action.MUTE, Action.UNMUTE, Action.REMOVE]


_ORDER_SCRIPT = """
from ruang.domain.rooms import Action, Role, Seat, allowed_on
print(",".join(allowed_on(Seat(Role.MODERATOR), Seat(Role.SPEAKER), is_self=False)))
"""


def test_allowed_on_order_is_stable() -> None:
    """Like allowed_actions, allowed_on lists actions in Action order in every process.

    (It must not depend on string hashing, which differs from one server process to the next.)
    """
    orders = set()
    for hash_seed in ("0", "1", "5"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", _ORDER_SCRIPT], env=env, check=True,
                             capture_output=True, text=True, timeout=60).stdout.strip()
        orders.add(out)
    assert orders == {"move_to_audience,mute,unmute,remove,make_moderator"}


def test_seat_properties() -> None:
    assert [name for name, s in SEATS.items() if s is not None and s.on_stage] == [
        "speaker", "self_muted", "mod_muted", "moderator", "muted_mod"]
    assert [name for name, s in SEATS.items() if s is not None and s.audible] == [
        "speaker", "moderator"]


# --- who may enter a room -------------------------------------------------------------------

ENDED, NOT_STARTED = "room_ended", "room_not_started"
REMOVED, NOT_FOLLOWING, CLOSED = "removed_from_room", "not_following", "room_closed"

# Who someone is to a live room -> JoinFacts flags.
WHO: dict[str, dict[str, bool]] = {
    "stranger": {},
    "follower": {"follows_a_host": True},
    "invitee": {"invited_to_room": True},
    "host": {"is_host": True},
    "removed": {"removed": True},
    "removed_follower": {"removed": True, "follows_a_host": True},
    "blocked": {"blocked_by_host": True},
    "blocked_invitee": {"blocked_by_host": True, "invited_to_room": True},
    "blocked_host": {"blocked_by_host": True, "is_host": True},
}

# A live room: who may join it, per kind.
JOIN_POLICY: dict[RoomKind, dict[str, str | None]] = {
    kind: dict(zip(WHO, row, strict=True)) for kind, row in {
        #                stranger       follower       invitee  host removed  removed_follower blocked  blocked_invitee blocked_host  # noqa: E501
        RoomKind.OPEN:   (OK,           OK,            OK,      OK,  REMOVED, REMOVED,         BLOCKED, BLOCKED,        BLOCKED),  # noqa: E501
        RoomKind.SOCIAL: (NOT_FOLLOWING, OK,           NOT_FOLLOWING, OK, REMOVED, REMOVED,    BLOCKED, BLOCKED,        BLOCKED),  # noqa: E501
        RoomKind.CLOSED: (CLOSED,       CLOSED,        OK,      OK,  REMOVED, REMOVED,         BLOCKED, BLOCKED,        BLOCKED),  # noqa: E501
    }.items()
}


def join_expected(state: RoomState, kind: RoomKind, who: str) -> str | None:
    if state is RoomState.ENDED:
        return ENDED  # nobody enters an ended room
    if state is RoomState.SCHEDULED:
        return NOT_STARTED  # nobody, not even its hosts: a host starts it first
    return JOIN_POLICY[kind][who]


JOIN_CASES = list(itertools.product(RoomState, RoomKind, WHO))


@pytest.mark.parametrize(("state", "kind", "who"), JOIN_CASES,
                         ids=[f"{s.value}-{k.value}-{w}" for s, k, w in JOIN_CASES])
def test_may_join(state: RoomState, kind: RoomKind, who: str) -> None:
    denial = may_join(JoinFacts(state, kind, **WHO[who]))
    assert (denial.code if denial else None) == join_expected(state, kind, who)
    if denial is not None:
        assert denial.message.strip()


@pytest.mark.parametrize(("state", "kind", "who"), JOIN_CASES,
                         ids=[f"{s.value}-{k.value}-{w}" for s, k, w in JOIN_CASES])
def test_may_see(state: RoomState, kind: RoomKind, who: str) -> None:
    """A room shows in the hallway of those who may join it once it is live (scheduled rooms
    included), never once it ended."""
    visible = state is not RoomState.ENDED and JOIN_POLICY[kind][who] is OK
    assert may_see(JoinFacts(state, kind, **WHO[who])) is visible


def test_every_join_flag_combination_is_decided() -> None:
    flags = ("is_host", "follows_a_host", "invited_to_room", "removed", "blocked_by_host")
    for state, kind, values in itertools.product(RoomState, RoomKind,
                                                 itertools.product(BLOCKS, repeat=5)):
        facts = JoinFacts(state, kind, **dict(zip(flags, values, strict=True)))
        denial = may_join(facts)
        on = {f for f, v in zip(flags, values, strict=True) if v}
        if state is not RoomState.LIVE or on & {"removed", "blocked_by_host"}:
            assert denial is not None, facts
        elif "is_host" in on or kind is RoomKind.OPEN:
            assert denial is None, facts
        else:
            needed = "follows_a_host" if kind is RoomKind.SOCIAL else "invited_to_room"
            assert (denial is None) == (needed in on), facts


# --- the room lifecycle ---------------------------------------------------------------------


def test_a_live_room_can_end() -> None:
    assert transition(RoomState.LIVE, RoomState.ENDED) is RoomState.ENDED


def test_a_scheduled_room_goes_live_or_is_cancelled() -> None:
    assert transition(RoomState.SCHEDULED, RoomState.LIVE) is RoomState.LIVE
    assert transition(RoomState.SCHEDULED, RoomState.ENDED) is RoomState.ENDED


@pytest.mark.parametrize(("current", "new"), [
    (RoomState.SCHEDULED, RoomState.SCHEDULED),
    (RoomState.LIVE, RoomState.LIVE),
    (RoomState.LIVE, RoomState.SCHEDULED),
    (RoomState.ENDED, RoomState.ENDED),
    (RoomState.ENDED, RoomState.LIVE),
    (RoomState.ENDED, RoomState.SCHEDULED),
])
def test_illegal_transitions(current: RoomState, new: RoomState) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, new)


def test_every_transition_is_decided() -> None:
    legal = set()
    for current, new in itertools.product(RoomState, RoomState):
        try:
            transition(current, new)
        except IllegalTransition:
            continue
        legal.add((current, new))
    assert legal == {(RoomState.SCHEDULED, RoomState.LIVE),
                     (RoomState.SCHEDULED, RoomState.ENDED),
                     (RoomState.LIVE, RoomState.ENDED)}
