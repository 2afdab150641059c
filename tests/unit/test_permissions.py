"""Every permission decision, walked exhaustively against one explicit statement of the policy.

The policy is written out below as tables (the one place that says who may do what to whom);
the tests walk every Action x actor seat x target seat (plus "yourself") through
:func:`ruang.domain.rooms.decide` and compare with the table, code for code.
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
    IllegalTransition,
    Role,
    RoomState,
    Seat,
    allowed_actions,
    allowed_on,
    decide,
    transition,
)

# --- the seats ------------------------------------------------------------------------------

SEATS: dict[str, Seat | None] = {
    "absent": None,  # not (or no longer) in the room
    "listener": Seat(Role.LISTENER),
    "invited": Seat(Role.LISTENER, invited=True),
    "speaker": Seat(Role.SPEAKER),
    "self_muted": Seat(Role.SPEAKER, self_muted=True),
    "mod_muted": Seat(Role.SPEAKER, mod_muted=True),
    "moderator": Seat(Role.MODERATOR),
}
ACTORS = tuple(SEATS)
# Targets are the same seats, plus "self": the actor aiming at their own seat.
TARGETS = (*SEATS, "self")

# --- the policy -----------------------------------------------------------------------------

OK = None
NOT_IN_ROOM = "not_in_room"
NOT_MOD = "not_a_moderator"
GONE = "member_not_found"
FORBIDDEN = "forbidden"
ON_STAGE = "already_on_stage"
NOT_SPEAKER = "not_a_speaker"
NOT_ON_STAGE = "not_on_stage"
NOT_INVITED = "not_invited"
MOD_MUTED = "muted_by_moderator"

# Actions about yourself or the room (the target does not matter): the outcome per actor seat.
OWN_POLICY: dict[Action, dict[str, str | None]] = {
    action: dict(zip(ACTORS, row, strict=True)) for action, row in {
        #                     absent       listener      invited       speaker       self_muted    mod_muted     moderator  # noqa: E501
        Action.END_ROOM:      (NOT_IN_ROOM, NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      NOT_MOD,      OK),  # noqa: E501
        Action.ACCEPT_INVITE: (NOT_IN_ROOM, NOT_INVITED,  OK,           ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE),  # noqa: E501
        Action.DECLINE_INVITE: (NOT_IN_ROOM, NOT_INVITED, OK,           ON_STAGE,     ON_STAGE,     ON_STAGE,     ON_STAGE),  # noqa: E501
        Action.SELF_MUTE:     (NOT_IN_ROOM, NOT_ON_STAGE, NOT_ON_STAGE, OK,           OK,           OK,           OK),  # noqa: E501
        Action.SELF_UNMUTE:   (NOT_IN_ROOM, NOT_ON_STAGE, NOT_ON_STAGE, OK,           OK,           MOD_MUTED,    OK),  # noqa: E501
        Action.LEAVE_STAGE:   (NOT_IN_ROOM, NOT_SPEAKER,  NOT_SPEAKER,  OK,           OK,           OK,           NOT_SPEAKER),  # noqa: E501
    }.items()
}

# Actions on another member. Only a present moderator may take them at all (absent actors get
# not_in_room, everyone else not_a_moderator, whatever the target); for a moderator the outcome
# depends on the target's seat:
MODERATOR_ON: dict[Action, dict[str, str | None]] = {
    action: dict(zip(TARGETS, row, strict=True)) for action, row in {
        #                        absent listener     invited      speaker      self_muted   mod_muted    moderator    self  # noqa: E501
        Action.INVITE_TO_SPEAK:  (GONE, OK,          OK,          ON_STAGE,    ON_STAGE,    ON_STAGE,    ON_STAGE,    FORBIDDEN),  # noqa: E501
        Action.MOVE_TO_AUDIENCE: (GONE, NOT_SPEAKER, NOT_SPEAKER, OK,          OK,          OK,          NOT_SPEAKER, FORBIDDEN),  # noqa: E501
        Action.MUTE:             (GONE, NOT_ON_STAGE, NOT_ON_STAGE, OK,        OK,          OK,          OK,          FORBIDDEN),  # noqa: E501
        Action.UNMUTE:           (GONE, NOT_ON_STAGE, NOT_ON_STAGE, OK,        OK,          OK,          OK,          FORBIDDEN),  # noqa: E501
    }.items()
}


def expected(action: Action, actor: str, target: str) -> str | None:
    """The policy's answer for one case."""
    if action in OWN_POLICY:
        return OWN_POLICY[action][actor]
    if SEATS[actor] is None:
        return NOT_IN_ROOM
    if actor != "moderator":
        return NOT_MOD
    return MODERATOR_ON[action][target]


