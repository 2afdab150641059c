"""One client's WebSocket: authentication, room presence, event delivery, media signalling.

States (:class:`ConnState`): OPEN -> READY (after ``hello``) -> CLOSED. Inside, the reader
(client messages, one at a time) and the media worker (brings this member's media in each room
in line with their seat, one room at a time) run in one task group. Sending never waits: a
frame goes straight to the transport (ruang.api.ws.server), and a client too slow to take it
is disconnected; it reconnects and resumes from its last sequence number.

A client message never breaks the connection: malformed, oversized or forbidden ones get an
``error`` frame with a stable code (errors.py) and the connection goes on.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ValidationError

from ruang.actions import chat, stage
from ruang.actions import members as member_actions
from ruang.actions import rooms as room_actions
from ruang.actions.members import MemberInfo
from ruang.api.ws import protocol as pr
from ruang.api.ws.server import BadFrame, ClientSocket, TooSlow
from ruang.domain.rooms import Role, RoomState, Seat
from ruang.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, RuangError
from ruang.events import models as ev
from ruang.events.frame import Frame
from ruang.events.hub import encode_event
from ruang.ids import MediaId, MemberId, RoomId
from ruang.logs import bind
from ruang.media.engine import LinkMode, LinkState, MediaError, MediaLink
from ruang.storage.db import StorageUnavailable

if TYPE_CHECKING:
    from ruang.app import Runtime

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
# Close codes the server uses (4000-4999 are the application's; see docs/protocol.md).
CLOSE_SESSION_ENDED = 4401  # the session was revoked, or no hello: log in again
CLOSE_TOO_SLOW = 4408       # the client did not keep up: reconnect and resume


class ConnState(enum.Enum):
    OPEN = "open"
    READY = "ready"
    CLOSED = "closed"


class Disconnected(Exception):
    """The client went away."""


@dataclass(eq=False)
class Presence:
    """This connection in one room; also its subscriber in the hub."""

    conn: Connection
    room_id: int
    want_media: bool
    seq: int | None = None  # None until the snapshot (or replay) went out
    held: list[tuple[ev.RoomEventEnvelope, Frame]] = field(default_factory=list)
    seat: Seat | None = None
    link: MediaLink | None = None
    ended: bool = False

    def deliver(self, envelope: ev.RoomEventEnvelope, frame: Frame) -> None:
        self.conn._deliver(self, envelope, frame)

    def deliver_ephemeral(self, frame: Frame) -> None:
        if self.seq is not None and not self.ended:
            self.conn.send(frame)


class Connection:
    def __init__(self, runtime: Runtime, socket: ClientSocket) -> None:
        self.runtime = runtime
        self.socket = socket
        self.state = ConnState.OPEN
        self.member: MemberInfo | None = None
        self.rooms: dict[int, Presence] = {}
        self._media_jobs: asyncio.Queue[int | None] = asyncio.Queue()
        self._closing = False
        self._kill = asyncio.Event()
        # How the server ends the socket when it decides to (CLOSE_* codes above).
        self._close_code = CLOSE_TOO_SLOW
        self.max_bytes = runtime.settings.ws_max_message_bytes

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self, handshake_token: str | None) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._media_worker())
                tg.create_task(self._watch_kill())
                await self._read_loop(handshake_token)
        except* TooSlow:
            self.socket.close(self._close_code)
        except* Disconnected:
            pass
        finally:
            self.state = ConnState.CLOSED
            self.socket.close(1000)
            await self._cleanup()

    async def _cleanup(self) -> None:
        self.runtime.live.forget(self)
        if self.member is not None:
            self.runtime.detach_member(self, self.member.id)
        for presence in list(self.rooms.values()):
            await self._drop_presence(presence, keep_place=True)
        self.rooms.clear()

    def revoke(self) -> None:
        """The session this connection uses ended (logout, password reset, ban): close."""
        if self._closing:
            return
        self.send_model(pr.ErrorMessage(code="not_authenticated",
                                        message="your session has ended; log in again"))
        self._closing = True
        self._close_code = CLOSE_SESSION_ENDED
        self._kill.set()

    def send(self, frame: Frame) -> None:
        """Send now; a client that does not keep up is disconnected (it resumes later)."""
        if self._closing:
            return
        try:
            self.socket.write(frame)
        except TooSlow:
            self._closing = True
            self._kill.set()
            log.warning("closing a connection that does not keep up",
                        extra={"member_id": self.member.id if self.member else None})

    async def _watch_kill(self) -> None:
        await self._kill.wait()
        raise TooSlow()

    def send_model(self, msg: BaseModel) -> None:
        self.send(Frame(msg.model_dump_json()))

    def send_text(self, text: str) -> None:
        self.send(Frame(text))

    # --- reading --------------------------------------------------------------------------

    async def _read_loop(self, handshake_token: str | None) -> None:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                while self.state is ConnState.OPEN:
                    await self._read_one(handshake_token)
        except TimeoutError:
            self.send_model(pr.ErrorMessage(code="not_authenticated",
                                            message="send hello first"))
            self._close_code = CLOSE_SESSION_ENDED
            raise TooSlow() from None
        while True:
            await self._read_one(handshake_token)

    async def _read_one(self, handshake_token: str | None) -> None:
        data = await self.socket.receive()
        if data is None:
            raise Disconnected()
        if isinstance(data, BadFrame):
            self.send_model(pr.ErrorMessage(code=data.code, message=data.message))
            return
        if len(data) > self.max_bytes // 4 and len(data.encode()) > self.max_bytes:
            self.send_model(pr.ErrorMessage(
                code="message_too_large",
                message=f"messages are limited to {self.max_bytes} bytes"))
            return
        ref = None
        parsed: Any = None
        try:
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise InvalidInput("bad_message", "a message is one JSON object") from None
            if isinstance(parsed, dict) and isinstance(parsed.get("ref"), str):
                ref = parsed["ref"][:64]
            try:
                msg = pr.client_message.validate_python(parsed)
            except ValidationError as exc:
                raise InvalidInput("bad_message", _validation_summary(exc)) from None
            ref = msg.ref
            await self._handle(msg, handshake_token)
        except RuangError as exc:
            room_id = parsed.get("room_id") if isinstance(parsed, dict) else None
            self.send_model(pr.ErrorMessage(code=exc.code, message=exc.message, ref=ref,
                                            room_id=room_id if isinstance(room_id, int)
                                            else None))
        except MediaError as exc:
            code = exc.code if exc.code != "media_error" else "media_unavailable"
            self.send_model(pr.ErrorMessage(code=code, message=str(exc), ref=ref))
        except StorageUnavailable:
            self.send_model(pr.ErrorMessage(code="storage_unavailable",
                                            message="the database is unavailable; try again",
                                            ref=ref))
        except (Disconnected, TooSlow, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("WebSocket message failed")
            self.send_model(pr.ErrorMessage(code="internal_error",
                                            message="something went wrong on the server",
                                            ref=ref))

    async def _handle(self, msg: Any, handshake_token: str | None) -> None:
        if isinstance(msg, pr.Hello):
            await self._hello(msg, handshake_token)
            return
        if isinstance(msg, pr.Ping):
            self.send_model(pr.Pong(ref=msg.ref))
            return
        if self.state is not ConnState.READY or self.member is None:
            raise NotAuthenticated("not_authenticated", "send hello first")
        with bind(member_id=self.member.id, room_id=getattr(msg, "room_id", None)):
            if isinstance(msg, pr.JoinRoom):
                await self._join(msg)
            elif isinstance(msg, pr.SyncRoom):
                await self._sync(msg)
            elif isinstance(msg, pr.LeaveRoom):
                await self._leave(msg)
            elif isinstance(msg, pr.MediaAnswer):
                link = self._link(msg.room_id)
                await link.answer(MediaId(msg.media_id), msg.sdp)
                self.send_model(pr.Ack(ref=msg.ref))
            elif isinstance(msg, pr.MediaCandidate):
                link = self._link(msg.room_id)
                await link.candidate(MediaId(msg.media_id),
                                     msg.candidate.model_dump() if msg.candidate else None)
            elif isinstance(msg, pr.MediaRestart):
                link = self._link(msg.room_id)
                await link.restart()
                self.send_model(pr.Ack(ref=msg.ref))
            elif isinstance(msg, pr.HallwaySubscribe):
                await self.runtime.live.subscribe(self, msg.subscribe)
                self.send_model(pr.Ack(ref=msg.ref))
            else:
                await self._room_action(msg)
                self.send_model(pr.Ack(ref=msg.ref))

    async def _room_action(self, msg: Any) -> None:
        """Member actions inside a room that are one action each (actions/stage, chat)."""
        assert self.member is not None
        svc, me = self.runtime.svc, self.member
        self._presence(msg.room_id)
        if isinstance(msg, pr.SelfMute):
            await stage.set_self_muted(svc, msg.room_id, me, msg.muted)
        elif isinstance(msg, pr.StageAnswer):
            await stage.answer_invite(svc, msg.room_id, me, msg.accept)
        elif isinstance(msg, pr.LeaveStage):
            await stage.move_to_audience(svc, msg.room_id, me, me.id)
        elif isinstance(msg, pr.Hand):
            if msg.raised:
                await stage.raise_hand(svc, msg.room_id, me)
            else:
                await stage.lower_hand(svc, msg.room_id, me)
        elif isinstance(msg, pr.ChatSend):
            await chat.send(svc, msg.room_id, me, msg.text)
        elif isinstance(msg, pr.ChatDelete):
            await chat.delete(svc, msg.room_id, me, msg.message_id)
        elif isinstance(msg, pr.React):
            await chat.react(svc, msg.room_id, me, msg.emoji)
        else:  # pragma: no cover - the union above is exhaustive
            raise InvalidInput("bad_message", "unknown message")

    async def _hello(self, msg: pr.Hello, handshake_token: str | None) -> None:
        if self.state is not ConnState.OPEN:
            raise InvalidInput("bad_message", "hello was already sent")
        if msg.protocol != pr.PROTOCOL_VERSION:
            raise InvalidInput("unsupported_protocol",
                               f"this server speaks protocol {pr.PROTOCOL_VERSION}")
        token = msg.token or handshake_token
        if not token:
            raise NotAuthenticated("not_authenticated", "log in first")
        self.member = await member_actions.authenticate(self.runtime.svc, token)
        await self.runtime.attach_member(self, self.member.id)
        self.state = ConnState.READY
        self.send_model(pr.Welcome(member=pr.MemberRef(id=self.member.id,
                                                       username=self.member.username,
                                                       display_name=self.member.display_name),
                                   ref=msg.ref))

    def _presence(self, room_id: int) -> Presence:
        presence = self.rooms.get(room_id)
        if presence is None:
            raise Forbidden("not_in_room", "join the room first")
        if presence.ended:
            raise Conflict("room_ended", "this room has ended")
        return presence

    def _link(self, room_id: int) -> MediaLink:
        presence = self._presence(room_id)
        if presence.link is None:
            raise Conflict("stale_media", "no media negotiation is under way in this room")
        return presence.link

    # --- rooms ----------------------------------------------------------------------------

    async def _join(self, msg: pr.JoinRoom) -> None:
        assert self.member is not None
        svc = self.runtime.svc
        old = self.rooms.get(msg.room_id)
        if old is not None and not old.ended:
            raise InvalidInput("bad_message", "this connection is already in that room")
        if old is not None:
            self.runtime.hub.detach(msg.room_id, old)
        presence = Presence(self, msg.room_id, msg.media)
        self.rooms[msg.room_id] = presence
        await self.runtime.hub.attach(msg.room_id, presence)
        # Claim the place before writing the join: an older connection of this member that is
        # going away then sees it is held and does not mark the member disconnected.
        self.runtime.take_presence(msg.room_id, self.member.id, self)
        try:
            await room_actions.join_room(svc, msg.room_id, self.member)
            snap = await self._send_state(msg.room_id, msg.since_seq, msg.ref)
        except BaseException:
            self.runtime.hub.detach(msg.room_id, presence)
            self.rooms.pop(msg.room_id, None)
            self.runtime.release_presence(msg.room_id, self.member.id, self)
            raise
        mine = snap.on_stage(self.member.id)
        presence.seat = Seat(mine.role, mine.self_muted, mine.mod_muted) if mine \
            else Seat(Role.LISTENER)
        presence.seq = snap.seq
        held, presence.held = presence.held, []
        for envelope, frame in held:
            self._deliver(presence, envelope, frame)
        if snap.room.state is RoomState.ENDED:
            presence.ended = True
        elif presence.want_media:
            self._media_jobs.put_nowait(msg.room_id)

    async def _send_state(self, room_id: int, since_seq: int | None,
                          ref: str | None) -> ev.RoomSnapshot:
        """Send what follows ``since_seq`` (a replay) or, when that cannot be, a snapshot."""
        svc = self.runtime.svc
        snap = await room_actions.snapshot(svc, room_id)
        replay: list[ev.RoomEventEnvelope] | None = None
        gap = snap.seq - since_seq if since_seq is not None else -1
        if 0 <= gap <= 1000:
            replay = await room_actions.events_since(svc, room_id, snap.seq - gap, limit=gap)
            if len(replay) != gap:
                replay = None
        if replay is not None:
            for envelope in replay:
                self.send(Frame(encode_event(envelope)))
            self.send_model(pr.Ack(ref=ref))
        else:
            self.send_model(pr.Snapshot(snapshot=snap, ref=ref))
        return snap

    async def _sync(self, msg: pr.SyncRoom) -> None:
        presence = self._presence(msg.room_id)
        if presence.seq is None:
            raise InvalidInput("bad_message", "the room is still being joined")
        await self._send_state(msg.room_id, msg.since_seq, msg.ref)

    async def _leave(self, msg: pr.LeaveRoom) -> None:
        assert self.member is not None
        presence = self._presence(msg.room_id)
        await self._drop_presence(presence, keep_place=False)
        self.send_model(pr.Left(room_id=msg.room_id, reason="left", ref=msg.ref))

    async def _drop_presence(self, presence: Presence, *, keep_place: bool) -> None:
        """Stop following the room; leave it, or keep the place for the grace period."""
        assert self.member is not None
        self.rooms.pop(presence.room_id, None)
        self.runtime.hub.detach(presence.room_id, presence)
        link, presence.link = presence.link, None
        if link is not None:
            await link.close()
        if not self.runtime.release_presence(presence.room_id, self.member.id, self):
            return  # another connection of this member holds the place now
        if presence.ended:
            return
        try:
            if keep_place:
                room_id, member_id = presence.room_id, self.member.id
                await room_actions.set_connected(
                    self.runtime.svc, room_id, member_id, False,
                    unless=lambda: self.runtime.holds_presence(room_id, member_id))
            else:
                await room_actions.leave_room(self.runtime.svc, presence.room_id,
                                              self.member.id)
        except (RuangError, StorageUnavailable) as exc:
            log.info("presence cleanup skipped: %s", exc)

    async def replaced(self, room_id: int) -> None:
        """Another connection of the same member joined this room: give it up quietly."""
        presence = self.rooms.pop(room_id, None)
        if presence is None or self.member is None:
            return
        self.runtime.hub.detach(room_id, presence)
        if presence.link is not None:
            link, presence.link = presence.link, None
            await link.close()
        self.send_model(pr.Left(room_id=room_id, reason="replaced"))

    # --- events ---------------------------------------------------------------------------

    def _deliver(self, presence: Presence, envelope: ev.RoomEventEnvelope,
                 frame: Frame) -> None:
        if presence.seq is None:
            presence.held.append((envelope, frame))
            return
        if envelope.seq <= presence.seq:
            return
        presence.seq = envelope.seq
        self.send(frame)
        # The hot path ends here for most deliveries: the event is about someone else.
        event = envelope.event
        me = self.member.id if self.member else None
        if ev.subject_of(event) != me and event.type != "room_ended":
            return
        if isinstance(event, ev.RoomEnded):
            presence.ended = True
            presence.seat = None
            self._media_jobs.put_nowait(presence.room_id)
            return
        if isinstance(event, ev.MemberJoined | ev.RoleChanged) and event.member.id == me:
            m = event.member
            presence.seat = Seat(m.role, m.self_muted, m.mod_muted)
        elif isinstance(event, ev.MuteChanged) and event.member_id == me and presence.seat:
            presence.seat = Seat(presence.seat.role, event.self_muted, event.mod_muted)
        elif isinstance(event, ev.MemberLeft | ev.MemberRemoved) and event.member_id == me:
            presence.seat = None
            presence.ended = True
            if isinstance(event, ev.MemberRemoved):
                self.send_model(pr.Left(room_id=presence.room_id, reason="removed"))
        else:
            return
        if presence.want_media or presence.link is not None:
            self._media_jobs.put_nowait(presence.room_id)

    # --- media ----------------------------------------------------------------------------

    async def _media_worker(self) -> None:
        while True:
            room_id = await self._media_jobs.get()
            if room_id is None:
                return
            presence = self.rooms.get(room_id)
            if presence is None or not presence.want_media or self.member is None:
                continue
            try:
                await self._reconcile_media(presence)
            except (MediaError, RuangError) as exc:
                code = getattr(exc, "code", "media_unavailable")
                self.send_model(pr.MediaState(room_id=room_id, media_id=None, state="waiting",
                                              error={"code": code, "message": str(exc)}))
            except Exception:
                log.exception("media reconcile failed", extra={"room_id": room_id})

    async def _reconcile_media(self, presence: Presence) -> None:
        assert self.member is not None
        engine = self.runtime.engine
        seat = presence.seat
        if presence.ended or seat is None:
            if presence.link is not None:
                link, presence.link = presence.link, None
                await link.close()
            return
        if engine is None:
            self.send_model(pr.MediaState(
                room_id=presence.room_id, media_id=None, state="waiting",
                error={"code": "media_unavailable",
                       "message": "this server runs without a media server"}))
            presence.want_media = False
            return
        if presence.link is None:
            presence.link = engine.link(RoomId(presence.room_id), MemberId(self.member.id),
                                        self)
        mode = LinkMode.SPEAK if seat.on_stage else LinkMode.LISTEN
        await presence.link.want(mode, seat.self_muted or seat.mod_muted)

    # SignalSink (called by the media engine)
    async def media_offer(self, room_id: RoomId, media_id: MediaId, mode: LinkMode,
                          sdp: str) -> None:
        self.send_model(pr.MediaOffer(room_id=room_id, media_id=media_id, mode=mode.value,
                                      sdp=sdp, ice_servers=self.runtime.ice_servers()))

    async def media_state(self, room_id: RoomId, media_id: MediaId | None, state: LinkState,
                          error: MediaError | None = None) -> None:
        self.send_model(pr.MediaState(
            room_id=room_id, media_id=media_id, state=state.value,
            error={"code": error.code, "message": str(error)} if error else None))


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "invalid message: " + "; ".join(parts)
