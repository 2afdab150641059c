"""Every change to a room: check (domain.rooms), write, commit, then publish its events.

A room write locks the room row (PostgreSQL ``FOR UPDATE``; SQLite serializes writers), bumps
the room's sequence number once per event, stores each event in ``room_events`` in the same
transaction, and publishes only after the commit. Reads build the snapshot that those events
keep up to date (events/models.apply).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.domain import rooms as rules
from ruang.domain.rooms import Action, Role, RoomState, Seat
from ruang.errors import Conflict, Forbidden, InvalidInput, NotFound
from ruang.events import models as ev
from ruang.storage.models import Block, Member, Room, RoomEventRow, RoomMember, utcnow

TITLE_MAX = 120
MAX_ID = 2**63 - 1
DESCRIPTION_MAX = 1000


@dataclass
class RoomTx:
    session: AsyncSession
    room: Room
    envelopes: list[ev.RoomEventEnvelope] = field(default_factory=list)

    def emit(self, event: ev.MemberJoined | ev.MemberLeft | ev.PresenceChanged
             | ev.RoleChanged | ev.SpeakInvited | ev.InviteDeclined | ev.MuteChanged
             | ev.RoomEnded) -> None:
        self.room.seq += 1
        now = utcnow()
        self.session.add(RoomEventRow(room_id=self.room.id, seq=self.room.seq, type=event.type,
                                      payload=event.model_dump(mode="json"), created_at=now))
        self.envelopes.append(ev.RoomEventEnvelope(room_id=self.room.id, seq=self.room.seq,
                                                   at=now, event=event))

    async def seat_row(self, member_id: int) -> RoomMember | None:
        row = await self.session.get(RoomMember, (self.room.id, member_id))
        return row if row is not None and row.left_at is None else None


def _seat(row: RoomMember | None) -> Seat | None:
    if row is None:
        return None
    return Seat(Role(row.role), row.self_muted, row.mod_muted, row.invited)


def _deny(denial: rules.Denial) -> Exception:
    if denial.code == "member_not_found":
        return NotFound(denial.code, denial.message)
    if denial.code in Forbidden.codes:
        return Forbidden(denial.code, denial.message)
    return Conflict(denial.code, denial.message)


@contextlib.asynccontextmanager
async def _room_write(svc: Services, room_id: int, *,
                      must_be_live: bool = True) -> AsyncIterator[RoomTx]:
    _check_id(room_id)
    async with svc.db.transaction() as s:
        room = await s.get(Room, room_id, with_for_update=True)
        if room is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        if must_be_live and room.state != RoomState.LIVE:
            raise Conflict("room_ended", "this room has ended")
        tx = RoomTx(s, room)
        yield tx
    await svc.publish(tx.envelopes)


def _member_view(row: RoomMember, member: Member) -> ev.MemberView:
    return ev.MemberView(id=member.id, username=member.username,
                         display_name=member.display_name, role=Role(row.role),
                         self_muted=row.self_muted, mod_muted=row.mod_muted,
                         invited=row.invited, connected=row.disconnected_at is None)


def _room_view(room: Room) -> ev.RoomView:
    return ev.RoomView(id=room.id, title=room.title, description=room.description,
                       state=RoomState(room.state), host_id=room.host_id,
                       created_at=room.created_at, ended_at=room.ended_at)


# --- reads ----------------------------------------------------------------------------------


def _check_id(room_id: int) -> None:
    if not 1 <= room_id <= MAX_ID:
        raise NotFound("room_not_found", f"no room {room_id}")


async def snapshot(svc: Services, room_id: int) -> ev.RoomSnapshot:
    _check_id(room_id)
    async with svc.db.read() as s:
        room = await s.get(Room, room_id)
        if room is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        rows = (await s.execute(
            select(RoomMember, Member).join(Member, Member.id == RoomMember.member_id)
            .where(RoomMember.room_id == room_id, RoomMember.left_at.is_(None))
            .order_by(RoomMember.join_seq))).all()
        return ev.RoomSnapshot(room=_room_view(room),
                               members=[_member_view(r, m) for r, m in rows], seq=room.seq)


async def current_seq(svc: Services, room_id: int) -> int:
    async with svc.db.read() as s:
        seq = (await s.execute(select(Room.seq).where(Room.id == room_id))).scalar_one_or_none()
    return int(seq or 0)


async def events_since(svc: Services, room_id: int, after: int,
                       limit: int = 10000) -> list[ev.RoomEventEnvelope]:
    async with svc.db.read() as s:
        rows = (await s.execute(
            select(RoomEventRow).where(RoomEventRow.room_id == room_id,
                                       RoomEventRow.seq > after)
            .order_by(RoomEventRow.seq).limit(limit))).scalars().all()
    return [ev.RoomEventEnvelope.model_validate(
        {"room_id": r.room_id, "seq": r.seq, "at": r.created_at, "event": r.payload})
        for r in rows]


class RoomSummary(BaseModel):
    """A live room as the room list shows it."""

    id: int
    title: str
    description: str
    host: str
    created_at: dt.datetime
    speakers: int
    listeners: int


async def list_live(svc: Services, limit: int = 100) -> list[RoomSummary]:
    async with svc.db.read() as s:
        counts = (select(RoomMember.room_id,
                         func.sum(case((RoomMember.role != Role.LISTENER.value, 1),
                                       else_=0)).label("stage"),
                         func.count().label("total"))
                  .where(RoomMember.left_at.is_(None)).group_by(RoomMember.room_id).subquery())
        rows = (await s.execute(
            select(Room, Member.username, counts.c.stage, counts.c.total)
            .join(Member, Member.id == Room.host_id)
            .outerjoin(counts, counts.c.room_id == Room.id)
            .where(Room.state == RoomState.LIVE.value)
            .order_by(Room.created_at.desc()).limit(limit))).all()
    return [RoomSummary(id=r.id, title=r.title, description=r.description, host=host,
                        created_at=r.created_at, speakers=int(stage or 0),
                        listeners=int(total or 0) - int(stage or 0))
            for r, host, stage, total in rows]


async def seat_of(svc: Services, room_id: int, member_id: int) -> Seat | None:
    async with svc.db.read() as s:
        row = await s.get(RoomMember, (room_id, member_id))
    return _seat(row if row is not None and row.left_at is None else None)


# --- writes ---------------------------------------------------------------------------------


def _clean_title(title: str, description: str) -> tuple[str, str]:
    title = " ".join(title.split())
    if not 1 <= len(title) <= TITLE_MAX:
        raise InvalidInput("invalid_input", f"a room title has 1 to {TITLE_MAX} characters")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput("invalid_input",
                           f"a room description has at most {DESCRIPTION_MAX} characters")
    return title, description


async def create_room(svc: Services, host: MemberInfo, title: str,
                      description: str = "") -> ev.RoomView:
    title, description = _clean_title(title, description)
    room = Room(title=title, description=description, host_id=host.id,
                state=RoomState.LIVE.value, seq=0)
    async with svc.db.transaction() as s:
        s.add(room)
    return _room_view(room)


async def join_room(svc: Services, room_id: int, member: MemberInfo) -> None:
    """Enter the room (or resume a place kept during a connection drop)."""
    async with _room_write(svc, room_id) as tx:
        row = await tx.session.get(RoomMember, (room_id, member.id))
        if row is not None and row.left_at is None:
            if row.disconnected_at is not None:
                row.disconnected_at = None
                tx.emit(ev.PresenceChanged(member_id=member.id, connected=True))
            return
        if await _blocked_by_moderator(tx, member.id):
            raise Forbidden("blocked", "you cannot join this room")
        role = Role.MODERATOR if tx.room.host_id == member.id else Role.LISTENER
        if row is None:
            row = RoomMember(room_id=room_id, member_id=member.id, role=role.value,
                             join_seq=tx.room.seq + 1)
            tx.session.add(row)
        else:
            row.role = role.value
            row.left_at = None
            row.disconnected_at = None
            row.join_seq = tx.room.seq + 1
        row.self_muted = row.mod_muted = row.invited = False
        row.joined_at = utcnow()
        m = await tx.session.get(Member, member.id)
        assert m is not None
        tx.emit(ev.MemberJoined(member=_member_view(row, m)))


async def _blocked_by_moderator(tx: RoomTx, member_id: int) -> bool:
    """Whether the room's host or one of its present moderators blocked this member."""
    moderators = select(RoomMember.member_id).where(
        RoomMember.room_id == tx.room.id, RoomMember.left_at.is_(None),
        RoomMember.role == Role.MODERATOR.value)
    row = (await tx.session.execute(select(Block.blocker_id).where(
        Block.blocked_id == member_id,
        or_(Block.blocker_id == tx.room.host_id, Block.blocker_id.in_(moderators))).limit(1))
    ).first()
    return row is not None


