"""Map every failure to ``{"error": {"code", "message"}}`` with its status; never a traceback."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ruang.errors import RateLimited, RuangError
from ruang.media.engine import MediaError
from ruang.storage.db import StorageUnavailable

log = logging.getLogger(__name__)

_HTTP_CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed"}


def error_response(status: int, code: str, message: str,
                   details: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(RuangError)
    async def ruang_error(request: Request, exc: RuangError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                    "problem": str(err.get("msg", ""))} for err in exc.errors()[:10]]
        return error_response(400, "invalid_input", "the request is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "invalid_input")
        status = exc.status_code if exc.status_code in _HTTP_CODES else 400
        return error_response(status, code, str(exc.detail))

    @app.exception_handler(StorageUnavailable)
    async def storage_down(request: Request, exc: StorageUnavailable) -> JSONResponse:
        log.warning("storage unavailable: %s", exc)
        return error_response(503, "storage_unavailable",
                              "the database is unavailable; try again shortly")

    @app.exception_handler(MediaError)
    async def media_error(request: Request, exc: MediaError) -> JSONResponse:
        return error_response(503, "media_unavailable", str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(500, "internal_error", "something went wrong on the server")
