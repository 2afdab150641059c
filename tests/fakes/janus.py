"""FakeJanus: an in-memory Janus that satisfies :class:`ruang.media.janus.transport.Transport`.

It answers the requests our client sends the way Janus 1.1.x does over its WebSocket
transport:

==========  ===========================================================================
create      ``success`` with ``data.id`` (a new session id)
attach      ``success`` with ``data.id`` (a new handle id); 460 for an unknown plugin
keepalive   ``ack``
message     what the test's handler for ``body["request"]`` says: ``success`` with
            ``plugindata`` (synchronous plugin request) or ``ack`` then ``event`` with the
            same transaction and optionally a ``jsep`` (asynchronous plugin request)
trickle     ``ack`` (only an ack: Janus never sends anything else for a trickle)
hangup      ``success``
detach      ``success``; 459 when the handle is unknown
destroy     ``success``
==========  ===========================================================================

Requests naming an unknown session get 458, unknown handles 459, and every request is
checked against ``api_secret`` when one is set (403 otherwise), as Janus does.

Tests script plugin replies with ``fake.handlers[request_name] = fn`` where ``fn`` receives
a :class:`PluginRequest` and returns :func:`sync` / :func:`async_event` /
:func:`plugin_failure` / :func:`core_error` / :data:`NO_REPLY` / :class:`Raw` (a plain dict
is a synchronous reply). Core requests can be overridden the same way in
``fake.core_handlers[verb]``, or failed with :meth:`FakeJanus.fail_core`.

Everything the client sends is recorded in ``fake.sent`` (deep copies, in order).

Replies are delivered in order; ``fake.delay`` (or a reply's own ``delay``) postpones one
request's replies without holding back the replies to later requests.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ruang.media.janus.protocol import JanusTransportError, JsonObject

AUDIOBRIDGE = "janus.plugin.audiobridge"
STREAMING = "janus.plugin.streaming"

# Core error codes (janus-gateway apierror.h).
UNAUTHORIZED = 403
UNKNOWN_REQUEST = 453
SESSION_NOT_FOUND = 458
HANDLE_NOT_FOUND = 459
PLUGIN_NOT_FOUND = 460
JSEP_INVALID_SDP = 465

# What each plugin answers an unknown request with (its INVALID_REQUEST code).
_INVALID_REQUEST = {AUDIOBRIDGE: 482, STREAMING: 452}

SAMPLE_OFFER = {
    "type": "offer",
    "sdp": "v=0\r\no=- 4352345 1 IN IP4 127.0.0.1\r\ns=Audio Bridge\r\nt=0 0\r\n"
           "a=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"
           "a=sendrecv\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n",
}


# --- replies a handler can ask for -----------------------------------------------------------


@dataclass(frozen=True)
class Sync:
    """``success`` carrying ``plugindata`` (a synchronous plugin request)."""

    data: JsonObject
    delay: float | None = None


@dataclass(frozen=True)
class Async:
    """``ack`` now, then ``event`` with the request's transaction ``event_delay`` later."""

    data: JsonObject
    jsep: JsonObject | None = None
    delay: float | None = None
    event_delay: float = 0.0


@dataclass(frozen=True)
class CoreError:
    """A core ``error`` with the request's transaction."""

    code: int
    reason: str
    delay: float | None = None


@dataclass(frozen=True)
class Raw:
    """Send these messages verbatim (they may be malformed on purpose)."""

    messages: list[object]
    delay: float | None = None


class _NoReply:
    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY = _NoReply()
"""Record the request and never answer it (to provoke timeouts)."""

Reply = Sync | Async | CoreError | Raw | _NoReply


def sync(data: JsonObject, *, delay: float | None = None) -> Sync:
    return Sync(data, delay)


def async_event(data: JsonObject, jsep: JsonObject | None = None, *,
                delay: float | None = None, event_delay: float = 0.0) -> Async:
    return Async(data, jsep, delay, event_delay)


def core_error(code: int, reason: str, *, delay: float | None = None) -> CoreError:
    return CoreError(code, reason, delay)


def plugin_failure(plugin: str, code: int, reason: str, *, asynchronous: bool = False) -> Reply:
    """A plugin-level failure the way Janus plugins report them: inside plugindata.data."""
    data = {plugin.rsplit(".", 1)[-1]: "event", "error_code": code, "error": reason}
    return async_event(data) if asynchronous else sync(data)


