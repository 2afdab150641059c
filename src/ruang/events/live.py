"""Live views that are not one room's event stream: the hallway, room notifications, and the
audience count.

- The hallway: connections subscribe; any server that changes a room says so on the bus
  (channel ``hallway``); every server recomputes the hallways of its subscribers at most every
  :data:`HALLWAY_INTERVAL` seconds, reading the rooms once for all of them and each member's
  personal data (follows, blocks) from a cache, and sends a subscriber a new hallway only when
  theirs changed.
- Room notifications: when a room goes live, the rows are written (actions.hallway) and the bus
  says so (channel ``rooms``); every server pushes the new notification to those of its
  connected members who got one.
- Audience counts: listeners come and go without events; rooms whose audience changed are
  remembered and their count is announced (``audience_changed``) every
  :data:`AUDIENCE_INTERVAL` seconds at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from ruang.actions import hallway as hallway_actions
from ruang.actions import rooms as room_actions
from ruang.api.ws import protocol as pr
from ruang.events.bus import Unsubscribe

if TYPE_CHECKING:
    from ruang.api.ws.connection import Connection
    from ruang.app import Runtime

log = logging.getLogger(__name__)

HALLWAY_INTERVAL = 1.0
AUDIENCE_INTERVAL = 2.0
VIEWER_TTL = 60.0
HALLWAY_CHANNEL = "hallway"
ROOMS_CHANNEL = "rooms"


@dataclass
class _Subscriber:
    conn: Connection
    viewer: hallway_actions.Viewer | None = None
    viewer_at: float = 0.0
    last_sent: bytes | None = None


class LiveViews:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._subscribers: dict[int, _Subscriber] = {}  # id(conn) -> subscriber
        self._dirty = asyncio.Event()
        self._audience: set[int] = set()
        self._unsubscribe: list[Unsubscribe] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        bus = self.runtime.bus
        self._unsubscribe.append(await bus.subscribe(HALLWAY_CHANNEL,
                                                     lambda data: self._dirty.set()))
        self._unsubscribe.append(await bus.subscribe(ROOMS_CHANNEL, self._on_rooms))
        self._tasks.append(asyncio.create_task(self._hallway_loop(), name="hallway"))
        self._tasks.append(asyncio.create_task(self._audience_loop(), name="audience"))

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- hooks the actions call (through Services) ----------------------------------------

    def audience_dirty(self, room_id: int) -> None:
        self._audience.add(room_id)

    async def hallway_changed(self, room_id: int) -> None:
        await self.runtime.bus.publish(HALLWAY_CHANNEL, orjson.dumps({"room_id": room_id}))

    async def room_started(self, room_id: int, actor_id: int) -> None:
        count = await hallway_actions.notify_room_started(self.runtime.svc, room_id, actor_id)
        if count:
            await self.runtime.bus.publish(ROOMS_CHANNEL, orjson.dumps(
                {"type": "room_started", "room_id": room_id}))

    # --- the hallway ----------------------------------------------------------------------

    async def subscribe(self, conn: Connection, on: bool) -> None:
        if not on:
            self._subscribers.pop(id(conn), None)
            return
        sub = self._subscribers.setdefault(id(conn), _Subscriber(conn))
        sub.last_sent = None
        await self._send_hallways([sub], await hallway_actions.load_candidates(
            self.runtime.svc))

    def forget(self, conn: Connection) -> None:
        self._subscribers.pop(id(conn), None)

    async def _hallway_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self._subscribers:
                try:
                    candidates = await hallway_actions.load_candidates(self.runtime.svc)
                    await self._send_hallways(list(self._subscribers.values()), candidates)
                except Exception:
                    log.exception("hallway update failed")
            await asyncio.sleep(HALLWAY_INTERVAL)

    async def _send_hallways(self, subs: list[_Subscriber],
                             candidates: hallway_actions.Candidates) -> None:
        now = time.monotonic()
        for sub in subs:
            member = sub.conn.member
            if member is None:
                continue
            if sub.viewer is None or now - sub.viewer_at > VIEWER_TTL:
                sub.viewer = await hallway_actions.load_viewer(self.runtime.svc, member)
                sub.viewer_at = now
            view = hallway_actions.rank(candidates, sub.viewer)
            frame = pr.HallwayUpdate(live=[c.model_dump(mode="json") for c in view.live],
                                     upcoming=[c.model_dump(mode="json")
                                               for c in view.upcoming]).model_dump_json()
            data = frame.encode()
            if data != sub.last_sent:
                sub.last_sent = data
                sub.conn.send_text(frame)

    def refresh_viewer(self, member_id: int) -> None:
        """The member followed or blocked someone: re-read their data at the next update."""
        for sub in self._subscribers.values():
            if sub.conn.member is not None and sub.conn.member.id == member_id:
                sub.viewer = None
        self._dirty.set()

    # --- notifications --------------------------------------------------------------------

    def _on_rooms(self, data: bytes) -> None:
        msg = orjson.loads(data)
        if msg.get("type") == "room_started":
            task = asyncio.get_running_loop().create_task(self._push_notifications(
                int(msg["room_id"])))
            self._tasks = [t for t in self._tasks if not t.done()]
            self._tasks.append(task)

    async def _push_notifications(self, room_id: int) -> None:
        members = self.runtime.connected_members()
        found = await hallway_actions.notified_among(self.runtime.svc, room_id, members)
        for member_id, note in found.items():
            for conn in self.runtime.connections_of(member_id):
                conn.send_text(pr.NotificationMessage(
                    notification=note.model_dump(mode="json")).model_dump_json())
        self._dirty.set()

    # --- audience counts ------------------------------------------------------------------

    async def _audience_loop(self) -> None:
        while True:
            await asyncio.sleep(AUDIENCE_INTERVAL)
            rooms, self._audience = self._audience, set()
            for room_id in rooms:
                try:
                    await room_actions.refresh_audience(self.runtime.svc, room_id)
                except Exception:
                    log.exception("audience count failed", extra={"room_id": room_id})
