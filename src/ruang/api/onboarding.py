"""REST endpoints for getting in: the waitlist, invitations, redeeming an invitation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import Field

from ruang.actions import onboarding
from ruang.api.accounts import LoginOut, MemberPublic, set_session_cookies
from ruang.api.deps import ClientIp, CurrentMember, ServicesDep, rate_limit
from ruang.api.schemas import Email, Password, PathId, Schema, Token

router = APIRouter(prefix="/api/v1", tags=["onboarding"])


class WaitlistIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    email: Email
    username: Annotated[str, Field(min_length=1, max_length=32)]
    vouchers: Annotated[list[Annotated[str, Field(max_length=33)]],
                        Field(max_length=5, description="usernames of members who know you")
                        ] = []
    note: Annotated[str, Field(max_length=500)] = ""


class InviteIn(Schema):
    email: Email


class RedeemIn(Schema):
    token: Token
    password: Password
    username: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    display_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class MyInvites(Schema):
    invites_left: int
    invites: list[onboarding.InviteView]


@router.post("/waitlist", status_code=status.HTTP_202_ACCEPTED,
             summary="Ask to join: your username is kept while you wait; the link to see your "
             "place comes by email")
async def join_waitlist(body: WaitlistIn, svc: ServicesDep, ip: ClientIp) -> dict[str, str]:
    await rate_limit(svc, "signup-ip", ip)
    await onboarding.join_waitlist(svc, name=body.name, email=body.email,
                                   username=body.username, vouchers=body.vouchers,
                                   note=body.note)
    return {"message": "thank you: check your email for the link to your place on the "
                       "waitlist"}


@router.get("/waitlist/status", response_model=onboarding.WaitlistStatus)
async def waitlist_status(svc: ServicesDep, token: Annotated[str, Query(max_length=100)]
                          ) -> onboarding.WaitlistStatus:
    return await onboarding.waitlist_status(svc, token)


@router.get("/waitlist/named-me", response_model=list[onboarding.WaitlistEntryView],
            summary="People on the waitlist who named you: you can wave them in")
async def named_me(svc: ServicesDep,
                   member: CurrentMember) -> list[onboarding.WaitlistEntryView]:
    return await onboarding.entries_naming(svc, member)


@router.post("/waitlist/{entry_id}/wave-in", response_model=onboarding.InviteView,
             status_code=status.HTTP_201_CREATED)
async def wave_in(entry_id: PathId, svc: ServicesDep,
                  member: CurrentMember) -> onboarding.InviteView:
    await rate_limit(svc, "invite-account", str(member.id))
    return await onboarding.wave_in(svc, member, entry_id)


@router.get("/invites", response_model=MyInvites)
async def my_invites(svc: ServicesDep, member: CurrentMember) -> MyInvites:
    left, invites = await onboarding.my_invites(svc, member)
    return MyInvites(invites_left=left, invites=invites)


@router.post("/invites", response_model=onboarding.InviteView,
             status_code=status.HTTP_201_CREATED, summary="Invite someone by email")
async def send_invite(body: InviteIn, svc: ServicesDep,
                      member: CurrentMember) -> onboarding.InviteView:
    await rate_limit(svc, "invite-account", str(member.id))
    return await onboarding.send_invite(svc, member, body.email)


@router.delete("/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Take back an unused invitation (you get it back)")
async def revoke_invite(invite_id: PathId, svc: ServicesDep, member: CurrentMember) -> Response:
    await onboarding.revoke_invite(svc, member, invite_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/invites/lookup", response_model=onboarding.InviteInfo,
            summary="What an invitation link is for (before redeeming it)")
async def invite_info(svc: ServicesDep, token: Annotated[str, Query(max_length=100)]
                      ) -> onboarding.InviteInfo:
    return await onboarding.invite_info(svc, token)


@router.post("/invites/redeem", response_model=LoginOut, status_code=status.HTTP_201_CREATED,
             summary="Create your account from an invitation (you are logged in)")
async def redeem(body: RedeemIn, request: Request, response: Response, svc: ServicesDep,
                 ip: ClientIp) -> LoginOut:
    await rate_limit(svc, "signup-ip", ip)
    token, member, expires = await onboarding.redeem_invite(
        svc, body.token, password=body.password, username=body.username,
        display_name=body.display_name, user_agent=request.headers.get("user-agent"))
    csrf = set_session_cookies(response, token, secure=svc.settings.cookie_secure,
                               max_age=svc.settings.session_days * 86400)
    return LoginOut(token=token, expires_at=expires, member=MemberPublic.of(member),
                    csrf_token=csrf)
