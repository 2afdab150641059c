"""Errors a client can rely on: a stable ``code``, a message for people, an HTTP status.

Every failure the API or the WebSocket reports is one of these codes (docs/errors.md lists
them all; a test keeps that list and this module in step). Nothing else reaches a client:
unexpected exceptions become ``internal_error`` and are logged with their traceback.

Tree::

    RuangError
    ├── InvalidInput        400  invalid_input, bad_message, message_too_large,
    │                             unsupported_protocol, media_rejected, token_invalid,
    │                             avatar_not_an_image, avatar_too_many_pixels
    ├── NotAuthenticated    401  not_authenticated, invalid_credentials
    ├── Forbidden           403  forbidden, not_a_moderator, not_on_stage, muted_by_moderator,
    │                             not_in_room, not_an_admin, blocked, account_suspended,
    │                             account_banned, csrf_failed, chat_off, chat_speakers_only,
    │                             removed_from_room, not_following, room_closed
    ├── NotFound            404  room_not_found, member_not_found, not_found, invite_not_found,
    │                             message_not_found
    ├── MethodNotAllowed    405  method_not_allowed
    ├── Conflict            409  room_ended, username_taken, not_invited, already_on_stage,
    │                             not_a_speaker, stale_media, replaced, no_invites_left,
    │                             invite_used, invite_expired, already_member,
    │                             already_resolved, hand_not_raised, hands_off,
    │                             room_not_started, already_invited
    ├── TooLarge            413  avatar_too_large
    ├── UnsupportedMedia    415  avatar_unsupported_format
    ├── RateLimited         429  rate_limited (with retry_after seconds)
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
                       "unsupported_protocol", "media_rejected", "token_invalid",
                       "avatar_not_an_image", "avatar_too_many_pixels"})


class NotAuthenticated(RuangError):
    status = 401
    codes = frozenset({"not_authenticated", "invalid_credentials"})


class Forbidden(RuangError):
    status = 403
    codes = frozenset({"forbidden", "not_a_moderator", "not_on_stage", "muted_by_moderator",
                       "not_in_room", "not_an_admin", "blocked", "account_suspended",
                       "account_banned", "csrf_failed", "chat_off", "chat_speakers_only",
                       "removed_from_room", "not_following", "room_closed"})


class NotFound(RuangError):
    status = 404
    codes = frozenset({"room_not_found", "member_not_found", "not_found", "invite_not_found",
                       "message_not_found"})


class Conflict(RuangError):
    status = 409
    codes = frozenset({"room_ended", "username_taken", "not_invited", "already_on_stage",
                       "not_a_speaker", "stale_media", "replaced", "no_invites_left",
                       "invite_used", "invite_expired", "already_member",
                       "already_resolved", "hand_not_raised", "hands_off",
                       "room_not_started", "already_invited"})


class TooLarge(RuangError):
    status = 413
    codes = frozenset({"avatar_too_large"})


class UnsupportedMedia(RuangError):
    status = 415
    codes = frozenset({"avatar_unsupported_format"})


class RateLimited(RuangError):
    status = 429
    codes = frozenset({"rate_limited"})

    def __init__(self, code: str, message: str, retry_after: float = 1.0) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


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
                                            MethodNotAllowed, Conflict, TooLarge,
                                            UnsupportedMedia, RateLimited, Unavailable, Internal)


def all_codes() -> dict[str, int]:
    return {code: cls.status for cls in ALL_ERRORS for code in cls.codes}
