"""Reports and sanctions: members report members or rooms; administrators warn, suspend or
ban (and lift). A suspension or ban ends every session and API key of the member at once on
every server (their WebSockets close), and takes them out of the rooms they are in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ruang import emails
from ruang.actions import rooms as room_actions
from ruang.actions.context import Services
from ruang.actions.members import MemberInfo, member_by_ref, revoke_sessions
from ruang.actions.onboarding import require_admin
from ruang.actions.outbox import enqueue
from ruang.errors import Conflict, Forbidden, InvalidInput, NotFound
from ruang.storage.models import Member, Report, Room, RoomMember, Sanction, utcnow

REASON_MAX = 1000
SanctionKind = Literal["warn", "suspend", "ban", "lift"]


class ReportView(BaseModel):
    id: int
    reporter: str | None
    member: str | None
    room_id: int | None
    room_title: str | None
    reason: str
    status: str
    resolution: str | None
    note: str
    created_at: dt.datetime
    resolved_at: dt.datetime | None


async def report(svc: Services, reporter: MemberInfo, *, member: str | None = None,
                 room_id: int | None = None, reason: str) -> ReportView:
    reason = reason.strip()
    if not 1 <= len(reason) <= REASON_MAX:
        raise InvalidInput("invalid_input", f"say why in 1 to {REASON_MAX} characters")
    if (member is None) == (room_id is None):
        raise InvalidInput("invalid_input", "report either a member or a room")
    async with svc.db.transaction() as s:
        target_id = None
        target_name = None
        title = None
        if member is not None:
            target = await member_by_ref(s, member)
            if target is None:
                raise NotFound("member_not_found", f"no member {member!r}")
            if target.id == reporter.id:
                raise InvalidInput("invalid_input", "you cannot report yourself")
            target_id = target.id
            target_name = target.username
        if room_id is not None:
            room = await s.get(Room, room_id) if 1 <= room_id < 2**63 else None
            if room is None:
                raise NotFound("room_not_found", f"no room {room_id}")
            title = room.title
        row = Report(reporter_id=reporter.id, member_id=target_id, room_id=room_id,
                     reason=reason)
        s.add(row)
        await s.flush()
    return ReportView(id=row.id, reporter=reporter.username,
                      member=target_name,
                      room_id=room_id, room_title=title, reason=reason, status=row.status,
                      resolution=None, note="", created_at=row.created_at, resolved_at=None)


async def list_reports(svc: Services, admin: MemberInfo, status: str = "open",
                       limit: int = 200) -> list[ReportView]:
    require_admin(admin)
    async with svc.db.read() as s:
        query = select(Report).order_by(Report.created_at)
        if status != "all":
            query = query.where(Report.status == status)
        return await _views(s, list((await s.execute(query.limit(limit))).scalars()))


async def _views(s: AsyncSession, rows: list[Report]) -> list[ReportView]:
    if not rows:
        return []
    people = {r.reporter_id for r in rows} | {r.member_id for r in rows}
    names = {m.id: m.username for m in (await s.execute(select(Member).where(
        Member.id.in_({p for p in people if p is not None})))).scalars()}
    titles = {r.id: r.title for r in (await s.execute(select(Room).where(
        Room.id.in_({r.room_id for r in rows if r.room_id})))).scalars()}
    return [ReportView(id=r.id, reporter=names.get(r.reporter_id or -1),
                       member=names.get(r.member_id or -1), room_id=r.room_id,
                       room_title=titles.get(r.room_id or -1), reason=r.reason,
                       status=r.status, resolution=r.resolution, note=r.note,
                       created_at=r.created_at, resolved_at=r.resolved_at) for r in rows]


async def sanction(svc: Services, admin: MemberInfo, ref: str, kind: SanctionKind, *,
                   reason: str = "", days: int | None = None,
                   report_id: int | None = None) -> None:
    """Warn, suspend (for ``days``), ban or lift (reactivate) a member."""
    require_admin(admin)
    if kind == "suspend" and not (days and 1 <= days <= 3650):
        raise InvalidInput("invalid_input", "a suspension lasts 1 to 3650 days")
    if len(reason) > REASON_MAX:
        raise InvalidInput("invalid_input", f"a reason has at most {REASON_MAX} characters")
    revoked: list[int] = []
    rooms: list[int] = []
    async with svc.db.transaction() as s:
        m = await member_by_ref(s, ref)
        if m is None:
            raise NotFound("member_not_found", f"no member {ref!r}")
        if m.id == admin.id and kind in ("suspend", "ban"):
            raise Forbidden("forbidden", "administrators cannot suspend or ban themselves")
        until = utcnow() + dt.timedelta(days=days) if kind == "suspend" and days else None
        s.add(Sanction(member_id=m.id, kind=kind, reason=reason, until=until, by_id=admin.id,
                       report_id=report_id))
        if kind in ("suspend", "ban"):
            m.status = "suspended" if kind == "suspend" else "banned"
            m.suspended_until = until
            revoked = await revoke_sessions(s, m.id, kind=None)
            rooms = list((await s.execute(select(RoomMember.room_id).where(
                RoomMember.member_id == m.id, RoomMember.left_at.is_(None)))).scalars())
        elif kind == "lift":
            m.status = "active"
            m.suspended_until = None
        if m.email and kind != "lift":
            enqueue(s, emails.sanction(m.email, kind, reason, until))
    svc.outbox_wakeup()
    if revoked or kind in ("suspend", "ban"):
        await svc.publish_revoked(m.id, None)
        for room_id in rooms:
            with contextlib.suppress(NotFound, Conflict):
                await room_actions.leave_room(svc, room_id, m.id)


async def resolve_report(svc: Services, admin: MemberInfo, report_id: int,
                         action: Literal["warn", "suspend", "ban", "dismiss"], *,
                         days: int | None = None, note: str = "") -> ReportView:
    require_admin(admin)
    async with svc.db.read() as s:
        row = await s.get(Report, report_id) if 1 <= report_id < 2**63 else None
        if row is None:
            raise NotFound("not_found", f"no report {report_id}")
        if row.status != "open":
            raise Conflict("already_resolved", "this report was already resolved")
        target = await s.get(Member, row.member_id) if row.member_id else None
        if action != "dismiss" and target is None:
            room = await s.get(Room, row.room_id) if row.room_id else None
            target = await s.get(Member, room.host_id) if room else None
    if action != "dismiss":
        if target is None:
            raise NotFound("member_not_found", "the reported member no longer exists")
        await sanction(svc, admin, str(target.id), action, reason=note or row.reason,
                       days=days, report_id=report_id)
    async with svc.db.transaction() as s:
        row = await s.get(Report, report_id, with_for_update=True)
        assert row is not None
        row.status = "resolved"
        row.resolution = {"warn": "warned", "suspend": "suspended", "ban": "banned",
                          "dismiss": "dismissed"}[action]
        row.resolved_by = admin.id
        row.resolved_at = utcnow()
        row.note = note
    async with svc.db.read() as s:
        resolved = await s.get(Report, report_id)
        assert resolved is not None
        return (await _views(s, [resolved]))[0]