async def _end(tx: RoomTx, by: int | None, reason: str) -> None:
    tx.room.state = rules.transition(RoomState(tx.room.state), RoomState.ENDED).value
    tx.emit(ev.RoomEnded(by=by, reason="empty" if reason == "empty" else "ended"))
    tx.room.ended_at = tx.envelopes[-1].at  # the snapshot's ended_at is the event's time
    await tx.session.execute(update(RoomMember).where(RoomMember.room_id == tx.room.id,
                                                      RoomMember.left_at.is_(None))
                             .values(left_at=tx.room.ended_at))


async def _remaining(tx: RoomTx) -> int:
    return int((await tx.session.execute(
        select(func.count()).select_from(RoomMember)
        .where(RoomMember.room_id == tx.room.id, RoomMember.left_at.is_(None)))).scalar_one())


async def leave_room(svc: Services, room_id: int, member_id: int,
                     reason: str = "left") -> None:
    """Leave; the room ends when its last member leaves."""
    async with _room_write(svc, room_id) as tx:
        row = await tx.seat_row(member_id)
        if row is None:
            return
        row.left_at = utcnow()
        row.disconnected_at = None
        tx.emit(ev.MemberLeft(member_id=member_id,
                              reason="timeout" if reason == "timeout" else "left"))
        await tx.session.flush()
        if await _remaining(tx) == 0:
            await _end(tx, None, "empty")


