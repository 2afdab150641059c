"""Wire Ruang together: storage, bus, hub, media (own Janus or external), HTTP and WebSocket.

:class:`Runtime` owns every long-lived part and its background tasks; ``create_app`` builds
the FastAPI application whose lifespan starts and stops the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI
from sqlalchemy import select

from ruang import __version__
from ruang.actions import members as member_actions
from ruang.actions import rooms as room_actions
from ruang.actions.context import Services, make_hasher
from ruang.actions.outbox import deliver_due
from ruang.api import accounts, admin, onboarding, people, web
from ruang.api import errors as api_errors
from ruang.api.middleware import RequestContext
from ruang.api.rooms import health_router, router
from ruang.api.ws.protocol import Speaking
from ruang.api.ws.server import RealtimeServer
from ruang.config import Settings
from ruang.events.bus import EventBus, InMemoryBus, Unsubscribe, member_channel, room_channel
from ruang.events.hub import Hub
from ruang.events.live import LiveViews
from ruang.events.models import RoomEnded, RoomEventEnvelope
from ruang.ids import RoomId
from ruang.mail import FileMailer, Mailer, SmtpMailer
from ruang.media.engine import JanusNode, MediaEngine, MediaOptions
from ruang.media.janus.supervisor import JanusSupervisor, SupervisorConfig, SupervisorError
from ruang.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from ruang.storage.db import Database
from ruang.storage.models import AuthSession, utcnow

if TYPE_CHECKING:
    from ruang.api.ws.connection import Connection

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 2.0
SESSION_WATCH_INTERVAL = 5.0


def make_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        from ruang.events.redis_bus import RedisBus

        return RedisBus(settings.redis_url)
    return InMemoryBus()


def make_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url)
    return MemoryRateLimiter()


def make_mailer(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, sender=settings.mail_from,
                          username=settings.smtp_username,
                          password=settings.secret("smtp_password"),
                          security=settings.smtp_security)
    return FileMailer(settings.mail_dir, sender=settings.mail_from)


class Runtime:
    def __init__(self, settings: Settings, *, db: Database | None = None,
                 bus: EventBus | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.effective_database_url)
        self.bus = bus or make_bus(settings)
        self.mailer = make_mailer(settings)
        self._outbox_wake = asyncio.Event()
        self.svc = Services(settings, self.db, self.bus, make_hasher(settings),
                            limiter=make_limiter(settings),
                            outbox_wakeup=self._outbox_wake.set)
        self.hub = Hub(self.bus,
                       current_seq=lambda room_id: room_actions.current_seq(self.svc, room_id),
                       backfill=lambda room_id, after: room_actions.events_since(
                           self.svc, room_id, after))
        self.supervisor: JanusSupervisor | None = None
        self.engine: MediaEngine | None = None
        self.media_error: str | None = None
        self.realtime = RealtimeServer(self, settings.host, settings.realtime_port)
        self.live = LiveViews(self)
        self.svc.audience_dirty = self.live.audience_dirty
        self.svc.on_room_started = self.live.room_started
        self.svc.on_hallway_changed = self.live.hallway_changed
        self.svc.on_social_changed = self.live.refresh_viewer
        self._presences: dict[tuple[int, int], Connection] = {}
        self._member_conns: dict[int, tuple[set[Connection], Unsubscribe]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.migrate()
        await self.bus.start()
        if not await member_actions.any_member(self.svc):
            log.warning("no members yet: create the first one with "
                        "`ruang admin create-member NAME --admin`")
        released = await room_actions.mark_all_disconnected(self.svc)
        if released:
            log.info("members from the previous run keep their places for the grace period",
                     extra={"members": released})
        if self.settings.media:
            await self._start_media()
        await self.live.start()
        await self.realtime.start()
        self._tasks.append(asyncio.create_task(self._sweeper(), name="presence-sweeper"))
        self._tasks.append(asyncio.create_task(self._outbox(), name="email-outbox"))
        self._tasks.append(asyncio.create_task(self._session_watch(), name="session-watch"))
        log.info("email goes out through %s", self.mailer.describe())

    async def _start_media(self) -> None:
        s = self.settings
        if s.janus_url:
            node = JanusNode(s.janus_url, s.secret("janus_api_secret"),
                             s.secret("janus_audiobridge_admin_key"),
                             s.secret("janus_streaming_admin_key"))
        else:
            self.supervisor = JanusSupervisor(SupervisorConfig(
                folder=s.data_dir / "janus", binary=s.janus_binary, ws_port=s.janus_ws_port,
                rtp_port_range=s.janus_rtp_ports, streaming_port_range=s.janus_forward_ports,
                event_loops=s.janus_event_loops, public_ip=s.media_public_ip,
                ice_enforce_list=s.media_interfaces))
            try:
                await self.supervisor.start()
            except SupervisorError as exc:
                self.media_error = str(exc)
                log.error("media is unavailable: %s", exc)
                self.supervisor = None
                return
            sec = self.supervisor.secrets
            node = JanusNode(self.supervisor.url, sec.api_secret, sec.audiobridge_admin_key,
                             sec.streaming_admin_key)
        self.engine = MediaEngine(node, MediaOptions(prebuffer=s.audio_prebuffer))
        self.engine.on_speaking = self._speaking
        self.hub.observers.append(self._close_ended_room_media)
        self._tasks.append(asyncio.create_task(self.engine.run(), name="media-engine"))
        if not await self.engine.wait_up(2.0 if s.janus_url else 10.0):
            log.warning("media server not reachable yet; rooms work, audio will follow",
                        extra={"error": self.engine.last_error})

    def _speaking(self, room_id: RoomId, speaking: list[int]) -> None:
        frame = Speaking(room_id=room_id, speaking=speaking).model_dump_json()
        self._spawn(self.bus.publish(room_channel(room_id), frame.encode()))

    def _close_ended_room_media(self, envelope: RoomEventEnvelope) -> None:
        if isinstance(envelope.event, RoomEnded) and self.engine is not None:
            self._spawn(self.engine.close_room(RoomId(envelope.room_id)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(coro))

    async def stop(self) -> None:
        await self.realtime.stop()
        await self.live.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.hub.close()
        if self.engine is not None:
            await self.engine.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        await self.bus.stop()
        await self.svc.limiter.close()
        await self.db.dispose()

    async def _sweeper(self) -> None:
        grace = dt.timedelta(seconds=self.settings.presence_grace_seconds)
        orphan_grace = dt.timedelta(seconds=self.settings.room_orphan_grace_seconds)
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await room_actions.sweep(self.svc, grace, orphan_grace)
            except Exception:
                log.exception("presence sweep failed")

    async def _outbox(self) -> None:
        while True:
            try:
                while await deliver_due(self.db, self.mailer):
                    pass
            except Exception:
                log.exception("email outbox failed")
            self._outbox_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_wake.wait(), 5.0)

    async def flush_outbox(self) -> int:
        """Send everything that is due now (tests, and `ruang admin mail flush`)."""
        total = 0
        while sent := await deliver_due(self.db, self.mailer):
            total += sent
        return total

    # --- members' connections: closed at once when their session ends -------------------

    async def attach_member(self, conn: Connection, member_id: int) -> None:
        entry = self._member_conns.get(member_id)
        if entry is None:
            conns: set[Connection] = set()
            self._member_conns[member_id] = (conns, lambda: None)
            unsubscribe = await self.bus.subscribe(
                member_channel(member_id), lambda data: self._on_member(member_id, data))
            self._member_conns[member_id] = (conns, unsubscribe)
            entry = self._member_conns[member_id]
        entry[0].add(conn)

    def detach_member(self, conn: Connection, member_id: int) -> None:
        entry = self._member_conns.get(member_id)
        if entry is None:
            return
        entry[0].discard(conn)
        if not entry[0]:
            entry[1]()
            del self._member_conns[member_id]

    async def _session_watch(self) -> None:
        """Close connections whose session was revoked where no bus message reached us (an
        administrator's CLI, another deployment's bus): a look every few seconds."""
        since = utcnow()
        while True:
            await asyncio.sleep(SESSION_WATCH_INTERVAL)
            now = utcnow()
            try:
                async with self.db.read() as s:
                    rows = (await s.execute(select(AuthSession.id, AuthSession.member_id).where(
                        AuthSession.revoked_at >= since - dt.timedelta(seconds=1)))).all()
            except Exception:
                log.exception("session watch failed")
                continue
            since = now
            for session_id, member_id in rows:
                entry = self._member_conns.get(member_id)
                for conn in list(entry[0]) if entry else []:
                    if conn.member is not None and conn.member.session_id == session_id:
                        conn.revoke()

    def connected_members(self) -> list[int]:
        return list(self._member_conns)

    def connections_of(self, member_id: int) -> list[Connection]:
        entry = self._member_conns.get(member_id)
        return list(entry[0]) if entry else []

    def _on_member(self, member_id: int, data: bytes) -> None:
        msg = orjson.loads(data)
        if msg.get("type") != "revoked":
            return
        ids = msg.get("session_ids")
        entry = self._member_conns.get(member_id)
        for conn in list(entry[0]) if entry else []:
            if ids is None or (conn.member is not None and conn.member.session_id in ids):
                conn.revoke()

    # --- presence: which connection holds a member's place in a room ----------------------

    def take_presence(self, room_id: int, member_id: int, conn: Connection) -> None:
        old = self._presences.get((room_id, member_id))
        self._presences[(room_id, member_id)] = conn
        if old is not None and old is not conn:
            self._spawn(old.replaced(room_id))

    def release_presence(self, room_id: int, member_id: int, conn: Connection) -> bool:
        """True when this connection held the place (and now gave it up)."""
        if self._presences.get((room_id, member_id)) is conn:
            del self._presences[(room_id, member_id)]
            return True
        return False

    def holds_presence(self, room_id: int, member_id: int) -> bool:
        return (room_id, member_id) in self._presences

    def ice_servers(self) -> list[dict[str, Any]]:
        return []

    # --- health ---------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        storage_ok = await self.db.ping()
        media: dict[str, Any]
        if not self.settings.media:
            media = {"status": "disabled"}
        elif self.engine is None:
            media = {"status": "down", "error": self.media_error}
        else:
            media = {"status": "up" if self.engine.is_up else "down", **self.engine.health()}
            if self.supervisor is not None:
                media["process"] = self.supervisor.health()
        overall = "ok"
        if media["status"] == "down":
            overall = "degraded"
        if not storage_ok:
            overall = "down"
        return {"status": overall, "version": __version__,
                "storage": {"status": "up" if storage_ok else "down",
                            "backend": self.db.backend},
                "media": media, "bus": self.bus.health(),
                "realtime": {"url": self.realtime.url,
                             "connections": self.realtime.connections()}}


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    rt = runtime or Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await rt.start()
        try:
            yield
        finally:
            await rt.stop()

    app = FastAPI(title="Ruang", version=__version__, lifespan=lifespan,
                  description="Self-hosted social audio network. WebSocket protocol: "
                              "docs/protocol.md")
    app.state.runtime = rt
    app.add_middleware(web.WebApp, folder=settings.effective_web_dir)
    app.add_middleware(RequestContext)
    api_errors.install(app)
    app.include_router(health_router)
    app.include_router(accounts.router)
    app.include_router(onboarding.router)
    app.include_router(people.router)
    app.include_router(admin.router)
    app.include_router(router)
    return app
