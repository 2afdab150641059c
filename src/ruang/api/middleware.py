"""Request ids and access logs: every HTTP request gets an id that is bound to every log
record made while serving it and returned in ``X-Request-ID``. (WebSockets are served by the
realtime listener, which logs their end under the same logger.)"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ruang.logs import bind

log = logging.getLogger("ruang.access")

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode(
            "latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else secrets.token_hex(8)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": None}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with bind(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info("%s %s %s", scope["method"], scope["path"], status["code"],
                         extra={"method": scope["method"], "path": scope["path"],
                                "status": status["code"],
                                "duration_ms": round((time.perf_counter() - started)
                                                     * 1000, 1)})
