"""The stable error codes (errors.py): each has one class and one HTTP status.

(docs/errors.md and errors.py are kept in step by test_error_docs.py.)
"""

from __future__ import annotations

import itertools

import pytest

from ruang import errors
from ruang.actions.rooms import deny
from ruang.domain import rooms as rules
from ruang.errors import ALL_ERRORS, RuangError, all_codes

CODES = sorted(all_codes())


def test_every_error_class_is_listed() -> None:
    classes = {obj for obj in vars(errors).values()
               if isinstance(obj, type) and issubclass(obj, RuangError) and obj is not RuangError}
    assert classes == set(ALL_ERRORS)


def test_every_code_belongs_to_exactly_one_class() -> None:
    owners = {code: [cls for cls in ALL_ERRORS if code in cls.codes] for code in CODES}
    assert {code: len(classes) for code, classes in owners.items()} == dict.fromkeys(CODES, 1)
    assert sum(len(cls.codes) for cls in ALL_ERRORS) == len(CODES)


def test_every_class_has_its_own_status_and_some_codes() -> None:
    statuses = [cls.status for cls in ALL_ERRORS]
    assert len(statuses) == len(set(statuses))
    assert all(cls.codes for cls in ALL_ERRORS)
    assert all(400 <= cls.status <= 599 for cls in ALL_ERRORS)


def test_codes_are_snake_case_identifiers() -> None:
    for code in CODES:
        assert code.isascii()
        assert code == code.lower()
        assert code.replace("_", "").isalpha(), code


def test_all_codes_maps_each_code_to_its_class_status() -> None:
    for cls in ALL_ERRORS:
        for code in cls.codes:
            assert all_codes()[code] == cls.status


@pytest.mark.parametrize("code", CODES)
def test_each_code_builds_an_error_of_its_class_only(code: str) -> None:
    owner = next(cls for cls in ALL_ERRORS if code in cls.codes)
    err = owner(code, "what happened")
    assert (err.code, err.message, err.status, str(err)) == (code, "what happened",
                                                            all_codes()[code], "what happened")
    assert err.to_dict() == {"code": code, "message": "what happened"}
    for other in ALL_ERRORS:
        if other is not owner:
            with pytest.raises(ValueError, match=code):
                other(code, "wrong class")


def test_unknown_codes_are_refused() -> None:
    for cls in ALL_ERRORS:
        with pytest.raises(ValueError, match="no error code"):
            cls("no_such_code", "x")


def _all_denials() -> dict[str, rules.Denial]:
    """Every denial the room rules can give: each action, for every seat, target, block state
    and room setting, and every way a member can be kept out of a room."""
    Role = rules.Role
    seats = [None, rules.Seat(Role.LISTENER), rules.Seat(Role.LISTENER, invited=True),
             rules.Seat(Role.LISTENER, hand_raised=True), rules.Seat(Role.SPEAKER),
             rules.Seat(Role.SPEAKER, mod_muted=True), rules.Seat(Role.MODERATOR)]
    rooms = [rules.RoomFacts(hands, mode) for hands in (True, False) for mode in rules.ChatMode]
    found: dict[str, rules.Denial] = {}
    for action, actor, target, is_self, room, blocked in itertools.product(
            rules.Action, seats, seats, (False, True), rooms, (False, True)):
        denial = rules.decide(action, actor, target, is_self=is_self, room=room,
                              blocked=blocked)
        if denial is not None:
            found.setdefault(denial.code, denial)
    for state, kind, *flags in itertools.product(rules.RoomState, rules.RoomKind,
                                                 *[(False, True)] * 5):
        denial = rules.may_join(rules.JoinFacts(state, kind, *flags))
        if denial is not None:
            found.setdefault(denial.code, denial)
    return found


def test_every_permission_denial_is_a_known_code_with_its_status() -> None:
    denials = _all_denials()
    assert set(denials) == {
        # decide()
        "not_in_room", "not_a_moderator", "member_not_found", "forbidden", "already_on_stage",
        "not_a_speaker", "not_on_stage", "not_invited", "already_invited",
        "muted_by_moderator", "blocked", "hand_not_raised", "hands_off", "chat_off",
        "chat_speakers_only",
        # may_join()
        "room_ended", "room_not_started", "removed_from_room", "not_following", "room_closed"}
    for code, denial in denials.items():
        err = deny(denial)
        assert isinstance(err, RuangError)
        assert (err.code, err.status) == (code, all_codes()[code])
        assert err.message == denial.message