def target_args(actor: str, target: str) -> tuple[Seat | None, bool]:
    if target == "self":
        return SEATS[actor], True
    return SEATS[target], False


CASES = list(itertools.product(Action, ACTORS, TARGETS))


def test_the_policy_covers_every_action_exactly_once() -> None:
    assert set(OWN_POLICY) | set(MODERATOR_ON) == set(Action)
    assert not set(OWN_POLICY) & set(MODERATOR_ON)
    assert set(MODERATOR_ON) == TARGETED
    assert set(RULES) == set(Action)


def test_every_case_is_walked() -> None:
    assert len(CASES) == len(Action) * 7 * 8


@pytest.mark.parametrize(("action", "actor", "target"), CASES,
                         ids=[f"{a.value}-{b}-on-{c}" for a, b, c in CASES])
def test_decide(action: Action, actor: str, target: str) -> None:
    target_seat, is_self = target_args(actor, target)
    denial = decide(action, SEATS[actor], target_seat, is_self=is_self)
    assert (denial.code if denial else None) == expected(action, actor, target)
    if denial is not None:
        assert denial.message.strip(), "every denial explains itself"


@pytest.mark.parametrize("action", sorted(set(Action) - TARGETED))
@pytest.mark.parametrize("actor", ACTORS)
def test_own_actions_need_no_target(action: Action, actor: str) -> None:
    denial = decide(action, SEATS[actor])
    assert (denial.code if denial else None) == OWN_POLICY[action][actor]


@pytest.mark.parametrize("actor", ACTORS)
def test_allowed_actions(actor: str) -> None:
    assert allowed_actions(SEATS[actor]) == [
        a for a in Action if a in OWN_POLICY and OWN_POLICY[a][actor] is OK]


def test_allowed_actions_spelled_out() -> None:
    speaker = [Action.SELF_MUTE, Action.SELF_UNMUTE, Action.LEAVE_STAGE]
    assert {name: allowed_actions(seat) for name, seat in SEATS.items()} == {
        "absent": [],
        "listener": [],
        "invited": [Action.ACCEPT_INVITE, Action.DECLINE_INVITE],
        "speaker": speaker,
        "self_muted": speaker,
        "mod_muted": [Action.SELF_MUTE, Action.LEAVE_STAGE],
        "moderator": [Action.END_ROOM, Action.SELF_MUTE, Action.SELF_UNMUTE],
    }


@pytest.mark.parametrize(("actor", "target"), list(itertools.product(ACTORS, TARGETS)))
def test_allowed_on(actor: str, target: str) -> None:
    target_seat, is_self = target_args(actor, target)
    got = allowed_on(SEATS[actor], target_seat, is_self=is_self)
    assert sorted(got) == sorted(a for a in TARGETED if expected(a, actor, target) is OK)
    assert len(got) == len(set(got))


def test_allowed_on_spelled_out() -> None:
    mod = SEATS["moderator"]
    stage = {Action.MOVE_TO_AUDIENCE, Action.MUTE, Action.UNMUTE}
    assert set(allowed_on(mod, SEATS["listener"], is_self=False)) == {Action.INVITE_TO_SPEAK}
    assert set(allowed_on(mod, SEATS["speaker"], is_self=False)) == stage
    assert set(allowed_on(mod, SEATS["moderator"], is_self=False)) == {Action.MUTE,
                                                                       Action.UNMUTE}
    assert allowed_on(mod, mod, is_self=True) == []
    assert allowed_on(SEATS["speaker"], SEATS["listener"], is_self=False) == []


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
    assert orders == {"move_to_audience,mute,unmute"}


def test_seat_properties() -> None:
    assert [name for name, s in SEATS.items() if s is not None and s.on_stage] == [
        "speaker", "self_muted", "mod_muted", "moderator"]
    assert [name for name, s in SEATS.items() if s is not None and s.audible] == [
        "speaker", "moderator"]


# --- the room lifecycle ---------------------------------------------------------------------


def test_a_live_room_can_end() -> None:
    assert transition(RoomState.LIVE, RoomState.ENDED) is RoomState.ENDED


@pytest.mark.parametrize(("current", "new"), [
    (RoomState.LIVE, RoomState.LIVE),
    (RoomState.ENDED, RoomState.ENDED),
    (RoomState.ENDED, RoomState.LIVE),
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
    assert legal == {(RoomState.LIVE, RoomState.ENDED)}
