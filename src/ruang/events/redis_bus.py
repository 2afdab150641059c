"""The event bus over Redis pub/sub, for several Ruang processes (RUANG_REDIS_URL).

Redis pub/sub forgets what nobody received: when the subscription connection drops, the bus
reconnects, re-subscribes every channel, and calls ``on_reconnect`` so that the hub reads
back from the database whatever was published in between (sequence numbers make the gap
visible; nothing is silently lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ruang.events.bus import Handler, Unsubscribe

log = logging.getLogger(__name__)

PREFIX = "ruang:"


class RedisBus:
    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: aioredis.Redis = aioredis.from_url(url)
        self._pubsub: aioredis.client.PubSub | None = None
        self._handlers: dict[str, list[Handler]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._unsubscribes: set[asyncio.Task[None]] = set()
        self.on_reconnect: Callable[[], None] | None = None
        self.reconnects = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        await self._redis.ping()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        # A placeholder subscription keeps the listener's connection open from the start.
        await self._pubsub.subscribe(PREFIX + "_")
        self._ready.set()
        self._task = asyncio.create_task(self._listen(), name="redis-bus")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(PREFIX + channel, data)

    async def subscribe(self, channel: str, handler: Handler) -> Unsubscribe:
        handlers = self._handlers.setdefault(channel, [])
        handlers.append(handler)
        if len(handlers) == 1 and self._pubsub is not None:
            await self._pubsub.subscribe(PREFIX + channel)

        def unsubscribe() -> None:
            current = self._handlers.get(channel)
            if current and handler in current:
                current.remove(handler)
                if not current:
                    del self._handlers[channel]
                    if self._pubsub is not None:
                        self._spawn_unsubscribe(PREFIX + channel)

        return unsubscribe

    def _spawn_unsubscribe(self, name: str) -> None:
        async def go() -> None:
            with contextlib.suppress(RedisError, OSError):
                if self._pubsub is not None:
                    await self._pubsub.unsubscribe(name)

        task = asyncio.get_running_loop().create_task(go())
        self._unsubscribes.add(task)
        task.add_done_callback(self._unsubscribes.discard)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=1.0)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.last_error = str(exc)
                log.warning("Redis bus connection lost: %s", exc)
                await self._resubscribe()
                continue
            if msg is None or msg.get("type") != "message":
                continue
            channel = msg["channel"].decode()[len(PREFIX):]
            for handler in list(self._handlers.get(channel, ())):
                try:
                    handler(msg["data"])
                except Exception:
                    log.exception("event handler failed", extra={"channel": channel})

    async def _resubscribe(self) -> None:
        delay = 0.1
        while True:
            await asyncio.sleep(delay)
            try:
                assert self._pubsub is not None
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(PREFIX + "_",
                                             *[PREFIX + c for c in self._handlers])
            except (RedisError, OSError) as exc:
                self.last_error = str(exc)
                delay = min(delay * 2, 2.0)
                continue
            self.reconnects += 1
            self.last_error = None
            log.info("Redis bus reconnected", extra={"channels": len(self._handlers)})
            if self.on_reconnect is not None:
                self.on_reconnect()
            return

    def health(self) -> dict[str, object]:
        return {"kind": "redis", "channels": len(self._handlers),
                "reconnects": self.reconnects, "error": self.last_error}
