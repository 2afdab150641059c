"""Request dependencies as Annotated aliases: the runtime, the services, the current member."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ruang.actions import members as member_actions
from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.errors import NotAuthenticated

if TYPE_CHECKING:
    from ruang.app import Runtime

COOKIE = "ruang_session"

_bearer = HTTPBearer(auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_services(request: Request) -> Services:
    return get_runtime(request).svc


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]
ServicesDep = Annotated[Services, Depends(get_services)]


def request_token(request: Request,
                  credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    return request.cookies.get(COOKIE)


async def current_member(
    request: Request, svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MemberInfo:
    token = request_token(request, credentials)
    if not token:
        raise NotAuthenticated("not_authenticated", "log in first")
    return await member_actions.authenticate(svc, token)


async def current_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return request_token(request, credentials)


CurrentMember = Annotated[MemberInfo, Depends(current_member)]
CurrentToken = Annotated[str | None, Depends(current_token)]
