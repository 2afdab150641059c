"""An asyncio Janus client: one connection, one Janus session, many plugin handles.

The session owns two tasks (reader and keepalive) for as long as it is open. Requests are
matched to replies by transaction; asynchronous plugin requests wait past the ``ack`` for the
``event`` with the same transaction. Unsolicited events go to the handle's listener.

When the connection breaks, every pending request fails with JanusTransportError and
:meth:`JanusSession.wait_closed` returns: the owner (the media engine) decides how to rebuild.
A session is not reconnected in place, because Janus forgets sessions whose transport went
away; a new session is opened instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ruang.media.janus import protocol as p
from ruang.media.janus.transport import Transport, TransportFactory

log = logging.getLogger(__name__)

HandleListener = Callable[["p.Event | p.HandleNotice"], None]


@dataclass
class _Pending:
    future: asyncio.Future[p.Success | p.Event]
    acked: bool = False
    ack_is_reply: bool = False  # trickle: Janus answers with an ack and nothing else


@dataclass
class JanusHandle:
    """One plugin handle; the place for plugin requests and its unsolicited events."""

    session: JanusSession
    id: int
    plugin: str
    listener: HandleListener | None = None
    detached: bool = field(default=False)

    async def request(self, body: p.JsonObject, *, timeout: float | None = None) -> p.JsonObject:
        """A plugin request; returns the plugin's data, raising its error."""
        data, _jsep = await self.message(body, timeout=timeout)
        return data

    async def message(self, body: p.JsonObject, jsep: p.JsonObject | None = None, *,
                      timeout: float | None = None) -> tuple[p.JsonObject, p.JsonObject | None]:
        """Send a plugin message; wait for its synchronous answer or its event.

        Returns (plugin data, jsep or None)."""
        tx = p.new_transaction()
        reply = await self.session._call(
            p.message(tx, self.session.id, self.id, body, jsep), tx, timeout=timeout)
        if isinstance(reply, p.Success):
            data = reply.plugindata or {}
            jsep_out = None
        else:
            data = reply.data
            jsep_out = reply.jsep
        err = p.plugin_error(self.plugin, data)
        if err is not None:
            raise err
        return data, jsep_out

    async def trickle(self, candidate: p.JsonObject | None) -> None:
        tx = p.new_transaction()
        await self.session._call(p.trickle(tx, self.session.id, self.id, candidate), tx,
                                 ack_is_reply=True)

    async def hangup(self) -> None:
        tx = p.new_transaction()
        await self.session._call(p.hangup(tx, self.session.id, self.id), tx)

    async def detach(self) -> None:
        """Detach; quiet when the handle or the session is already gone."""
        if self.detached:
            return
        self.detached = True
        self.session._handles.pop(self.id, None)
        if self.session.closed:
            return
        tx = p.new_transaction()
        try:
            await self.session._call(p.detach(tx, self.session.id, self.id), tx, timeout=5.0)
        except p.JanusApiError as exc:
            if exc.code != p.HANDLE_NOT_FOUND:
                raise
        except p.JanusTransportError:
            pass


