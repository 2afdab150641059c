"""The seam between the Janus client and the network.

:class:`WebSocketTransport` talks to a real Janus over its WebSocket transport
(subprotocol ``janus-protocol``). Unit tests replace it with :class:`ruang.media.janus.fake`
objects that satisfy the same :class:`Transport` protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from ruang.media.janus.protocol import JanusTransportError, JsonObject


class Transport(Protocol):
    async def send(self, msg: JsonObject) -> None: ...

    async def recv(self) -> object:
        """The next decoded message; raises JanusTransportError when the connection ends."""
        ...

    async def close(self) -> None: ...


TransportFactory = Callable[[], Awaitable[Transport]]


class WebSocketTransport:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    @classmethod
    async def open(cls, url: str, *, timeout: float = 5.0) -> WebSocketTransport:
        try:
            ws = await connect(url, subprotocols=["janus-protocol"],  # type: ignore[list-item]
                               open_timeout=timeout, max_size=8 * 1024 * 1024,
                               ping_interval=None, compression=None)
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise JanusTransportError(f"cannot connect to Janus at {url}: {exc}") from exc
        return cls(ws)

    async def send(self, msg: JsonObject) -> None:
        try:
            await self._ws.send(orjson.dumps(msg).decode())
        except (OSError, WebSocketException) as exc:
            raise JanusTransportError(f"send to Janus failed: {exc}") from exc

    async def recv(self) -> object:
        try:
            raw = await self._ws.recv()
        except (OSError, WebSocketException) as exc:
            raise JanusTransportError(f"connection to Janus lost: {exc}") from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # the parser reports it as a protocol error

    async def close(self) -> None:
        await self._ws.close()


def websocket_factory(url: str) -> TransportFactory:
    async def factory() -> Transport:
        return await WebSocketTransport.open(url)

    return factory
