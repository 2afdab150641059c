"""The media engine: Ruang rooms on a Janus node.

A live room is, on Janus, one AudioBridge room (the stage: speakers publish, 48 kHz mix) whose
mix is RTP-forwarded into one Streaming mountpoint (the audience: a listener costs a packet
copy, not an Opus encode). Each member's media in a room is a :class:`MediaLink`: it listens
(Streaming ``watch``) or speaks (AudioBridge ``join``), and switching role replaces the one
with the other. Janus always makes the offer; the client only answers, so clients never see
a Janus session, handle, room secret or admin key.

The engine keeps one Janus session open (:meth:`MediaEngine.run`). When it is lost (Janus
restarted by the supervisor, or an external Janus went away), the engine opens a new one,
re-creates the media of every open room, and every link negotiates again by itself; clients
receive a fresh ``media.offer`` and answer it without user action.

Error tree::

    MediaError
    ├── MediaUnavailable   Janus is down or unreachable right now (retry later)
    ├── StaleMedia         an answer/candidate for a negotiation that is no longer current
    └── MediaRejected      Janus refused the request (bad SDP, unknown participant...)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from ruang.ids import MediaId, MemberId, RoomId
from ruang.media.janus import protocol as jp
from ruang.media.janus.client import JanusHandle, JanusSession
from ruang.media.janus.transport import TransportFactory, websocket_factory

log = logging.getLogger(__name__)

AUDIOBRIDGE = "janus.plugin.audiobridge"
STREAMING = "janus.plugin.streaming"
OPUS_PT = 111


class MediaError(Exception):
    code = "media_error"


class MediaUnavailable(MediaError):
    code = "media_unavailable"


class StaleMedia(MediaError):
    code = "stale_media"


class MediaRejected(MediaError):
    code = "media_rejected"


class LinkMode(enum.Enum):
    LISTEN = "listen"
    SPEAK = "speak"


class LinkState(enum.Enum):
    IDLE = "idle"            # nothing negotiated yet
    WAITING = "waiting"      # wants media but Janus is unavailable
    OFFERED = "offered"      # offer sent to the client, waiting for its answer
    ANSWERED = "answered"    # answer given to Janus, waiting for ICE/DTLS
    CONNECTED = "connected"  # Janus reports the PeerConnection up
    FAILED = "failed"        # the PeerConnection went down; the client may ask for a restart
    CLOSED = "closed"        # the link is finished for good


@dataclass(frozen=True)
class JanusNode:
    url: str
    api_secret: str | None
    audiobridge_admin_key: str | None
    streaming_admin_key: str | None
    forward_host: str = "127.0.0.1"


@dataclass(frozen=True)
class MediaOptions:
    prebuffer: int = 2            # AudioBridge packets (20 ms each) queued per speaker
    expected_loss: int = 0        # Opus in-band FEC in the mix (0 disables)
    request_timeout: float = 10.0
    mountpoint_threads: int = 0   # extra relay threads per mountpoint (0: Janus's default)
    talk_packets: int = 6         # talking is decided over 6 packets (120 ms)
    talk_level: int = 40          # average level (dBov, 0 loud .. 127 silent) that is talking


class SignalSink(Protocol):
    """Where a link sends what its client must hear (the WebSocket connection)."""

    async def media_offer(self, room_id: RoomId, media_id: MediaId, mode: LinkMode,
                          sdp: str) -> None: ...

    async def media_state(self, room_id: RoomId, media_id: MediaId | None, state: LinkState,
                          error: MediaError | None = None) -> None: ...


@dataclass
class RoomMedia:
    room_id: RoomId
    secret: str
    generation: int
    mountpoint_port: int = 0
    forwarder: int | None = None


@dataclass
class _Desired:
    mode: LinkMode
    muted: bool


class MediaLink:
    """One member's media in one room, as negotiated through one client connection."""

    def __init__(self, engine: MediaEngine, room_id: RoomId, member_id: MemberId,
                 sink: SignalSink) -> None:
        self.engine = engine
        self.room_id = room_id
        self.member_id = member_id
        self.sink = sink
        self.state = LinkState.IDLE
        self.mode: LinkMode | None = None
        self.media_id: MediaId | None = None
        self._desired: _Desired | None = None
        self._handle: JanusHandle | None = None
        self._generation = -1
        self._participant: int | None = None  # AudioBridge participant id while speaking
        self._muted_applied: bool | None = None
        self._lock = asyncio.Lock()

    @property
    def muted(self) -> bool | None:
        return self._muted_applied

    async def want(self, mode: LinkMode, muted: bool) -> None:
        """Set what this member should have (from their role and mute state) and make it so."""
        self._desired = _Desired(mode, muted)
        await self.reconcile()

    async def restart(self) -> None:
        """Renegotiate from scratch (the client's PeerConnection failed or it asked)."""
        async with self._lock:
            await self._teardown()
        await self.reconcile()

    async def reconcile(self) -> None:
        # What the client must be told is sent after the lock is released, so that a sink
        # answering straight away (the SDK in-process, tests) cannot deadlock on the lock.
        outbox: list[Coroutine[Any, Any, None]] = []
        async with self._lock:
            if self.state is LinkState.CLOSED or self._desired is None:
                return
            want = self._desired
            try:
                if self._handle is not None and (self._generation != self.engine.generation
                                                 or self.mode is not want.mode):
                    await self._teardown()
                if self._handle is None:
                    sdp = await self._setup(want)
                    assert self.media_id is not None
                    outbox.append(self.sink.media_offer(self.room_id, self.media_id, want.mode,
                                                        sdp))
                elif want.mode is LinkMode.SPEAK and self._muted_applied != want.muted:
                    await self.engine._set_muted(self.room_id, self._participant, want.muted)
                    self._muted_applied = want.muted
                    if want.muted and self._participant is not None:
                        # A muted participant sends no more talking events: stop the ring.
                        self.engine._talking(self.room_id, self._participant, False)
            except (MediaUnavailable, jp.JanusTransportError, jp.JanusTimeout) as exc:
                await self._teardown()
                self.state = LinkState.WAITING
                err = exc if isinstance(exc, MediaError) else MediaUnavailable(str(exc))
                outbox.append(self.sink.media_state(self.room_id, None, LinkState.WAITING, err))
        for send in outbox:
            await send

    async def _setup(self, want: _Desired) -> str:
        """Attach and ask Janus for an offer; returns the offer SDP for the client."""
        engine = self.engine
        session = engine._require_session()
        room = await engine.open_room(self.room_id)
        generation = engine.generation
        handle = await session.attach(
            AUDIOBRIDGE if want.mode is LinkMode.SPEAK else STREAMING,
            listener=self._on_janus)
        try:
            if want.mode is LinkMode.LISTEN:
                data, jsep = await handle.message({"request": "watch",
                                                   "id": int(room.room_id)})
            else:
                data, jsep = await handle.message({
                    "request": "join", "room": int(room.room_id),
                    "display": str(self.member_id), "muted": want.muted,
                    "prebuffer": engine.options.prebuffer, "generate_offer": True,
                    "expected_loss": engine.options.expected_loss})
                pid = data.get("id")
                self._participant = pid if isinstance(pid, int) else None
                self._muted_applied = want.muted
        except BaseException:
            with contextlib.suppress(jp.JanusError):
                await handle.detach()
            raise
        if jsep is None or jsep.get("type") != "offer" or not isinstance(jsep.get("sdp"), str):
            await handle.detach()
            raise MediaRejected(f"Janus gave no offer for {want.mode.value}")
        self._handle = handle
        self._generation = generation
        self.mode = want.mode
        self.media_id = MediaId(secrets.token_urlsafe(9))
        self.state = LinkState.OFFERED
        return str(jsep["sdp"])

    async def _teardown(self) -> None:
        handle, self._handle = self._handle, None
        if self._participant is not None:
            self.engine._talking(self.room_id, self._participant, False)
        self._participant = None
        self._muted_applied = None
        self.mode = None
        if handle is not None:
            with contextlib.suppress(jp.JanusError):
                await handle.detach()
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.IDLE

    def _check(self, media_id: MediaId) -> JanusHandle:
        if self.state is LinkState.CLOSED:
            raise StaleMedia("this media link is closed")
        if self._handle is None or media_id != self.media_id:
            raise StaleMedia(f"media {media_id} is not the current negotiation")
        return self._handle

    async def answer(self, media_id: MediaId, sdp: str) -> None:
        async with self._lock:
            handle = self._check(media_id)
            if self.state is not LinkState.OFFERED:
                raise StaleMedia(f"media {media_id} was already answered")
            body = ({"request": "start"} if self.mode is LinkMode.LISTEN
                    else {"request": "configure"})
            try:
                await handle.message(body, {"type": "answer", "sdp": sdp})
            except jp.JanusApiError as exc:
                raise MediaRejected(exc.reason) from exc
            except (jp.JanusTransportError, jp.JanusTimeout) as exc:
                raise MediaUnavailable(str(exc)) from exc
            if self.state is LinkState.OFFERED:
                self.state = LinkState.ANSWERED

    async def candidate(self, media_id: MediaId, candidate: dict[str, Any] | None) -> None:
        handle = self._check(media_id)
        try:
            await handle.trickle(candidate)
        except jp.JanusApiError as exc:
            raise MediaRejected(exc.reason) from exc
        except (jp.JanusTransportError, jp.JanusTimeout) as exc:
            raise MediaUnavailable(str(exc)) from exc

    async def close(self) -> None:
        async with self._lock:
            await self._teardown()
            self.state = LinkState.CLOSED
        self.engine._links.discard(self)

    def _on_janus(self, msg: jp.Event | jp.HandleNotice) -> None:
        if isinstance(msg, jp.Event):
            talk = msg.data.get("audiobridge")
            pid = msg.data.get("id")
            if talk in ("talking", "stopped-talking") and isinstance(pid, int):
                self.engine._talking(self.room_id, pid, talk == "talking")
            return
        if msg.kind == "webrtcup":
            self.engine._spawn(self._set_state(LinkState.CONNECTED))
        elif msg.kind == "hangup":
            self.engine._spawn(self._set_state(LinkState.FAILED))

    async def _set_state(self, state: LinkState) -> None:
        media_id = self.media_id
        if self.state in (LinkState.CLOSED, LinkState.IDLE, LinkState.WAITING):
            return
        self.state = state
        await self.sink.media_state(self.room_id, media_id, state)