class JanusSession:
    def __init__(self, transport: Transport, *, api_secret: str | None = None,
                 request_timeout: float = 10.0, keepalive_interval: float = 20.0) -> None:
        self._transport = transport
        self._api_secret = api_secret
        self._timeout = request_timeout
        self._keepalive_interval = keepalive_interval
        self._pending: dict[str, _Pending] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self.close_reason: str | None = None
        self.id = 0

    @classmethod
    async def open(cls, connect: TransportFactory, *, api_secret: str | None = None,
                   request_timeout: float = 10.0,
                   keepalive_interval: float = 20.0) -> JanusSession:
        transport = await connect()
        session = cls(transport, api_secret=api_secret, request_timeout=request_timeout,
                      keepalive_interval=keepalive_interval)
        session._tasks.append(asyncio.create_task(session._read_loop(), name="janus-reader"))
        try:
            tx = p.new_transaction()
            reply = await session._call(p.create_session(tx), tx)
            if not isinstance(reply, p.Success) or not isinstance(reply.data.get("id"), int):
                raise p.JanusProtocolError("create did not return a session id")
            session.id = reply.data["id"]
        except BaseException:
            await session.close()
            raise
        session._tasks.append(asyncio.create_task(session._keepalive_loop(),
                                                  name="janus-keepalive"))
        return session

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> str | None:
        await self._closed.wait()
        return self.close_reason

    async def attach(self, plugin: str, listener: HandleListener | None = None) -> JanusHandle:
        tx = p.new_transaction()
        reply = await self._call(p.attach(tx, self.id, plugin), tx)
        if not isinstance(reply, p.Success) or not isinstance(reply.data.get("id"), int):
            raise p.JanusProtocolError("attach did not return a handle id")
        handle = JanusHandle(self, reply.data["id"], plugin, listener)
        self._handles[handle.id] = handle
        return handle

    async def close(self) -> None:
        """Destroy the Janus session (best effort) and stop the tasks."""
        if not self._closed.is_set() and self.id:
            tx = p.new_transaction()
            with contextlib.suppress(p.JanusError):
                await self._call(p.destroy_session(tx, self.id), tx, timeout=2.0)
        self._fail_all("session closed")
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for task in self._tasks:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self._transport.close()

    # --- internals ------------------------------------------------------------------------

    async def _call(self, msg: p.JsonObject, tx: str, *, timeout: float | None = None,
                    ack_is_reply: bool = False) -> p.Success | p.Event:
        if self._closed.is_set():
            raise p.JanusTransportError(f"Janus session is closed: {self.close_reason}")
        fut: asyncio.Future[p.Success | p.Event] = asyncio.get_running_loop().create_future()
        self._pending[tx] = _Pending(fut, ack_is_reply=ack_is_reply)
        try:
            await self._transport.send(p.with_secret(msg, self._api_secret))
            async with asyncio.timeout(timeout or self._timeout):
                return await fut
        except TimeoutError:
            raise p.JanusTimeout(f"no answer from Janus to {msg.get('janus')} "
                                 f"{msg.get('body', {}).get('request', '')}".strip()) from None
        except p.JanusTransportError as exc:
            self._lost(str(exc))
            raise
        finally:
            self._pending.pop(tx, None)

    async def _read_loop(self) -> None:
        try:
            while True:
                raw = await self._transport.recv()
                try:
                    msg = p.parse(raw)
                except p.JanusProtocolError as exc:
                    log.warning("ignoring malformed message from Janus: %s", exc)
                    continue
                if msg is not None:
                    self._dispatch(msg)
        except p.JanusTransportError as exc:
            self._lost(str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not leave requests hanging forever
            log.exception("Janus reader failed")
            self._lost(f"reader failed: {exc}")

    def _dispatch(self, msg: p.Incoming) -> None:
        if isinstance(msg, p.Ack):
            pending = self._pending.get(msg.transaction)
            if pending is not None:
                pending.acked = True
                if pending.ack_is_reply and not pending.future.done():
                    pending.future.set_result(p.Success(msg.transaction))
            return
        if isinstance(msg, p.Success):
            self._resolve(msg.transaction, msg)
            return
        if isinstance(msg, p.Error):
            pending = self._pending.get(msg.transaction or "")
            if pending is not None and not pending.future.done():
                pending.future.set_exception(p.JanusApiError(msg.code, msg.reason))
            else:
                log.warning("Janus error without a pending request: %s %s", msg.code, msg.reason)
            return
        if isinstance(msg, p.Event):
            pending = self._pending.get(msg.transaction or "")
            if pending is not None and not pending.future.done():
                pending.future.set_result(msg)
                return
            self._notify(msg.sender, msg)
            return
        if isinstance(msg, p.HandleNotice):
            self._notify(msg.sender, msg)
            return
        if isinstance(msg, p.SessionTimeout):
            self._lost("Janus timed the session out")

    def _resolve(self, tx: str, msg: p.Success) -> None:
        pending = self._pending.get(tx)
        if pending is not None and not pending.future.done():
            pending.future.set_result(msg)

    def _notify(self, sender: int, msg: p.Event | p.HandleNotice) -> None:
        handle = self._handles.get(sender)
        if handle is None or handle.listener is None:
            log.debug("unrouted Janus message for handle %s: %s", sender, msg)
            return
        try:
            handle.listener(msg)
        except Exception:
            log.exception("Janus handle listener failed")

    async def _keepalive_loop(self) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(self._keepalive_interval)
            tx = p.new_transaction()
            try:
                await self._transport.send(
                    p.with_secret(p.keepalive(tx, self.id), self._api_secret))
            except p.JanusTransportError as exc:
                self._lost(str(exc))
                return

    def _lost(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.close_reason = reason
        self._closed.set()
        self._fail_all(reason)
        log.warning("Janus session %s lost: %s", self.id, reason)

    def _fail_all(self, reason: str) -> None:
        self._closed.set()
        if self.close_reason is None:
            self.close_reason = reason
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(p.JanusTransportError(reason))