async def set_connected(svc: Services, room_id: int, member_id: int, connected: bool, *,
                        unless: Callable[[], bool] | None = None) -> None:
    """A member's connection dropped (keep their place for the grace period) or came back.

    ``unless`` is asked once the room is locked: true cancels the change (a newer connection
    of the member took the place in the meantime)."""
    async with _room_write(svc, room_id) as tx:
        if unless is not None and unless():
            return
        row = await tx.seat_row(member_id)
        if row is None or (row.disconnected_at is None) == connected:
            return
        row.disconnected_at = None if connected else utcnow()
        tx.emit(ev.PresenceChanged(member_id=member_id, connected=connected))


async def end_room(svc: Services, room_id: int, actor: MemberInfo) -> None:
    async with _room_write(svc, room_id) as tx:
        denial = rules.decide(Action.END_ROOM, _seat(await tx.seat_row(actor.id)))
        if denial is not None and not actor.is_admin:
            raise _deny(denial)
        await _end(tx, actor.id, "ended")


async def _targeted(tx: RoomTx, action: Action, actor: MemberInfo,
                    target_id: int) -> RoomMember:
    target = await tx.seat_row(target_id)
    denial = rules.decide(action, _seat(await tx.seat_row(actor.id)), _seat(target),
                          is_self=actor.id == target_id)
    if denial is not None:
        raise _deny(denial)
    assert target is not None
    return target