@dataclass
class PluginRequest:
    """What a handler gets: one ``message`` request as Janus would see it."""

    fake: FakeJanus
    message: JsonObject
    session_id: int
    handle_id: int
    plugin: str
    body: JsonObject
    jsep: JsonObject | None
    transaction: str

    @property
    def request(self) -> str:
        return str(self.body.get("request", ""))


Handler = Callable[[PluginRequest], "Reply | JsonObject"]
CoreHandler = Callable[[JsonObject], "Reply | JsonObject"]


@dataclass
class _Session:
    id: int
    handles: dict[int, str] = field(default_factory=dict)  # handle id -> plugin


class _Drop:
    pass


_DROP = _Drop()


class FakeJanus:
    """An in-memory Janus behind the Transport protocol (send/recv/close)."""

    def __init__(self, *, api_secret: str | None = None,
                 plugins: Iterable[str] = (AUDIOBRIDGE, STREAMING),
                 delay: float = 0.0, first_session_id: int = 8_000_000_000_001,
                 first_handle_id: int = 5_000_000_000_001) -> None:
        self.api_secret = api_secret
        self.plugins = set(plugins)
        self.delay = delay
        self.handlers: dict[str, Handler] = {}
        self.core_handlers: dict[str, CoreHandler] = {}
        self.sent: list[JsonObject] = []
        self.sessions: dict[int, _Session] = {}
        self.closed = False
        self.close_calls = 0
        self.connects = 0
        self.refuse_connect: str | None = None
        self._session_ids = itertools.count(first_session_id)
        self._handle_ids = itertools.count(first_handle_id)
        self._core_failures: dict[str, list[tuple[int, str]]] = {}
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._dropped: str | None = None
        self._later: set[asyncio.Task[None]] = set()
        self._sent_signal: asyncio.Event | None = None

    # --- Transport protocol -------------------------------------------------------------

    async def send(self, msg: JsonObject) -> None:
        if self._dropped is not None:
            raise JanusTransportError(f"send to Janus failed: {self._dropped}")
        if self.closed:
            raise JanusTransportError("send to Janus failed: connection closed")
        self.sent.append(copy.deepcopy(msg))
        if self._sent_signal is not None:
            self._sent_signal.set()
        self._handle(copy.deepcopy(msg))

    async def recv(self) -> object:
        if self._dropped is not None:
            raise JanusTransportError(f"connection to Janus lost: {self._dropped}")
        item = await self._inbox.get()
        if isinstance(item, _Drop):
            self._inbox.put_nowait(item)  # every later recv fails too
            raise JanusTransportError(
                f"connection to Janus lost: {self._dropped or 'connection closed'}")
        return item

    async def close(self) -> None:
        self.close_calls += 1
        if self.closed:
            return
        self.closed = True
        for task in self._later:
            task.cancel()
        self._inbox.put_nowait(_DROP)

    async def connect(self) -> FakeJanus:
        """A TransportFactory: ``JanusSession.open(fake.connect)``."""
        self.connects += 1
        if self.refuse_connect is not None:
            raise JanusTransportError(f"cannot connect to Janus: {self.refuse_connect}")
        return self

    # --- scripting ----------------------------------------------------------------------

    def fail_core(self, verb: str, code: int, reason: str, *, times: int = 1) -> None:
        """The next ``times`` core requests ``verb`` (create, attach, detach, ...) fail."""
        self._core_failures.setdefault(verb, []).extend([(code, reason)] * times)

    def push(self, *messages: object, delay: float | None = None) -> None:
        """Deliver messages to the client as they are (malformed ones included)."""
        self._deliver([(0.0, m) for m in messages], delay)

    def event(self, handle_id: int, data: JsonObject, *, jsep: JsonObject | None = None,
              transaction: str | None = None) -> None:
        """An unsolicited (or, with ``transaction``, a solicited) plugin event."""
        self.push(self.event_message(handle_id, data, jsep=jsep, transaction=transaction))

    def notify(self, handle_id: int, kind: str, **extra: Any) -> None:
        """A core notice for a handle: webrtcup, media, slowlink, hangup, detached, trickle."""
        msg: JsonObject = {"janus": kind, "session_id": self._session_of(handle_id),
                           "sender": handle_id}
        msg.update(extra)
        self.push(msg)

    def webrtcup(self, handle_id: int) -> None:
        self.notify(handle_id, "webrtcup")

    def hangup(self, handle_id: int, reason: str = "DTLS alert") -> None:
        self.notify(handle_id, "hangup", reason=reason)

    def expire_session(self, session_id: int | None = None) -> None:
        """Janus's session watchdog fired: forget the session and say ``timeout``."""
        sid = session_id if session_id is not None else self.session_id
        self.sessions.pop(sid, None)
        self.push({"janus": "timeout", "session_id": sid})

    def forget_handle(self, handle_id: int) -> None:
        """Janus lost the handle behind the client's back (e.g. after a plugin hangup)."""
        for sess in self.sessions.values():
            sess.handles.pop(handle_id, None)

    def drop(self, reason: str = "connection reset") -> None:
        """The connection breaks now: pending and later recv() and send() raise."""
        self._dropped = reason
        for task in self._later:
            task.cancel()
        self._inbox.put_nowait(_DROP)

    # --- inspection ---------------------------------------------------------------------

    @property
    def session_id(self) -> int:
        """The only (or newest) live session."""
        if not self.sessions:
            raise AssertionError("FakeJanus has no session")
        return max(self.sessions)

    def handles(self, plugin: str | None = None) -> list[int]:
        return [h for s in self.sessions.values() for h, plug in s.handles.items()
                if plugin is None or plug == plugin]

    def requests(self, janus: str | None = None, *, request: str | None = None
                 ) -> list[JsonObject]:
        """Recorded messages, filtered by core verb and/or plugin request name."""
        out = []
        for msg in self.sent:
            if janus is not None and msg.get("janus") != janus:
                continue
            if request is not None:
                body = msg.get("body")
                if not isinstance(body, dict) or body.get("request") != request:
                    continue
            out.append(msg)
        return out

    async def wait_sent(self, janus: str, count: int = 1, *, timeout: float = 2.0,
                        request: str | None = None) -> list[JsonObject]:
        """Wait until at least ``count`` matching messages were sent; returns them."""
        async with asyncio.timeout(timeout):
            while len(found := self.requests(janus, request=request)) < count:
                self._sent_signal = asyncio.Event()
                await self._sent_signal.wait()
        return found

    # --- message builders (also handy for Raw replies) ----------------------------------

    def event_message(self, handle_id: int, data: JsonObject, *,
                      jsep: JsonObject | None = None, transaction: str | None = None,
                      plugin: str | None = None) -> JsonObject:
        msg: JsonObject = {"janus": "event", "session_id": self._session_of(handle_id),
                           "sender": handle_id}
        if transaction is not None:
            msg["transaction"] = transaction
        msg["plugindata"] = {"plugin": plugin or self._plugin_of(handle_id), "data": data}
        if jsep is not None:
            msg["jsep"] = jsep
        return msg

    # --- the Janus side -----------------------------------------------------------------

    def _handle(self, msg: JsonObject) -> None:
        verb = msg.get("janus")
        tx = msg.get("transaction")
        if not isinstance(verb, str) or not isinstance(tx, str):
            self.push(self._error(None, 0, 456, "Missing mandatory element (transaction)"))
            return
        sid = msg.get("session_id", 0)
        if self.api_secret is not None and msg.get("apisecret") != self.api_secret:
            self.push(self._error(tx, sid, UNAUTHORIZED,
                                  "Unauthorized request (wrong or missing secret/token)"))
            return
        failures = self._core_failures.get(verb)
        if failures:
            code, reason = failures.pop(0)
            self.push(self._error(tx, sid, code, reason))
            return
        override = self.core_handlers.get(verb)
        if override is not None:
            self._send_reply(override(msg), msg, sid)
            return
        if verb == "create":
            session = _Session(next(self._session_ids))
            self.sessions[session.id] = session
            self._reply([{"janus": "success", "transaction": tx, "data": {"id": session.id}}])
            return
        sess = self.sessions.get(sid) if isinstance(sid, int) else None
        if sess is None:
            self.push(self._error(tx, sid, SESSION_NOT_FOUND, f"No such session {sid}"))
            return
        if verb == "keepalive":
            self._reply([self._ack(tx, sid)])
            return
        if verb == "destroy":
            del self.sessions[sid]
            self._reply([{"janus": "success", "session_id": sid, "transaction": tx}])
            return
        if verb == "attach":
            plugin = msg.get("plugin")
            if plugin not in self.plugins:
                self.push(self._error(tx, sid, PLUGIN_NOT_FOUND, f"No such plugin '{plugin}'"))
                return
            hid = next(self._handle_ids)
            sess.handles[hid] = str(plugin)
            self._reply([{"janus": "success", "session_id": sid, "transaction": tx,
                          "data": {"id": hid}}])
            return
        if verb not in ("message", "trickle", "hangup", "detach"):
            self.push(self._error(tx, sid, UNKNOWN_REQUEST, f"Unknown request '{verb}'"))
            return
        target = msg.get("handle_id")
        if not isinstance(target, int) or target not in sess.handles:
            self.push(self._error(tx, sid, HANDLE_NOT_FOUND,
                                  f"No such handle {target} in session {sid}"))
            return
        hid = target
        if verb == "trickle":
            self._reply([self._ack(tx, sid)])
        elif verb == "hangup":
            self._reply([{"janus": "success", "session_id": sid, "transaction": tx,
                          "sender": hid}])
        elif verb == "detach":
            del sess.handles[hid]
            self._reply([{"janus": "success", "session_id": sid, "transaction": tx,
                          "sender": hid}])
        else:
            self._plugin_message(msg, sess, hid, tx)

    def _plugin_message(self, msg: JsonObject, sess: _Session, hid: int, tx: str) -> None:
        plugin = sess.handles[hid]
        body = msg.get("body")
        if not isinstance(body, dict):
            self.push(self._error(tx, sess.id, 456, "Missing mandatory element (body)"))
            return
        jsep = msg.get("jsep")
        req = PluginRequest(self, msg, sess.id, hid, plugin, body,
                            jsep if isinstance(jsep, dict) else None, tx)
        handler = self.handlers.get(req.request)
        if handler is None:
            reply: Reply | JsonObject = plugin_failure(
                plugin, _INVALID_REQUEST.get(plugin, 499), f"Unknown request '{req.request}'")
        else:
            reply = handler(req)
        self._send_reply(reply, msg, sess.id, hid, plugin)

    def _send_reply(self, reply: Reply | JsonObject, msg: JsonObject, sid: int,
                    hid: int | None = None, plugin: str | None = None) -> None:
        tx = str(msg.get("transaction"))
        if isinstance(reply, dict):
            reply = Sync(reply)
        if isinstance(reply, _NoReply):
            return
        if isinstance(reply, Raw):
            self._deliver([(0.0, m) for m in reply.messages], reply.delay)
        elif isinstance(reply, CoreError):
            self._deliver([(0.0, self._error(tx, sid, reply.code, reply.reason))], reply.delay)
        elif isinstance(reply, Sync):
            success: JsonObject = {"janus": "success", "session_id": sid, "transaction": tx}
            if hid is not None:
                success["sender"] = hid
                success["plugindata"] = {"plugin": plugin, "data": reply.data}
            else:
                success["data"] = reply.data
            self._deliver([(0.0, success)], reply.delay)
        elif isinstance(reply, Async):
            if hid is None:
                raise TypeError("an asynchronous reply needs a plugin handle")
            event = self.event_message(hid, reply.data, jsep=reply.jsep, transaction=tx,
                                       plugin=plugin)
            self._deliver([(0.0, self._ack(tx, sid)), (reply.event_delay, event)], reply.delay)
        else:
            raise TypeError(f"unsupported FakeJanus reply {reply!r}")

    def _reply(self, messages: list[JsonObject]) -> None:
        self._deliver([(0.0, m) for m in messages], None)

    def _deliver(self, steps: list[tuple[float, object]], delay: float | None) -> None:
        """Queue (gap, message) steps after ``delay`` (default: ``self.delay``)."""
        wait = self.delay if delay is None else delay
        if wait <= 0 and all(gap <= 0 for gap, _m in steps):
            for _gap, m in steps:
                self._inbox.put_nowait(copy.deepcopy(m))
            return

        async def later() -> None:
            await asyncio.sleep(wait)
            for gap, m in steps:
                if gap > 0:
                    await asyncio.sleep(gap)
                if self._dropped is None and not self.closed:
                    self._inbox.put_nowait(copy.deepcopy(m))

        task = asyncio.get_running_loop().create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    @staticmethod
    def _ack(tx: str, sid: int) -> JsonObject:
        return {"janus": "ack", "session_id": sid, "transaction": tx}

    @staticmethod
    def _error(tx: str | None, sid: Any, code: int, reason: str) -> JsonObject:
        msg: JsonObject = {"janus": "error", "session_id": sid if isinstance(sid, int) else 0}
        if tx is not None:
            msg["transaction"] = tx
        msg["error"] = {"code": code, "reason": reason}
        return msg

    def _session_of(self, handle_id: int) -> int:
        for sess in self.sessions.values():
            if handle_id in sess.handles:
                return sess.id
        return self.session_id if self.sessions else 0

    def _plugin_of(self, handle_id: int) -> str:
        for sess in self.sessions.values():
            if handle_id in sess.handles:
                return sess.handles[handle_id]
        return AUDIOBRIDGE
