"""The WebSocket route: accept (subprotocol ``ruang.v1`` when offered) and run a Connection."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from ruang.api.deps import COOKIE
from ruang.api.ws.connection import Connection
from ruang.api.ws.protocol import SUBPROTOCOL

router = APIRouter()


@router.websocket("/api/v1/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    offered = ws.scope.get("subprotocols") or []
    auth = ws.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ws.cookies.get(COOKIE)
    if token and not auth and not _same_origin(ws):
        # A page on another site could open a socket with the member's cookie: refuse.
        await ws.close(code=4403, reason="cross-site WebSocket refused")
        return
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    await Connection(ws.app.state.runtime, ws).run(token)


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    settings = ws.app.state.runtime.settings
    allowed = {f"{ws.url.scheme.replace('ws', 'http')}://{ws.headers.get('host', '')}",
               settings.base_url}
    return origin.rstrip("/") in allowed