async def invite_to_speak(svc: Services, room_id: int, actor: MemberInfo,
                          target_id: int) -> None:
    async with _room_write(svc, room_id) as tx:
        target = await _targeted(tx, Action.INVITE_TO_SPEAK, actor, target_id)
        if target.invited:
            return
        target.invited = True
        tx.emit(ev.SpeakInvited(member_id=target_id, by=actor.id))


async def answer_invite(svc: Services, room_id: int, member: MemberInfo,
                        accept: bool) -> None:
    async with _room_write(svc, room_id) as tx:
        row = await tx.seat_row(member.id)
        action = Action.ACCEPT_INVITE if accept else Action.DECLINE_INVITE
        denial = rules.decide(action, _seat(row))
        if denial is not None:
            raise _deny(denial)
        assert row is not None
        row.invited = False
        if accept:
            row.role = Role.SPEAKER.value
            tx.emit(ev.RoleChanged(member_id=member.id, role=Role.SPEAKER, by=None))
        else:
            tx.emit(ev.InviteDeclined(member_id=member.id))


async def move_to_audience(svc: Services, room_id: int, actor: MemberInfo,
                           target_id: int) -> None:
    async with _room_write(svc, room_id) as tx:
        if actor.id == target_id:
            target = await tx.seat_row(actor.id)
            denial = rules.decide(Action.LEAVE_STAGE, _seat(target))
            if denial is not None:
                raise _deny(denial)
            assert target is not None
        else:
            target = await _targeted(tx, Action.MOVE_TO_AUDIENCE, actor, target_id)
        target.role = Role.LISTENER.value
        target.self_muted = target.mod_muted = target.invited = False
        tx.emit(ev.RoleChanged(member_id=target_id, role=Role.LISTENER,
                               by=None if actor.id == target_id else actor.id))


async def set_mod_muted(svc: Services, room_id: int, actor: MemberInfo, target_id: int,
                        muted: bool) -> None:
    async with _room_write(svc, room_id) as tx:
        target = await _targeted(tx, Action.MUTE if muted else Action.UNMUTE, actor, target_id)
        if target.mod_muted == muted:
            return
        target.mod_muted = muted
        tx.emit(ev.MuteChanged(member_id=target_id, self_muted=target.self_muted,
                               mod_muted=muted, by=actor.id))


async def set_self_muted(svc: Services, room_id: int, member: MemberInfo, muted: bool) -> None:
    async with _room_write(svc, room_id) as tx:
        row = await tx.seat_row(member.id)
        denial = rules.decide(Action.SELF_MUTE if muted else Action.SELF_UNMUTE, _seat(row))
        if denial is not None:
            raise _deny(denial)
        assert row is not None
        if row.self_muted == muted:
            return
        row.self_muted = muted
        tx.emit(ev.MuteChanged(member_id=member.id, self_muted=muted, mod_muted=row.mod_muted,
                               by=None))


async def sweep_disconnected(svc: Services, grace: dt.timedelta) -> int:
    """Members whose connection has been gone longer than the grace period leave."""
    cutoff = utcnow() - grace
    async with svc.db.read() as s:
        due = (await s.execute(
            select(RoomMember.room_id, RoomMember.member_id)
            .where(RoomMember.left_at.is_(None), RoomMember.disconnected_at.is_not(None),
                   RoomMember.disconnected_at < cutoff))).all()
    for room_id, member_id in due:
        with contextlib.suppress(NotFound, Conflict):
            await leave_room(svc, room_id, member_id, reason="timeout")
    return len(due)


async def mark_all_disconnected(svc: Services) -> int:
    """At start-up no connection exists yet: every present member starts their grace period."""
    async with svc.db.read() as s:
        rows = (await s.execute(
            select(RoomMember.room_id, RoomMember.member_id)
            .join(Room, Room.id == RoomMember.room_id)
            .where(RoomMember.left_at.is_(None), RoomMember.disconnected_at.is_(None),
                   Room.state == RoomState.LIVE.value))).all()
    for room_id, member_id in rows:
        with contextlib.suppress(NotFound, Conflict):
            await set_connected(svc, room_id, member_id, False)
    return len(rows)
