"""The SDK's WebSocket side: rooms kept in step with the server, media answered by itself.

:class:`Realtime` holds one WebSocket. It reconnects when the connection drops and resumes
each room from the last sequence number it applied (the server replays what was missed, or
sends a fresh snapshot). Media offers are answered by the room's :class:`PeerMedia`, so
promotion, demotion and media-server restarts need no action from the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from ruang.client.api import ApiError, RuangClient
from ruang.client.media import PeerMedia
from ruang.domain.rooms import Role
from ruang.events import models as ev

log = logging.getLogger(__name__)

PROTOCOL = 1
EventCallback = Callable[["RoomSession", str, dict[str, Any]], None]


class RealtimeError(ApiError):
    pass


@dataclass
class RoomSession:
    realtime: Realtime
    room_id: int
    media: PeerMedia | None = None
    on_invite: Literal["accept", "decline", "ignore"] = "ignore"
    snapshot: ev.RoomSnapshot | None = None
    left: str | None = None  # why this session ended (left, replaced, ended, removed)
    media_states: list[str] = field(default_factory=list)
    speaking: frozenset[int] = frozenset()  # members talking right now (room.speaking)
    chat: list[ev.ChatMessage] = field(default_factory=list)  # messages seen, in order
    reactions: list[ev.Reaction] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _media_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def me(self) -> ev.MemberView | None:
        """This member as the room sees them (a listener unless listed on stage)."""
        member = self.realtime.member
        if self.snapshot is None or member is None or self.left is not None:
            return None
        listed = self.snapshot.member(int(member["id"]))
        if listed is not None:
            return listed
        return ev.MemberView(id=int(member["id"]), username=str(member["username"]),
                             display_name=str(member["display_name"]), role=Role.LISTENER)

    @property
    def hand_raised(self) -> bool:
        me = self.realtime.member
        return bool(self.snapshot and me and any(m.id == me["id"] for m in self.snapshot.hands))

    @property
    def invited(self) -> bool:
        me = self.realtime.member
        return bool(self.snapshot and me and
                    any(m.id == me["id"] for m in self.snapshot.invited))

    async def wait_for(self, predicate: Callable[[RoomSession], bool],
                       timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def leave(self) -> None:
        await self.realtime.request({"type": "room.leave", "room_id": self.room_id})
        self.left = "left"
        self.realtime.rooms.pop(self.room_id, None)
        if self.media is not None:
            await self.media.close()
        await self._notify()

    async def set_muted(self, muted: bool) -> None:
        await self.realtime.request({"type": "media.mute", "room_id": self.room_id,
                                     "muted": muted})

    async def answer_invite(self, accept: bool) -> None:
        await self.realtime.request({"type": "stage.answer", "room_id": self.room_id,
                                     "accept": accept})

    async def leave_stage(self) -> None:
        await self.realtime.request({"type": "stage.leave", "room_id": self.room_id})

    async def raise_hand(self, raised: bool = True) -> None:
        await self.realtime.request({"type": "hand", "room_id": self.room_id,
                                     "raised": raised})

    async def say(self, text: str) -> None:
        """Post a message in the room's chat."""
        await self.realtime.request({"type": "chat.send", "room_id": self.room_id,
                                     "text": text})

    async def delete_message(self, message_id: int) -> None:
        await self.realtime.request({"type": "chat.delete", "room_id": self.room_id,
                                     "message_id": message_id})

    async def react(self, emoji: str) -> None:
        await self.realtime.request({"type": "react", "room_id": self.room_id,
                                     "emoji": emoji})

    async def restart_media(self) -> None:
        await self.realtime.request({"type": "media.restart", "room_id": self.room_id})


