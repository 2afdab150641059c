"""The event bus: how a change committed on one server reaches every server's clients.

Messages are bytes (the exact WebSocket frame clients get), published to a channel per room.
:class:`InMemoryBus` serves one process; a Redis implementation with the same interface serves
several (RUANG_REDIS_URL). Delivery order per channel is publication order; a subscriber that
sees a gap in a room's sequence numbers fills it from the database (events/hub.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]
Unsubscribe = Callable[[], None]


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, data: bytes) -> None: ...

    async def subscribe(self, channel: str, handler: Handler) -> Unsubscribe:
        """Returns once the subscription is active: nothing published later is missed."""
        ...

    def health(self) -> dict[str, object]: ...


def room_channel(room_id: int) -> str:
    return f"room:{room_id}"


def member_channel(member_id: int) -> str:
    return f"member:{member_id}"


class InMemoryBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self.published = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._handlers.clear()

    async def publish(self, channel: str, data: bytes) -> None:
        self.published += 1
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(data)
            except Exception:
                log.exception("event handler failed", extra={"channel": channel})
        # Let subscribers' queued work run before the publisher continues, as a real bus would.
        await asyncio.sleep(0)

    async def subscribe(self, channel: str, handler: Handler) -> Unsubscribe:
        self._handlers.setdefault(channel, []).append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(channel)
            if handlers and handler in handlers:
                handlers.remove(handler)
                if not handlers:
                    del self._handlers[channel]

        return unsubscribe

    def health(self) -> dict[str, object]:
        return {"kind": "memory", "channels": len(self._handlers)}
