"""REST endpoints for one's own account: log in and out, sessions, API keys, password reset,
email address verification."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from ruang import ratelimit
from ruang.actions import members as member_actions
from ruang.actions.members import MemberInfo, SessionView
from ruang.api.deps import (
    COOKIE,
    CSRF_COOKIE,
    ClientIp,
    CurrentMember,
    CurrentToken,
    ServicesDep,
    rate_limit,
)
from ruang.api.schemas import Email, Password, PathId, Schema, Token
from ruang.errors import NotAuthenticated, RateLimited
from ruang.storage.models import Member

router = APIRouter(prefix="/api/v1", tags=["account"])


class LoginIn(Schema):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Password


class MemberPublic(BaseModel):
    id: int
    username: str
    display_name: str
    is_admin: bool

    @classmethod
    def of(cls, m: MemberInfo) -> MemberPublic:
        return cls(id=m.id, username=m.username, display_name=m.display_name,
                   is_admin=m.is_admin)


class LoginOut(BaseModel):
    token: str
    expires_at: dt.datetime
    member: MemberPublic
    csrf_token: str


class Me(MemberPublic):
    email: str | None
    email_verified: bool
    invites_left: int
    csrf_token: str | None = None


class ApiKeyIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=64)]


class ResetIn(Schema):
    email: Email


class ResetConfirmIn(Schema):
    token: Token
    password: Password


class EmailIn(Schema):
    email: Email


class TokenIn(Schema):
    token: Token


def set_session_cookies(response: Response, token: str, *, secure: bool,
                        max_age: int) -> str:
    """The session cookie (HttpOnly) and the CSRF cookie the web app reads; returns the CSRF
    token."""
    csrf = member_actions.csrf_token(token)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure,
                        path="/", max_age=max_age)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict", secure=secure,
                        path="/", max_age=max_age)
    return csrf


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.post("/auth/login", response_model=LoginOut)
async def login(body: LoginIn, request: Request, response: Response, svc: ServicesDep,
                ip: ClientIp) -> LoginOut:
    account = body.username.strip().lower()
    await rate_limit(svc, "login-ip", ip)
    await rate_limit(svc, "login-account", account, count=False)
    try:
        token, member, expires = await member_actions.login(
            svc, body.username, body.password, user_agent=request.headers.get("user-agent"))
    except NotAuthenticated:
        # Failures count against the account; the answer stays "wrong username or password".
        with contextlib.suppress(RateLimited):
            await rate_limit(svc, "login-account", account)
        raise
    with contextlib.suppress(ratelimit.RateLimiterUnavailable):
        await svc.limiter.reset(ratelimit.Limit.parse(
            "login-account", svc.settings.limit_login_account), account)
    csrf = set_session_cookies(response, token, secure=svc.settings.cookie_secure,
                               max_age=svc.settings.session_days * 86400)
    return LoginOut(token=token, expires_at=expires, member=MemberPublic.of(member),
                    csrf_token=csrf)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(svc: ServicesDep, token: CurrentToken, member: CurrentMember) -> Response:
    assert token is not None
    await member_actions.logout(svc, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response)
    return response


@router.post("/auth/logout-everywhere", status_code=status.HTTP_204_NO_CONTENT,
             summary="End every login session of yours, on every device")
async def logout_everywhere(svc: ServicesDep, member: CurrentMember) -> Response:
    await member_actions.logout_everywhere(svc, member)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response)
    return response


@router.get("/me", response_model=Me)
async def me(request: Request, svc: ServicesDep, member: CurrentMember,
             token: CurrentToken) -> Me:
    async with svc.db.read() as s:
        m = (await s.execute(select(Member).where(Member.id == member.id))).scalar_one()
    from_cookie = token is not None and request.cookies.get(COOKIE) == token
    return Me(id=m.id, username=m.username, display_name=m.display_name, is_admin=m.is_admin,
              email=m.email, email_verified=m.email_verified_at is not None,
              invites_left=m.invites_left,
              csrf_token=member_actions.csrf_token(token) if from_cookie and token else None)


@router.get("/sessions", response_model=list[SessionView])
async def sessions(svc: ServicesDep, member: CurrentMember) -> list[SessionView]:
    return await member_actions.list_sessions(svc, member)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(session_id: PathId, svc: ServicesDep, member: CurrentMember) -> Response:
    await member_actions.revoke_session(svc, member, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api-keys", response_model=list[SessionView])
async def api_keys(svc: ServicesDep, member: CurrentMember) -> list[SessionView]:
    return await member_actions.list_sessions(svc, member, kind="api_key")


@router.post("/api-keys", response_model=member_actions.NewApiKey,
             status_code=status.HTTP_201_CREATED,
             summary="Create a named API key for a bot (the token is shown only now)")
async def create_api_key(body: ApiKeyIn, svc: ServicesDep,
                         member: CurrentMember) -> member_actions.NewApiKey:
    return await member_actions.create_api_key(svc, member, body.name)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: PathId, svc: ServicesDep, member: CurrentMember) -> Response:
    await member_actions.revoke_session(svc, member, key_id, kind="api_key")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED,
             summary="Email a reset link (the answer is the same for every address)")
async def password_reset(body: ResetIn, svc: ServicesDep, ip: ClientIp) -> dict[str, str]:
    await rate_limit(svc, "reset-ip", ip)
    await rate_limit(svc, "reset-account", body.email.strip().lower())
    await member_actions.request_password_reset(svc, body.email)
    return {"message": "if this address belongs to a member, a reset link is on its way"}


@router.post("/auth/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def password_reset_confirm(body: ResetConfirmIn, svc: ServicesDep,
                                 ip: ClientIp) -> Response:
    await rate_limit(svc, "reset-ip", ip)
    await member_actions.confirm_password_reset(svc, body.token, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/email", status_code=status.HTTP_202_ACCEPTED,
             summary="Change your address: a confirmation link goes to the new one")
async def change_email(body: EmailIn, svc: ServicesDep, member: CurrentMember,
                       ip: ClientIp) -> dict[str, str]:
    await rate_limit(svc, "reset-ip", ip)
    await member_actions.request_email_change(svc, member, body.email)
    return {"message": "a confirmation link is on its way to the new address"}


@router.post("/auth/verify-email", response_model=MemberPublic)
async def verify_email(body: TokenIn, svc: ServicesDep) -> MemberPublic:
    return MemberPublic.of(await member_actions.confirm_email(svc, body.token))
