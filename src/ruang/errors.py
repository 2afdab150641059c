"""Errors a client can rely on: a stable ``code``, a message for people, an HTTP status.

Every failure the API or the WebSocket reports is one of these codes (docs/errors.md lists
them all; a test keeps that list and this module in step). Nothing else reaches a client:
unexpected exceptions become ``internal_error`` and are logged with their traceback.

Tree::

    RuangError
    ├── InvalidInput        400  invalid_input, bad_message, message_too_large,
    │                             unsupported_protocol, media_rejected
    ├── NotAuthenticated    401  not_authenticated, invalid_credentials
    ├── Forbidden           403  forbidden, not_a_moderator, not_on_stage, muted_by_moderator,
    │                             not_in_room
    ├── NotFound            404  room_not_found, member_not_found
    ├── MethodNotAllowed    405  method_not_allowed
    ├── Conflict            409  room_ended, username_taken, not_invited, already_on_stage,
    │                             not_a_speaker, stale_media, replaced
    ├── Unavailable         503  media_unavailable, storage_unavailable
    └── Internal            500  internal_error
"""

from __future__ import annotations

from typing import ClassVar


class RuangError(Exception):
    status: ClassVar[int] = 400
    codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, code: str, message: str) -> None:
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} has no error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(RuangError):
    status = 400
    codes = frozenset({"invalid_input", "bad_message", "message_too_large",
                       "unsupported_protocol", "media_rejected"})


class NotAuthenticated(RuangError):
    status = 401
    codes = frozenset({"not_authenticated", "invalid_credentials"})


class Forbidden(RuangError):
    status = 403
    codes = frozenset({"forbidden", "not_a_moderator", "not_on_stage", "muted_by_moderator",
                       "not_in_room"})


class NotFound(RuangError):
    status = 404
    codes = frozenset({"room_not_found", "member_not_found", "not_found"})


class Conflict(RuangError):
    status = 409
    codes = frozenset({"room_ended", "username_taken", "not_invited", "already_on_stage",
                       "not_a_speaker", "stale_media", "replaced"})


class MethodNotAllowed(RuangError):
    status = 405
    codes = frozenset({"method_not_allowed"})


class Unavailable(RuangError):
    status = 503
    codes = frozenset({"media_unavailable", "storage_unavailable"})


class Internal(RuangError):
    status = 500
    codes = frozenset({"internal_error"})


ALL_ERRORS: tuple[type[RuangError], ...] = (InvalidInput, NotAuthenticated, Forbidden, NotFound,
                                            MethodNotAllowed, Conflict, Unavailable, Internal)


def all_codes() -> dict[str, int]:
    return {code: cls.status for cls in ALL_ERRORS for code in cls.codes}