@dataclass
class _EngineStats:
    sessions_opened: int = 0
    rooms_created: int = 0


class MediaEngine:
    def __init__(self, node: JanusNode, options: MediaOptions | None = None, *,
                 connect: TransportFactory | None = None) -> None:
        self.node = node
        self.options = options or MediaOptions()
        self._connect = connect or websocket_factory(node.url)
        self._session: JanusSession | None = None
        self._ab: JanusHandle | None = None
        self._st: JanusHandle | None = None
        self.generation = 0
        self._up = asyncio.Event()
        self._rooms: dict[RoomId, RoomMedia] = {}
        self._room_locks: dict[RoomId, asyncio.Lock] = {}
        self._links: set[MediaLink] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.last_error: str | None = None
        self.stats = _EngineStats()
        # Who is talking per room (AudioBridge participant ids); on_speaking gets member ids.
        self._talkers: dict[RoomId, set[int]] = {}
        self.on_speaking: Callable[[RoomId, list[int]], None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    async def wait_up(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._up.wait()
            return True
        except TimeoutError:
            return False

    async def run(self) -> None:
        """Keep a Janus session open until cancelled; rebuild media after every reconnect."""
        backoff = 0.1
        while not self._stopping:
            try:
                session = await JanusSession.open(
                    self._connect, api_secret=self.node.api_secret,
                    request_timeout=self.options.request_timeout)
            except jp.JanusError as exc:
                self.last_error = str(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            try:
                self._ab = await session.attach(AUDIOBRIDGE)
                self._st = await session.attach(STREAMING)
            except jp.JanusError as exc:
                self.last_error = str(exc)
                await session.close()
                await asyncio.sleep(backoff)
                continue
            backoff = 0.1
            self.stats.sessions_opened += 1
            self._session = session
            self.generation += 1
            self.last_error = None
            log.info("media engine connected to Janus",
                     extra={"generation": self.generation, "url": self.node.url})
            self._up.set()
            for link in list(self._links):
                self._spawn(link.reconcile())
            try:
                self.last_error = await session.wait_closed()
            finally:
                self._up.clear()
                self._session = None
                self._rooms.clear()
                self._talkers.clear()
                await session.close()
            if not self._stopping:
                log.warning("media engine lost Janus; reconnecting",
                            extra={"reason": self.last_error})
                for link in list(self._links):
                    self._spawn(link.reconcile())

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media task failed", exc_info=task.exception())

    def health(self) -> dict[str, object]:
        return {"janus": "up" if self.is_up else "down", "url": self.node.url,
                "generation": self.generation, "rooms": len(self._rooms),
                "links": len(self._links), "error": self.last_error}

    # --- rooms ----------------------------------------------------------------------------

    def _require_session(self) -> JanusSession:
        if self._session is None or self._session.closed:
            raise MediaUnavailable("the media server is unavailable")
        return self._session

    async def _admin(self, handle: JanusHandle | None, body: dict[str, Any]) -> dict[str, Any]:
        if handle is None:
            raise MediaUnavailable("the media server is unavailable")
        try:
            return await handle.request(body)
        except (jp.JanusTransportError, jp.JanusTimeout) as exc:
            raise MediaUnavailable(str(exc)) from exc

    async def open_room(self, room_id: RoomId) -> RoomMedia:
        """Make sure the room's bridge, mountpoint and forwarder exist on the current session."""
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            room = self._rooms.get(room_id)
            if room is not None and room.generation == self.generation:
                return room
            self._require_session()
            room = RoomMedia(room_id, secrets.token_urlsafe(18), self.generation)
            await self._create_bridge(room)
            await self._create_mountpoint(room)
            fwd = await self._admin(self._ab, {
                "request": "rtp_forward", "room": int(room_id), "secret": room.secret,
                "admin_key": self.node.audiobridge_admin_key, "host": self.node.forward_host,
                "port": room.mountpoint_port, "ptype": OPUS_PT, "codec": "opus",
                "always_on": True})
            room.forwarder = fwd.get("stream_id") if isinstance(fwd.get("stream_id"),
                                                                 int) else None
            self._rooms[room_id] = room
            self.stats.rooms_created += 1
            return room

    async def _create_bridge(self, room: RoomMedia) -> None:
        body: dict[str, Any] = {
            "request": "create", "room": int(room.room_id), "admin_key":
            self.node.audiobridge_admin_key, "secret": room.secret, "sampling_rate": 48000,
            "permanent": False, "is_private": True,
            "default_prebuffering": self.options.prebuffer,
            "default_expectedloss": self.options.expected_loss,
            # Who is talking: decided every talk_packets x 20 ms from the speakers' own
            # audio-level header extension (no decoding), reported as talking events.
            "audiolevel_event": True, "audio_active_packets": self.options.talk_packets,
            "audio_level_average": self.options.talk_level}
        try:
            await self._admin(self._ab, body)
        except jp.JanusApiError as exc:
            if exc.code != jp.AUDIOBRIDGE_ROOM_EXISTS:
                raise
            # Left over from an earlier Ruang process on the same Janus: start clean.
            await self._admin(self._ab, {"request": "destroy", "room": int(room.room_id),
                                         "admin_key": self.node.audiobridge_admin_key,
                                         "secret": room.secret, "permanent": False})
            await self._admin(self._ab, body)

    async def _create_mountpoint(self, room: RoomMedia) -> None:
        # The mountpoint listens only where the stage's forward comes from: nobody else can
        # inject audio into the audience stream.
        media: dict[str, Any] = {"type": "audio", "mid": "a", "port": 0, "pt": OPUS_PT,
                                 "codec": "opus", "rtpmap": "opus/48000/2",
                                 "iface": self.node.forward_host}
        body: dict[str, Any] = {
            "request": "create", "type": "rtp", "id": int(room.room_id),
            "admin_key": self.node.streaming_admin_key, "secret": room.secret,
            "is_private": True, "permanent": False, "media": [media]}
        if self.options.mountpoint_threads:
            body["threads"] = self.options.mountpoint_threads
        try:
            data = await self._admin(self._st, body)
        except jp.JanusApiError as exc:
            if exc.code != jp.STREAMING_CANT_CREATE:
                raise
            with contextlib.suppress(jp.JanusApiError):
                await self._admin(self._st, {"request": "destroy", "id": int(room.room_id),
                                             "admin_key": self.node.streaming_admin_key,
                                             "secret": room.secret, "permanent": False})
            data = await self._admin(self._st, body)
        stream = data.get("stream") or {}
        ports = [m.get("port") for m in stream.get("ports", []) if isinstance(m, dict)]
        if not ports or not isinstance(ports[0], int):
            raise MediaRejected("Janus did not report the mountpoint's port")
        room.mountpoint_port = ports[0]

    async def close_room(self, room_id: RoomId) -> None:
        """Tear down the room's media; links of that room are closed by their owners."""
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            room = self._rooms.pop(room_id, None)
            self._talkers.pop(room_id, None)
            self._room_locks.pop(room_id, None)
            if room is None or room.generation != self.generation or not self.is_up:
                return
            for handle, body in (
                (self._ab, {"request": "destroy", "room": int(room_id), "secret": room.secret,
                            "admin_key": self.node.audiobridge_admin_key}),
                (self._st, {"request": "destroy", "id": int(room_id), "secret": room.secret,
                            "admin_key": self.node.streaming_admin_key}),
            ):
                try:
                    await self._admin(handle, body)
                except jp.JanusApiError as exc:
                    log.warning("destroying room media failed: %s", exc)
                except MediaUnavailable:
                    return

    async def _set_muted(self, room_id: RoomId, participant: int | None, muted: bool) -> None:
        room = self._rooms.get(room_id)
        if room is None or participant is None:
            raise MediaUnavailable("room media is not open")
        await self._admin(self._ab, {"request": "mute" if muted else "unmute",
                                     "room": int(room_id), "secret": room.secret,
                                     "id": participant})

    def _talking(self, room_id: RoomId, participant: int, talking: bool) -> None:
        talkers = self._talkers.setdefault(room_id, set())
        if (participant in talkers) == talking:
            return  # every speaker's handle reports the same change: once is enough
        if talking:
            talkers.add(participant)
        else:
            talkers.discard(participant)
        members = {link._participant: link.member_id for link in self._links
                   if link.room_id == room_id and link._participant is not None}
        speaking = sorted(int(members[p]) for p in talkers if p in members)
        if self.on_speaking is not None:
            self.on_speaking(room_id, speaking)

    # --- links ----------------------------------------------------------------------------

    def link(self, room_id: RoomId, member_id: MemberId, sink: SignalSink) -> MediaLink:
        link = MediaLink(self, room_id, member_id, sink)
        self._links.add(link)
        return link

    async def participants(self, room_id: RoomId) -> list[dict[str, Any]]:
        """AudioBridge's own view of the stage (for tests and admin tools)."""
        room = self._rooms.get(room_id)
        if room is None:
            return []
        data = await self._admin(self._ab, {"request": "listparticipants",
                                            "room": int(room_id)})
        parts = data.get("participants", [])
        return [p for p in parts if isinstance(p, dict)]


OfferCallback = Callable[[RoomId, MediaId, LinkMode, str], Awaitable[None]]


@dataclass
class RecordingSink:
    """A SignalSink that keeps what it was sent (for tests and tools)."""

    offers: list[tuple[RoomId, MediaId, LinkMode, str]] = field(default_factory=list)
    states: list[tuple[RoomId, MediaId | None, LinkState, str | None]] = field(
        default_factory=list)
    offered: asyncio.Event = field(default_factory=asyncio.Event)

    async def media_offer(self, room_id: RoomId, media_id: MediaId, mode: LinkMode,
                          sdp: str) -> None:
        self.offers.append((room_id, media_id, mode, sdp))
        self.offered.set()

    async def media_state(self, room_id: RoomId, media_id: MediaId | None, state: LinkState,
                          error: MediaError | None = None) -> None:
        self.states.append((room_id, media_id, state, error.code if error else None))
