"""REST endpoints for administrators: the waitlist, invitations, reports, sanctions.
Every endpoint here answers 403 ``not_an_admin`` to other members (checked in actions/)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ruang.actions import moderation, onboarding
from ruang.api.deps import CurrentMember, ServicesDep
from ruang.api.schemas import MAX_ID, DbId, Schema

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class Ids(Schema):
    ids: Annotated[list[DbId], Field(min_length=1, max_length=1000)]


class Changed(BaseModel):
    changed: int


class Grant(Schema):
    count: Annotated[int, Field(ge=1, le=1000)]


class InvitesLeft(BaseModel):
    invites_left: int


class Resolve(Schema):
    action: Literal["warn", "suspend", "ban", "dismiss"]
    days: Annotated[int, Field(ge=1, le=3650)] | None = None
    note: Annotated[str, Field(max_length=1000)] = ""


class SanctionIn(Schema):
    action: Literal["warn", "suspend", "ban", "lift"]
    days: Annotated[int, Field(ge=1, le=3650)] | None = None
    reason: Annotated[str, Field(max_length=1000)] = ""


@router.get("/waitlist", response_model=list[onboarding.WaitlistEntryView])
async def waitlist(svc: ServicesDep, member: CurrentMember,
                   status: Literal["waiting", "invited", "joined", "rejected", "all"] = "waiting",
                   after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   ) -> list[onboarding.WaitlistEntryView]:
    onboarding.require_admin(member)
    return await onboarding.list_waitlist(svc, status, limit, after_id)


@router.post("/waitlist/approve", response_model=Changed,
             summary="Invite these waiting people (does not use anyone's invitations)")
async def approve(body: Ids, svc: ServicesDep, member: CurrentMember) -> Changed:
    return Changed(changed=await onboarding.decide_waitlist(svc, member, body.ids, True))


@router.post("/waitlist/reject", response_model=Changed)
async def reject(body: Ids, svc: ServicesDep, member: CurrentMember) -> Changed:
    return Changed(changed=await onboarding.decide_waitlist(svc, member, body.ids, False))


@router.post("/members/{ref}/invites", response_model=InvitesLeft,
             summary="Give a member more invitations")
async def grant(ref: str, body: Grant, svc: ServicesDep, member: CurrentMember) -> InvitesLeft:
    return InvitesLeft(invites_left=await onboarding.grant_invites(svc, member, ref,
                                                                   body.count))


@router.post("/members/{ref}/sanction", response_model=Changed,
             summary="Warn, suspend, ban or reinstate a member")
async def sanction(ref: str, body: SanctionIn, svc: ServicesDep,
                   member: CurrentMember) -> Changed:
    await moderation.sanction(svc, member, ref, body.action, reason=body.reason,
                              days=body.days)
    return Changed(changed=1)


@router.get("/reports", response_model=list[moderation.ReportView])
async def reports(svc: ServicesDep, member: CurrentMember,
                  status: Literal["open", "resolved", "all"] = "open",
                  ) -> list[moderation.ReportView]:
    return await moderation.list_reports(svc, member, status)


@router.post("/reports/{report_id}/resolve", response_model=moderation.ReportView)
async def resolve(report_id: int, body: Resolve, svc: ServicesDep,
                  member: CurrentMember) -> moderation.ReportView:
    return await moderation.resolve_report(svc, member, report_id, body.action,
                                           days=body.days, note=body.note)