class Realtime:
    def __init__(self, client: RuangClient, *, reconnect: bool = True,
                 on_event: EventCallback | None = None) -> None:
        self.client = client
        self.reconnect = reconnect
        self.on_event = on_event
        self.member: dict[str, Any] | None = None
        self.rooms: dict[int, RoomSession] = {}
        self.reconnects = 0
        self.session_ended = False
        self.hallway: dict[str, Any] | None = None
        self._hallway_changed = asyncio.Event()
        self.notifications: list[dict[str, Any]] = []
        self.on_notification: Callable[[dict[str, Any]], None] | None = None
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._refs = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._connected = asyncio.Event()

    async def connect(self) -> None:
        await self._open()
        self._reader = asyncio.create_task(self._run(), name="ruang-realtime")

    async def _open(self) -> None:
        try:
            self._ws = await connect(await self.client.ws_url(),
                                     subprotocols=["ruang.v1"],  # type: ignore[list-item]
                                     max_size=2**20, open_timeout=10,
                                     additional_headers={"Authorization":
                                                         f"Bearer {self.client.token}"})
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise RealtimeError(0, "connection_failed", f"WebSocket: {exc}") from exc
        await self._ws.send(orjson.dumps({"type": "hello", "protocol": PROTOCOL,
                                          "client": "ruang-sdk"}).decode())
        reply = orjson.loads(await self._ws.recv())
        if reply.get("type") != "welcome":
            raise RealtimeError(0, str(reply.get("code", "unknown")),
                                str(reply.get("message", reply)))
        self.member = reply["member"]
        self._connected.set()

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)
        # Let answers under way finish rather than cancel them: a PeerConnection torn down
        # in the middle of ICE gathering leaks its sockets (aioice).
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in [t for t in self._tasks if not t.done()]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for session in list(self.rooms.values()):
            if session.media is not None:
                await session.media.close()

    async def drop_connection(self) -> None:
        """Close the socket as a network failure would (tests); it then reconnects."""
        if self._ws is not None:
            await self._ws.close(code=4000)

    # --- requests -------------------------------------------------------------------------

    async def send(self, msg: dict[str, Any]) -> None:
        if self._ws is None:
            raise RealtimeError(0, "connection_failed", "not connected")
        await self._ws.send(orjson.dumps(msg).decode())

    async def request(self, msg: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
        await asyncio.wait_for(self._connected.wait(), timeout)
        ref = f"r{next(self._refs)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = fut
        try:
            await self.send({**msg, "ref": ref})
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(ref, None)

    async def watch_hallway(self, on: bool = True) -> None:
        """Receive the hallway now and whenever it changes (``self.hallway``)."""
        await self.request({"type": "hallway.subscribe", "subscribe": on})

    async def next_hallway(self, timeout: float = 10.0) -> dict[str, Any]:
        self._hallway_changed.clear()
        await asyncio.wait_for(self._hallway_changed.wait(), timeout)
        assert self.hallway is not None
        return self.hallway

    async def join(self, room_id: int, *, media: PeerMedia | None = None,
                   on_invite: Literal["accept", "decline", "ignore"] = "ignore",
                   listen_only: bool = False) -> RoomSession:
        """Join a room. ``on_invite`` answers invitations to speak by itself."""
        session = RoomSession(self, room_id, media=media, on_invite=on_invite)
        self.rooms[room_id] = session
        try:
            await self.request({"type": "room.join", "room_id": room_id,
                                "media": media is not None and not listen_only})
        except BaseException:
            self.rooms.pop(room_id, None)
            raise
        return session

    # --- reading --------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.2
        while not self._closed:
            ws = self._ws
            if ws is not None:
                try:
                    async for raw in ws:
                        self._dispatch(orjson.loads(raw))
                except ConnectionClosed:
                    pass
                if ws.close_code == 4401:
                    # The session ended (logout elsewhere, password reset, ban): stop here.
                    self.session_ended = True
                    self._connected.clear()
                    for fut in self._pending.values():
                        if not fut.done():
                            fut.set_exception(RealtimeError(0, "not_authenticated",
                                                            "the session has ended"))
                    for session in list(self.rooms.values()):
                        session.left = "session_ended"
                        await session._notify()
                    return
            self._connected.clear()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(RealtimeError(0, "connection_lost", "connection lost"))
            if self._closed or not self.reconnect:
                return
            while not self._closed:
                await asyncio.sleep(backoff)
                try:
                    await self._open()
                except (RealtimeError, ConnectionClosed, OSError) as exc:
                    log.info("reconnect failed: %s", exc)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.2
                self.reconnects += 1
                self._spawn(self._resume())
                break

    async def _resume(self) -> None:
        for session in list(self.rooms.values()):
            msg: dict[str, Any] = {"type": "room.join", "room_id": session.room_id,
                                   "media": session.media is not None}
            if session.snapshot is not None:
                msg["since_seq"] = session.snapshot.seq
            try:
                await self.request(msg)
            except ApiError as exc:
                session.left = exc.code
                await session._notify()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _resolve(self, ref: Any, msg: dict[str, Any], error: bool = False) -> None:
        fut = self._pending.get(ref) if isinstance(ref, str) else None
        if fut is None or fut.done():
            return
        if error:
            fut.set_exception(RealtimeError(0, str(msg.get("code")), str(msg.get("message"))))
        else:
            fut.set_result(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        room_id = msg.get("room_id")
        if kind == "room.snapshot":
            snap = ev.RoomSnapshot.model_validate(msg["snapshot"])
            session = self.rooms.get(snap.room.id)
            if session is not None:
                session.snapshot = snap
                self._emit(session, "snapshot", msg)
                self._spawn(session._notify())
            self._resolve(msg.get("ref"), msg)
        elif kind == "room.event":
            session = self.rooms.get(int(room_id)) if isinstance(room_id, int) else None
            if session is not None:
                self._apply(session, ev.RoomEventEnvelope.model_validate(
                    {k: v for k, v in msg.items() if k != "type"}))
        elif kind == "media.offer":
            session = self.rooms.get(int(room_id)) if isinstance(room_id, int) else None
            if session is not None and session.media is not None:
                self._spawn(self._answer(session, msg))
        elif kind == "media.state":
            session = self.rooms.get(int(room_id)) if isinstance(room_id, int) else None
            if session is not None:
                session.media_states.append(str(msg.get("state")))
                self._emit(session, "media", msg)
                if msg.get("state") == "failed" and session.media is not None:
                    # The PeerConnection died (network change): ask for a fresh offer.
                    self._spawn(self._restart_media(session))
        elif kind == "room.left":
            session = self.rooms.pop(int(room_id), None) if isinstance(room_id, int) else None
            if session is not None:
                session.left = str(msg.get("reason"))
                self._emit(session, "left", msg)
                self._spawn(session._notify())
            self._resolve(msg.get("ref"), msg)
        elif kind == "room.speaking":
            session = self.rooms.get(int(room_id)) if isinstance(room_id, int) else None
            if session is not None:
                session.speaking = frozenset(int(i) for i in msg.get("speaking", []))
                self._emit(session, "speaking", msg)
                self._spawn(session._notify())
        elif kind == "hallway":
            self.hallway = msg
            self._hallway_changed.set()
        elif kind == "notification":
            self.notifications.append(msg["notification"])
            if self.on_notification is not None:
                self.on_notification(msg["notification"])
        elif kind in ("ack", "pong", "welcome"):
            self._resolve(msg.get("ref"), msg)
        elif kind == "error":
            if msg.get("ref"):
                self._resolve(msg.get("ref"), msg, error=True)
            else:
                log.warning("server error: %s %s", msg.get("code"), msg.get("message"))

    def _apply(self, session: RoomSession, envelope: ev.RoomEventEnvelope) -> None:
        if session.snapshot is None or envelope.seq <= session.snapshot.seq:
            return
        try:
            session.snapshot = ev.apply(session.snapshot, envelope)
        except ev.SequenceGap:
            # Missed something: ask for a replay from where we are.
            self._spawn(self._rejoin(session))
            return
        event = envelope.event
        self._emit(session, event.type, event.model_dump(mode="json"))
        me = self.member["id"] if self.member else None
        if isinstance(event, ev.SpeakInvited) and event.member.id == me and \
                session.on_invite != "ignore":
            self._spawn(session.answer_invite(session.on_invite == "accept"))
        if isinstance(event, ev.ChatMessage):
            session.chat.append(event)
        elif isinstance(event, ev.ChatDeleted):
            session.chat = [m for m in session.chat if m.message_id != event.message_id]
        elif isinstance(event, ev.Reaction):
            session.reactions.append(event)
        if isinstance(event, ev.MemberRemoved) and event.member_id == me:
            session.left = "removed"
            self.rooms.pop(session.room_id, None)
            if session.media is not None:
                self._spawn(session.media.close())
        if isinstance(event, ev.RoomEnded):
            session.left = "ended"
            self.rooms.pop(session.room_id, None)
            if session.media is not None:
                self._spawn(session.media.close())
        self._spawn(session._notify())

    async def _restart_media(self, session: RoomSession) -> None:
        await asyncio.sleep(0.5)
        if session.left is None and self.rooms.get(session.room_id) is session:
            try:
                await session.restart_media()
            except ApiError as exc:
                log.info("media restart refused: %s", exc)

    async def _rejoin(self, session: RoomSession) -> None:
        if session.snapshot is not None:
            await self.send({"type": "room.sync", "room_id": session.room_id,
                             "since_seq": session.snapshot.seq})

    async def _answer(self, session: RoomSession, msg: dict[str, Any]) -> None:
        media = session.media
        assert media is not None
        async with session._media_lock:
            media.ice_servers = list(msg.get("ice_servers") or [])
            try:
                sdp = await media.answer(str(msg["sdp"]), str(msg["mode"]))
                await self.request({"type": "media.answer", "room_id": session.room_id,
                                    "media_id": msg["media_id"], "sdp": sdp})
            except ApiError as exc:
                log.warning("media answer refused: %s", exc)
            except Exception:
                log.exception("answering a media offer failed")
        self._emit(session, "media_offer", {"mode": msg.get("mode")})

    def _emit(self, session: RoomSession, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            try:
                self.on_event(session, kind, data)
            except Exception:
                log.exception("event callback failed")
