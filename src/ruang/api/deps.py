"""Request dependencies as Annotated aliases: the runtime, the services, the current member,
the client's address, rate limits.

Authentication: ``Authorization: Bearer <token>`` (SDK, bots) or the ``ruang_session``
cookie (web app). A cookie-authenticated request that changes something must also carry
``X-CSRF-Token`` (the value the login answer and the ``ruang_csrf`` cookie give): a bearer
token is never sent by a browser on its own, a cookie is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ruang import ratelimit
from ruang.actions import members as member_actions
from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.errors import Forbidden, NotAuthenticated, RateLimited

if TYPE_CHECKING:
    from ruang.app import Runtime

log = logging.getLogger(__name__)

COOKIE = "ruang_session"
CSRF_COOKIE = "ruang_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_services(request: Request) -> Services:
    return get_runtime(request).svc


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]
ServicesDep = Annotated[Services, Depends(get_services)]


def request_token(request: Request,
                  credentials: HTTPAuthorizationCredentials | None) -> tuple[str | None, bool]:
    """(token, whether it came from the cookie)."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials, False
    cookie = request.cookies.get(COOKIE)
    return cookie, cookie is not None


async def current_member(
    request: Request, svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MemberInfo:
    token, from_cookie = request_token(request, credentials)
    if not token:
        raise NotAuthenticated("not_authenticated", "log in first")
    member = await member_actions.authenticate(svc, token)
    if from_cookie and request.method not in SAFE_METHODS and \
            request.headers.get(CSRF_HEADER) != member_actions.csrf_token(token):
        raise Forbidden("csrf_failed", "this request needs the X-CSRF-Token header")
    return member


async def current_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return request_token(request, credentials)[0]


CurrentMember = Annotated[MemberInfo, Depends(current_member)]
CurrentToken = Annotated[str | None, Depends(current_token)]


def client_ip(request: Request) -> str:
    settings = get_services(request).settings
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]


def _limit(svc: Services, name: str) -> ratelimit.Limit:
    spec = getattr(svc.settings, f"limit_{name.replace('-', '_')}")
    return ratelimit.Limit.parse(name, spec)


async def rate_limit(svc: Services, name: str, key: str, *, count: bool = True) -> None:
    """Count one event (or, with count=False, only check) against a configured limit; answer
    429 when over. If the shared limiter is unreachable, fall back to this process's own."""
    limit = _limit(svc, name)
    try:
        try:
            if count:
                await svc.limiter.hit(limit, key)
            else:
                wait = await svc.limiter.peek(limit, key)
                if wait > 0:
                    raise ratelimit.RateLimited(limit, wait)
        except ratelimit.RateLimiterUnavailable:
            log.warning("rate limiter unavailable; limiting in this process only")
            if count:
                await svc.local_limiter.hit(limit, key)
    except ratelimit.RateLimited as exc:
        raise RateLimited("rate_limited", exc.message, exc.retry_after) from None
