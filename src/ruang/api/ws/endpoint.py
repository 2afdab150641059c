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
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    auth = ws.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ws.cookies.get(COOKIE)
    await Connection(ws.app.state.runtime, ws).run(token)
