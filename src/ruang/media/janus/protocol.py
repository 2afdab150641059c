"""The Janus JSON API as pure data: requests to build, replies to classify. No I/O here.

Janus answers a request in one of three ways (see docs/janus.md):

- ``success`` (synchronous): the reply carries ``data`` (core) or ``plugindata`` (plugin);
- ``ack`` then ``event`` (asynchronous plugin requests: join, configure, watch, start): the ack
  and the later event share the request's transaction;
- ``error``: ``error.code`` and ``error.reason``.

Unsolicited messages (``event`` without our transaction, ``webrtcup``, ``media``, ``hangup``,
``slowlink``, ``detached``, ``timeout``) carry the handle id in ``sender``.

A plugin reports its own failures inside a ``success`` or ``event`` as
``plugindata.data.error_code`` / ``error``: :func:`plugin_error` turns those into exceptions
so that callers never inspect raw dicts for failure.

Error tree::

    JanusError
    ├── JanusTransportError   the connection to Janus is down or broke mid-request
    ├── JanusTimeout          no reply within the deadline
    ├── JanusProtocolError    Janus sent something this client cannot understand
    └── JanusApiError         Janus answered with an error (core ``error`` or plugin error_code)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]


class JanusError(Exception):
    """Base of every failure talking to Janus."""


class JanusTransportError(JanusError):
    """The connection to Janus is down, or broke while a request was pending."""


class JanusTimeout(JanusError):
    """Janus did not answer within the deadline."""


class JanusProtocolError(JanusError):
    """Janus sent a message this client does not understand."""


class JanusApiError(JanusError):
    """Janus (core or plugin) answered a request with an error."""

    def __init__(self, code: int, reason: str, *, plugin: str | None = None) -> None:
        self.code = code
        self.reason = reason
        self.plugin = plugin
        where = f"{plugin} " if plugin else ""
        super().__init__(f"janus {where}error {code}: {reason}")


# Core error codes we react to (janus-gateway apierror.h).
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459
# AudioBridge / Streaming plugin error codes we react to.
AUDIOBRIDGE_NO_SUCH_ROOM = 485
AUDIOBRIDGE_ROOM_EXISTS = 486
AUDIOBRIDGE_NOT_JOINED = 487
AUDIOBRIDGE_NO_SUCH_USER = 492
STREAMING_NO_SUCH_MOUNTPOINT = 455
STREAMING_CANT_CREATE = 456


def new_transaction() -> str:
    return secrets.token_hex(8)


# --- requests -------------------------------------------------------------------------------


def create_session(transaction: str) -> JsonObject:
    return {"janus": "create", "transaction": transaction}


def attach(transaction: str, session_id: int, plugin: str) -> JsonObject:
    return {"janus": "attach", "transaction": transaction, "session_id": session_id,
            "plugin": plugin}


def keepalive(transaction: str, session_id: int) -> JsonObject:
    return {"janus": "keepalive", "transaction": transaction, "session_id": session_id}


def destroy_session(transaction: str, session_id: int) -> JsonObject:
    return {"janus": "destroy", "transaction": transaction, "session_id": session_id}


def detach(transaction: str, session_id: int, handle_id: int) -> JsonObject:
    return {"janus": "detach", "transaction": transaction, "session_id": session_id,
            "handle_id": handle_id}


def hangup(transaction: str, session_id: int, handle_id: int) -> JsonObject:
    return {"janus": "hangup", "transaction": transaction, "session_id": session_id,
            "handle_id": handle_id}


def message(transaction: str, session_id: int, handle_id: int, body: JsonObject,
            jsep: JsonObject | None = None) -> JsonObject:
    msg: JsonObject = {"janus": "message", "transaction": transaction, "session_id": session_id,
                       "handle_id": handle_id, "body": body}
    if jsep is not None:
        msg["jsep"] = jsep
    return msg


def trickle(transaction: str, session_id: int, handle_id: int,
            candidate: JsonObject | None) -> JsonObject:
    """A trickled ICE candidate; ``None`` says gathering is complete."""
    return {"janus": "trickle", "transaction": transaction, "session_id": session_id,
            "handle_id": handle_id,
            "candidate": candidate if candidate is not None else {"completed": True}}


def with_secret(msg: JsonObject, api_secret: str | None) -> JsonObject:
    if api_secret:
        msg["apisecret"] = api_secret
    return msg


# --- replies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    transaction: str


@dataclass(frozen=True, slots=True)
class Success:
    transaction: str
    data: JsonObject = field(default_factory=dict)
    plugin: str | None = None
    plugindata: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class Error:
    transaction: str | None
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Event:
    """A plugin event: the answer to an asynchronous request, or unsolicited."""

    transaction: str | None
    sender: int
    plugin: str
    data: JsonObject
    jsep: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class HandleNotice:
    """Core notices about one handle's PeerConnection: webrtcup, media, hangup, slowlink,
    detached."""

    kind: str
    sender: int
    body: JsonObject


@dataclass(frozen=True, slots=True)
class SessionTimeout:
    session_id: int


Incoming = Ack | Success | Error | Event | HandleNotice | SessionTimeout

_NOTICES = frozenset({"webrtcup", "media", "hangup", "slowlink", "detached", "trickle"})


def parse(msg: Any) -> Incoming | None:
    """Classify one message from Janus. Returns None for messages we deliberately ignore
    (``server_info`` and similar); raises JanusProtocolError for malformed ones."""
    if not isinstance(msg, dict):
        raise JanusProtocolError(f"expected a JSON object, got {type(msg).__name__}")
    kind = msg.get("janus")
    tx = msg.get("transaction")
    if tx is not None and not isinstance(tx, str):
        raise JanusProtocolError("transaction is not a string")
    if kind == "ack":
        if tx is None:
            return None  # keepalive acks without transaction do not happen; be lenient
        return Ack(tx)
    if kind == "success":
        if tx is None:
            raise JanusProtocolError("success without transaction")
        pd = msg.get("plugindata")
        if pd is not None:
            if not isinstance(pd, dict) or not isinstance(pd.get("data"), dict):
                raise JanusProtocolError("malformed plugindata")
            return Success(tx, {}, str(pd.get("plugin", "")), pd["data"])
        data = msg.get("data") or {}
        if not isinstance(data, dict):
            raise JanusProtocolError("malformed data")
        return Success(tx, data)
    if kind == "error":
        err = msg.get("error") or {}
        if not isinstance(err, dict):
            raise JanusProtocolError("malformed error")
        code = err.get("code", 0)
        if not isinstance(code, int):
            raise JanusProtocolError("malformed error code")
        return Error(tx, code, str(err.get("reason", "unknown error")))
    if kind == "event":
        sender = msg.get("sender")
        pd = msg.get("plugindata")
        if not isinstance(sender, int) or not isinstance(pd, dict):
            raise JanusProtocolError("event without sender or plugindata")
        data = pd.get("data")
        if not isinstance(data, dict):
            raise JanusProtocolError("event without plugindata.data")
        jsep = msg.get("jsep")
        if jsep is not None and not isinstance(jsep, dict):
            raise JanusProtocolError("malformed jsep")
        return Event(tx, sender, str(pd.get("plugin", "")), data, jsep)
    if kind in _NOTICES:
        sender = msg.get("sender")
        if not isinstance(sender, int):
            raise JanusProtocolError(f"{kind} without sender")
        return HandleNotice(str(kind), sender, msg)
    if kind == "timeout":
        sid = msg.get("session_id")
        return SessionTimeout(int(sid) if isinstance(sid, int) else 0)
    if kind in ("server_info", "keepalive"):
        return None
    raise JanusProtocolError(f"unknown message kind {kind!r}")


def plugin_error(plugin: str | None, data: JsonObject) -> JanusApiError | None:
    """The error a plugin reported inside its data, if any."""
    if "error_code" in data or "error" in data:
        code = data.get("error_code", 0)
        return JanusApiError(int(code) if isinstance(code, int) else 0,
                             str(data.get("error", "plugin error")), plugin=plugin)
    return None
