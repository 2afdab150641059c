"""Local fan-out of room events to this server's connections, in sequence order.

One bus subscription per room with local subscribers. Each message is parsed once here and its
bytes are handed unchanged to every subscriber (serialize once, send many). The hub delivers
a room's events strictly in sequence: an event that arrives early waits for the missing ones,
and if they do not come within ``gap_timeout`` they are read back from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ruang.events.bus import EventBus, Unsubscribe, room_channel
from ruang.events.frame import Frame
from ruang.events.models import RoomEventEnvelope

log = logging.getLogger(__name__)

Backfill = Callable[[int, int], Awaitable[list[RoomEventEnvelope]]]
CurrentSeq = Callable[[int], Awaitable[int]]


class Subscriber(Protocol):
    def deliver(self, envelope: RoomEventEnvelope, frame: Frame) -> None:
        """Called in sequence order; must not block (queue the frame and return)."""
        ...

    def deliver_ephemeral(self, frame: Frame) -> None:
        """A frame that is not a room event (who is speaking): no order, no catch-up."""
        ...


@dataclass
class _Room:
    room_id: int
    unsubscribe: Unsubscribe
    subscribers: set[Subscriber] = field(default_factory=set)
    last_seq: int | None = None
    early: dict[int, tuple[RoomEventEnvelope, Frame]] = field(default_factory=dict)
    gap_task: asyncio.Task[None] | None = None


def encode_event(envelope: RoomEventEnvelope) -> str:
    """The WebSocket frame for one room event (``type: room.event``)."""
    body = envelope.model_dump_json()
    return '{"type":"room.event",' + body[1:]


def decode_event(frame: str) -> RoomEventEnvelope:
    return RoomEventEnvelope.model_validate_json(frame.replace('"type":"room.event",', "", 1))


class Hub:
    def __init__(self, bus: EventBus, *, current_seq: CurrentSeq, backfill: Backfill,
                 gap_timeout: float = 0.5) -> None:
        self._bus = bus
        self._current_seq = current_seq
        self._backfill = backfill
        self._gap_timeout = gap_timeout
        self._rooms: dict[int, _Room] = {}
        self.delivered = 0
        self.backfilled = 0
        # Called once per event per server (after the room's subscribers), in order.
        self.observers: list[Callable[[RoomEventEnvelope], None]] = []

    def local_rooms(self) -> int:
        return len(self._rooms)

    async def attach(self, room_id: int, subscriber: Subscriber) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            room = _Room(room_id, lambda: None)
            self._rooms[room_id] = room
            room.unsubscribe = await self._bus.subscribe(
                room_channel(room_id), lambda data: self._on_message(room, data))
            # Read the position only after subscribing, so nothing falls between the two.
            seq = await self._current_seq(room_id)
            if room.last_seq is None:
                room.last_seq = seq
                self._drain(room)
        room.subscribers.add(subscriber)

    def detach(self, room_id: int, subscriber: Subscriber) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.subscribers.discard(subscriber)
        if not room.subscribers:
            room.unsubscribe()
            if room.gap_task is not None:
                room.gap_task.cancel()
            del self._rooms[room_id]

    async def close(self) -> None:
        for room_id in list(self._rooms):
            room = self._rooms.pop(room_id)
            room.unsubscribe()
            if room.gap_task is not None:
                room.gap_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await room.gap_task

    def _on_message(self, room: _Room, data: bytes) -> None:
        text = data.decode()
        if not text.startswith('{"type":"room.event"'):
            frame = Frame(text)
            for sub in list(room.subscribers):
                sub.deliver_ephemeral(frame)
            return
        try:
            envelope = decode_event(text)
        except ValueError:
            log.error("dropping an undecodable room event", extra={"room_id": room.room_id})
            return
        if room.last_seq is not None and envelope.seq <= room.last_seq:
            return  # already delivered (or older than the subscription)
        room.early[envelope.seq] = (envelope, Frame(text))
        self._drain(room)

    def _drain(self, room: _Room) -> None:
        if room.last_seq is None:
            return
        for seq in [s for s in room.early if s <= room.last_seq]:
            del room.early[seq]
        while (nxt := room.early.pop(room.last_seq + 1, None)) is not None:
            envelope, frame = nxt
            room.last_seq = envelope.seq
            self._fan_out(room, envelope, frame)
        if room.early and room.gap_task is None:
            room.gap_task = asyncio.create_task(self._fill_gap(room))

    def _fan_out(self, room: _Room, envelope: RoomEventEnvelope, frame: Frame) -> None:
        for sub in list(room.subscribers):
            try:
                sub.deliver(envelope, frame)
            except Exception:
                log.exception("subscriber failed", extra={"room_id": room.room_id})
        self.delivered += len(room.subscribers)
        for observer in self.observers:
            try:
                observer(envelope)
            except Exception:
                log.exception("event observer failed", extra={"room_id": room.room_id})

    async def _fill_gap(self, room: _Room) -> None:
        try:
            await asyncio.sleep(self._gap_timeout)
            if room.early and room.last_seq is not None:
                missing = await self._backfill(room.room_id, room.last_seq)
                self.backfilled += len(missing)
                for envelope in missing:
                    if envelope.seq > room.last_seq:
                        room.early.setdefault(envelope.seq,
                                              (envelope, Frame(encode_event(envelope))))
        except Exception:
            log.exception("filling a room event gap failed", extra={"room_id": room.room_id})
        finally:
            room.gap_task = None
        self._drain(room)
