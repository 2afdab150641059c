"""The realtime listener: Ruang's WebSocket on its own port, served by picows.

Why not FastAPI's WebSocket: a room's events go to every member in it, and with thousands of
listeners that broadcast is the hot path. Through ASGI each delivery is an awaited send per
connection; here a message is encoded once (:class:`Frame`) and handed to each connection's
transport synchronously. docs/decisions/realtime.md has the measurements (bench/wslib.py).

The listener shares the event loop, the Runtime and the rules with the REST API (same
process); only the transport differs. Behind a reverse proxy both live under one origin
(``/api/v1/ws`` routed to this port); without one, clients learn the URL from
``GET /api/v1/realtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from ruang.api.ws.protocol import SUBPROTOCOL
from ruang.events.frame import Frame

if TYPE_CHECKING:
    from ruang.app import Runtime

log = logging.getLogger(__name__)
access = logging.getLogger("ruang.access")

PATH = "/api/v1/ws"
COOKIE = "ruang_session"
# A client whose unsent data passes this is too slow: it is disconnected and resumes later.
WRITE_BUFFER_LIMIT = 4 * 1024 * 1024
# Messages a client may have waiting to be handled before it is cut off (a flood).
INBOX_LIMIT = 256


class TooSlow(Exception):
    """The client does not read fast enough (or floods us): the connection must end."""


class BadFrame:
    """Stands in the inbox for a message that could not be read (too large, not UTF-8,
    fragmented); the connection answers it with an error and goes on."""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


Inbound = str | BadFrame | None  # None: the client went away


class ClientSocket(WSListener):
    """One client connection at the transport level; a Connection drives it."""

    def __init__(self, server: RealtimeServer, token: str | None, max_bytes: int) -> None:
        super().__init__()
        self.server = server
        self.token = token
        self.max_bytes = max_bytes
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue(INBOX_LIMIT)
        self.transport: WSTransport | None = None
        self.closed = False
        self._task: asyncio.Task[None] | None = None

    # WSListener callbacks (called by picows on the event loop)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self._task = self.server.start_connection(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        self._offer(None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if kind not in (WSMsgType.TEXT, WSMsgType.BINARY):
            if kind == WSMsgType.CONTINUATION or not frame.fin:
                self._offer(BadFrame("bad_message", "fragmented messages are not supported"))
            return
        if not frame.fin:
            self._offer(BadFrame("bad_message", "fragmented messages are not supported"))
            return
        if frame.payload_size > self.max_bytes:
            self._offer(BadFrame("message_too_large",
                                 f"messages are limited to {self.max_bytes} bytes"))
            return
        try:
            text = frame.get_payload_as_utf8_text()
        except UnicodeDecodeError:
            self._offer(BadFrame("bad_message", "a message is UTF-8 JSON text"))
            return
        self._offer(text)

    def _offer(self, item: Inbound) -> None:
        try:
            self.inbox.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("closing a connection that floods the server")
            self.close(1008)  # policy violation

    # what a Connection uses

    async def receive(self) -> Inbound:
        return await self.inbox.get()

    def write(self, frame: Frame) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        if transport.underlying_transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            raise TooSlow()
        transport.send(WSMsgType.TEXT, frame.data)

    def close(self, code: int, reason: str = "") -> None:
        if self.closed or self.transport is None:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.transport.send_close(WSCloseCode(code), reason.encode() or None)
            self.transport.disconnect()


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


class RealtimeServer:
    def __init__(self, runtime: Runtime, host: str, port: int) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        public = self.runtime.settings.realtime_public_url
        if public:
            return str(public).rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"ws://{host}:{self.port}{PATH}"

    async def start(self) -> None:
        max_bytes = self.runtime.settings.ws_max_message_bytes
        self._server = await ws_create_server(
            self._upgrade, self.host, self.port, websocket_handshake_timeout=10,
            enable_auto_ping=True, auto_ping_idle_timeout=20, auto_ping_reply_timeout=20,
            max_frame_size=max(4 * max_bytes, 1 << 20), logger_name="ruang.realtime")
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("realtime listener on %s", self.url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def connections(self) -> int:
        return len(self._connections)

    def _upgrade(self, request: WSUpgradeRequest
                 ) -> ClientSocket | WSUpgradeResponseWithListener | None:
        path = request.path.decode(errors="replace").split("?", 1)[0]
        if path != PATH:
            return None
        headers = request.headers
        auth = headers.get("authorization", "")
        cookie_token = _cookie(headers.get("cookie"), COOKIE)
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else cookie_token
        if token and not auth and not self._same_origin(headers.get("origin"),
                                                        headers.get("host", "")):
            # A page on another site could open a socket with the member's cookie: refuse.
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(403, b"cross-site WebSocket refused"),
                None)
        socket = ClientSocket(self, token, self.runtime.settings.ws_max_message_bytes)
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        if SUBPROTOCOL in offered:
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_101_response(
                    extra_headers={"Sec-WebSocket-Protocol": SUBPROTOCOL}), socket)
        return socket

    def _same_origin(self, origin: str | None, host: str) -> bool:
        if origin is None:
            return True  # not a browser
        allowed = {urlsplit(self.runtime.settings.base_url).netloc, host}
        return urlsplit(origin).netloc in allowed

    def start_connection(self, socket: ClientSocket) -> asyncio.Task[None]:
        from ruang.api.ws.connection import Connection

        started = time.monotonic()

        async def serve() -> None:
            try:
                await Connection(self.runtime, socket).run(socket.token)
            finally:
                # After the connection's clean-up: the member's place is settled by now.
                access.info("websocket closed", extra={
                    "path": PATH, "duration_s": round(time.monotonic() - started, 1)})

        task = asyncio.get_running_loop().create_task(serve())
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        return task
