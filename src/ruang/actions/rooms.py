"""Rooms: the write path every room change takes, the snapshot, and a room's life (create,
schedule, start, join, leave, end).

A room write (:func:`room_write`) locks the room row (PostgreSQL ``FOR UPDATE``; SQLite
serializes writers), bumps the room's sequence number once per event, stores each event in
``room_events`` in the same transaction, and publishes only after the commit. Reads build the
snapshot that those events keep up to date (events/models.apply). The stage, hands and chat
live in actions/stage.py and actions/chat.py and write through the same path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.domain import rooms as rules
from ruang.domain.rooms import ChatMode, JoinFacts, Role, RoomFacts, RoomKind, RoomState, Seat
from ruang.errors import Conflict, Forbidden, InvalidInput, NotFound
from ruang.events import models as ev
from ruang.storage.models import (
    Block,
    Follow,
    Member,
    Room,
    RoomEventRow,
    RoomHost,
    RoomInvitee,
    RoomMember,
    RoomRsvp,
    utcnow,
)

TITLE_MAX = 120
DESCRIPTION_MAX = 1000
TOPICS_MAX = 3
COHOSTS_MAX = 10
INVITEES_MAX = 500
MAX_ID = 2**63 - 1
SCHEDULE_AHEAD_MAX = dt.timedelta(days=366)


@dataclass
class RoomTx:
    session: AsyncSession
    room: Room
    envelopes: list[ev.RoomEventEnvelope] = field(default_factory=list)

    @property
    def next_seq(self) -> int:
        return self.room.seq + 1

    def emit(self, event: ev.MemberJoined | ev.MemberLeft | ev.PresenceChanged
             | ev.RoleChanged | ev.SpeakInvited | ev.InviteDeclined | ev.HandRaised
             | ev.HandLowered | ev.HandsChanged | ev.MuteChanged | ev.MemberRemoved
             | ev.AudienceChanged | ev.ChatMessage | ev.ChatDeleted | ev.ChatModeChanged
             | ev.Reaction | ev.RoomStarted | ev.RoomEnded) -> ev.RoomEventEnvelope:
        self.room.seq += 1
        now = utcnow()
        self.session.add(RoomEventRow(room_id=self.room.id, seq=self.room.seq, type=event.type,
                                      payload=event.model_dump(mode="json"), created_at=now))
        envelope = ev.RoomEventEnvelope(room_id=self.room.id, seq=self.room.seq, at=now,
                                        event=event)
        self.envelopes.append(envelope)
        return envelope

    async def seat_row(self, member_id: int) -> RoomMember | None:
        row = await self.session.get(RoomMember, (self.room.id, member_id))
        return row if row is not None and row.left_at is None else None

    @property
    def facts(self) -> RoomFacts:
        return RoomFacts(self.room.hands_enabled, ChatMode(self.room.chat_mode))

    async def view(self, row: RoomMember) -> ev.MemberView:
        m = await self.session.get(Member, row.member_id)
        assert m is not None
        return member_view(row, m)


def seat(row: RoomMember | None) -> Seat | None:
    if row is None:
        return None
    return Seat(Role(row.role), row.self_muted, row.mod_muted, row.invite_seq is not None,
                row.hand_seq is not None)


def deny(denial: rules.Denial) -> Exception:
    if denial.code in ("member_not_found",):
        return NotFound(denial.code, denial.message)
    if denial.code in Forbidden.codes:
        return Forbidden(denial.code, denial.message)
    return Conflict(denial.code, denial.message)


def check_id(room_id: int) -> None:
    if not 1 <= room_id <= MAX_ID:
        raise NotFound("room_not_found", f"no room {room_id}")


@contextlib.asynccontextmanager
async def room_write(svc: Services, room_id: int, *,
                     states: tuple[RoomState, ...] = (RoomState.LIVE,)
                     ) -> AsyncIterator[RoomTx]:
    """The transaction of one change to a room; its events are published after the commit."""
    check_id(room_id)
    async with svc.db.transaction() as s:
        room = await s.get(Room, room_id, with_for_update=True)
        if room is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        if RoomState(room.state) not in states:
            if room.state == RoomState.ENDED:
                raise Conflict("room_ended", "this room has ended")
            if room.state == RoomState.SCHEDULED:
                raise Conflict("room_not_started", "this room has not started yet")
            raise Conflict("room_ended", "this room is not live")
        tx = RoomTx(s, room)
        yield tx
    await svc.publish(tx.envelopes)
    if any(isinstance(e.event, ev.RoleChanged | ev.MemberRemoved) for e in tx.envelopes):
        svc.audience_dirty(room_id)  # someone went on or off stage, or out of the room
    if any(isinstance(e.event, ev.RoomEnded | ev.RoomStarted | ev.MemberJoined
                      | ev.MemberLeft | ev.RoleChanged | ev.AudienceChanged)
           for e in tx.envelopes):
        await svc.hallway_changed(room_id)


def _avatar(m: Member) -> str | None:
    return f"/api/v1/avatars/{m.avatar_id}" if m.avatar_id else None


def member_view(row: RoomMember, member: Member) -> ev.MemberView:
    return ev.MemberView(id=member.id, username=member.username,
                         display_name=member.display_name, avatar_url=_avatar(member),
                         role=Role(row.role), self_muted=row.self_muted,
                         mod_muted=row.mod_muted, connected=row.disconnected_at is None)


def author_view(member: Member) -> ev.AuthorView:
    return ev.AuthorView(id=member.id, username=member.username,
                         display_name=member.display_name, avatar_url=_avatar(member))


def room_view(room: Room, cohost_ids: list[int]) -> ev.RoomView:
    return ev.RoomView(id=room.id, title=room.title, description=room.description,
                       kind=RoomKind(room.kind), topics=list(room.topics or []),
                       state=RoomState(room.state), host_id=room.host_id,
                       cohost_ids=cohost_ids, created_at=room.created_at,
                       scheduled_for=room.scheduled_for, started_at=room.started_at,
                       ended_at=room.ended_at, chat_mode=ChatMode(room.chat_mode),
                       hands_enabled=room.hands_enabled)


async def host_ids(s: AsyncSession, room: Room) -> list[int]:
    """The host and co-hosts (host first)."""
    rows = (await s.execute(select(RoomHost.member_id).where(RoomHost.room_id == room.id)
                            .order_by(RoomHost.member_id))).scalars()
    return [room.host_id, *[r for r in rows if r != room.host_id]]


# --- reads ----------------------------------------------------------------------------------


async def snapshot(svc: Services, room_id: int) -> ev.RoomSnapshot:
    check_id(room_id)
    async with svc.db.read() as s:
        room = await s.get(Room, room_id)
        if room is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        return await build_snapshot(s, room)


async def build_snapshot(s: AsyncSession, room: Room) -> ev.RoomSnapshot:
    listed = (await s.execute(
        select(RoomMember, Member).join(Member, Member.id == RoomMember.member_id)
        .where(RoomMember.room_id == room.id, RoomMember.left_at.is_(None),
               or_(RoomMember.role != Role.LISTENER.value, RoomMember.hand_seq.is_not(None),
                   RoomMember.invite_seq.is_not(None))))).all()
    stage = sorted((r for r in listed if r[0].role != Role.LISTENER.value),
                   key=lambda r: r[0].stage_seq or 0)
    hands = sorted((r for r in listed if r[0].role == Role.LISTENER.value
                    and r[0].hand_seq is not None), key=lambda r: r[0].hand_seq or 0)
    invited = sorted((r for r in listed if r[0].role == Role.LISTENER.value
                      and r[0].invite_seq is not None), key=lambda r: r[0].invite_seq or 0)
    hosts = await host_ids(s, room)
    return ev.RoomSnapshot(
        room=room_view(room, hosts[1:]), stage=[member_view(r, m) for r, m in stage],
        hands=[member_view(r, m) for r, m in hands],
        invited=[member_view(r, m) for r, m in invited],
        audience_count=room.audience_count, seq=room.seq)


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


async def seat_of(svc: Services, room_id: int, member_id: int) -> Seat | None:
    async with svc.db.read() as s:
        row = await s.get(RoomMember, (room_id, member_id))
    return seat(row if row is not None and row.left_at is None else None)


class AudiencePage(BaseModel):
    count: int
    members: list[ev.MemberView]
    next_after: int | None


async def audience(svc: Services, room_id: int, *, after: int = 0,
                   limit: int = 100) -> AudiencePage:
    """The listeners present, in the order they came in (paged by join sequence)."""
    check_id(room_id)
    limit = max(1, min(limit, 500))
    async with svc.db.read() as s:
        room = await s.get(Room, room_id)
        if room is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        rows = (await s.execute(
            select(RoomMember, Member).join(Member, Member.id == RoomMember.member_id)
            .where(RoomMember.room_id == room_id, RoomMember.left_at.is_(None),
                   RoomMember.role == Role.LISTENER.value, RoomMember.join_seq > after)
            .order_by(RoomMember.join_seq).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return AudiencePage(count=room.audience_count,
                        members=[member_view(r, m) for r, m in rows],
                        next_after=rows[-1][0].join_seq if more and rows else None)


# --- creating and scheduling ----------------------------------------------------------------


def _clean(title: str, description: str, topics: list[str],
           allowed_topics: list[str]) -> tuple[str, str, list[str]]:
    title = " ".join(title.split())
    if not 1 <= len(title) <= TITLE_MAX:
        raise InvalidInput("invalid_input", f"a room title has 1 to {TITLE_MAX} characters")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput("invalid_input",
                           f"a room description has at most {DESCRIPTION_MAX} characters")
    known = {t.casefold(): t for t in allowed_topics}
    picked: list[str] = []
    for topic in topics:
        canonical = known.get(topic.strip().casefold())
        if canonical is None:
            raise InvalidInput("invalid_input", f"{topic!r} is not one of this community's "
                               "topics (GET /api/v1/topics)")
        if canonical not in picked:
            picked.append(canonical)
    if len(picked) > TOPICS_MAX:
        raise InvalidInput("invalid_input", f"a room has at most {TOPICS_MAX} topics")
    return title, description, picked


async def _members_by_name(s: AsyncSession, names: list[str], what: str,
                           limit: int) -> list[int]:
    keys = list(dict.fromkeys(n.strip().removeprefix("@").lower() for n in names))
    if len(keys) > limit:
        raise InvalidInput("invalid_input", f"at most {limit} {what}")
    if not keys:
        return []
    found = dict((await s.execute(select(Member.username_key, Member.id).where(
        Member.username_key.in_(keys), Member.status == "active"))).all())
    missing = [k for k in keys if k not in found]
    if missing:
        raise NotFound("member_not_found", f"no member @{missing[0]}")
    return [found[k] for k in keys]


async def create_room(svc: Services, host: MemberInfo, title: str, description: str = "", *,
                      kind: RoomKind = RoomKind.OPEN, topics: list[str] | None = None,
                      cohosts: list[str] | None = None, invitees: list[str] | None = None,
                      scheduled_for: dt.datetime | None = None) -> ev.RoomView:
    """Start a room now, or schedule it (it goes live when a host starts it)."""
    title, description, picked = _clean(title, description, topics or [],
                                        svc.settings.topic_list)
    now = utcnow()
    if scheduled_for is not None:
        if scheduled_for.tzinfo is None:
            raise InvalidInput("invalid_input", "give the time with its timezone (ISO 8601)")
        if not now < scheduled_for <= now + SCHEDULE_AHEAD_MAX:
            raise InvalidInput("invalid_input", "a room is scheduled in the future, at most a "
                               "year ahead")
    async with svc.db.transaction() as s:
        cohost_ids = [i for i in await _members_by_name(s, cohosts or [], "co-hosts",
                                                        COHOSTS_MAX) if i != host.id]
        invitee_ids = await _members_by_name(s, invitees or [], "invited members",
                                             INVITEES_MAX)
        state = RoomState.SCHEDULED if scheduled_for else RoomState.LIVE
        room = Room(title=title, description=description, host_id=host.id,
                    state=state.value, seq=0, kind=kind.value, topics=picked,
                    scheduled_for=scheduled_for, chat_mode=ChatMode.OPEN.value,
                    hands_enabled=True, audience_count=0,
                    started_at=None if scheduled_for else now)
        s.add(room)
        await s.flush()
        for member_id in [host.id, *cohost_ids]:
            s.add(RoomHost(room_id=room.id, member_id=member_id))
        for member_id in invitee_ids:
            s.add(RoomInvitee(room_id=room.id, member_id=member_id))
        await s.flush()
        view = room_view(room, cohost_ids)
    if state is RoomState.LIVE:
        await svc.room_started(room.id, host.id)
    await svc.hallway_changed(room.id)
    return view


async def start_room(svc: Services, room_id: int, actor: MemberInfo) -> None:
    """A host or co-host starts a scheduled room; followers and RSVPs are notified."""
    async with room_write(svc, room_id, states=(RoomState.SCHEDULED,)) as tx:
        if actor.id not in await host_ids(tx.session, tx.room):
            raise Forbidden("not_a_moderator", "only the room's hosts can start it")
        tx.room.state = rules.transition(RoomState(tx.room.state), RoomState.LIVE).value
        envelope = tx.emit(ev.RoomStarted(by=actor.id))
        tx.room.started_at = envelope.at
    await svc.room_started(room_id, actor.id)


async def set_rsvp(svc: Services, room_id: int, member: MemberInfo, going: bool) -> int:
    """'Notify me' on a scheduled room; returns the number of RSVPs."""
    check_id(room_id)
    async with svc.db.transaction() as s:
        room = await s.get(Room, room_id)
        if room is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        if room.state != RoomState.SCHEDULED:
            raise InvalidInput("invalid_input", "only a scheduled room takes RSVPs")
        if not await visible_to(s, room, member.id):
            raise NotFound("room_not_found", f"no room {room_id}")
        existing = await s.get(RoomRsvp, (room_id, member.id))
        if going and existing is None:
            s.add(RoomRsvp(room_id=room_id, member_id=member.id))
        elif not going and existing is not None:
            await s.delete(existing)
        await s.flush()
        return int((await s.execute(select(func.count()).select_from(RoomRsvp).where(
            RoomRsvp.room_id == room_id))).scalar_one())


# --- who may enter --------------------------------------------------------------------------


async def join_facts(s: AsyncSession, room: Room, member_id: int) -> JoinFacts:
    hosts = await host_ids(s, room)
    moderators = list((await s.execute(select(RoomMember.member_id).where(
        RoomMember.room_id == room.id, RoomMember.left_at.is_(None),
        RoomMember.role == Role.MODERATOR.value))).scalars())
    authorities = list(dict.fromkeys([*hosts, *moderators]))
    row = await s.get(RoomMember, (room.id, member_id))
    blocked = (await s.execute(select(Block.blocker_id).where(
        Block.blocked_id == member_id, Block.blocker_id.in_(authorities)).limit(1))
    ).first() is not None
    follows = False
    if RoomKind(room.kind) is RoomKind.SOCIAL and member_id not in hosts:
        follows = (await s.execute(select(Follow.followee_id).where(
            Follow.follower_id == member_id, Follow.followee_id.in_(authorities)).limit(1))
        ).first() is not None
    invited = False
    if RoomKind(room.kind) is RoomKind.CLOSED and member_id not in hosts:
        invited = await s.get(RoomInvitee, (room.id, member_id)) is not None
    return JoinFacts(state=RoomState(room.state), kind=RoomKind(room.kind),
                     is_host=member_id in hosts, follows_a_host=follows,
                     invited_to_room=invited,
                     removed=row is not None and row.removed_at is not None,
                     blocked_by_host=blocked)


async def visible_to(s: AsyncSession, room: Room, member_id: int) -> bool:
    return rules.may_see(await join_facts(s, room, member_id))


# --- presence -------------------------------------------------------------------------------


async def join_room(svc: Services, room_id: int, member: MemberInfo) -> None:
    """Enter the room (or resume a place kept during a connection drop)."""
    async with room_write(svc, room_id, states=tuple(RoomState)) as tx:
        row = await tx.session.get(RoomMember, (room_id, member.id))
        if row is not None and row.left_at is None:
            if row.disconnected_at is not None:
                row.disconnected_at = None
                if row.role != Role.LISTENER.value:
                    tx.emit(ev.PresenceChanged(member_id=member.id, connected=True))
            return
        denial = rules.may_join(await join_facts(tx.session, tx.room, member.id))
        if denial is not None:
            raise deny(denial)
        is_host = member.id in await host_ids(tx.session, tx.room)
        role = Role.MODERATOR if is_host else Role.LISTENER
        tx.room.joins += 1
        if row is None:
            row = RoomMember(room_id=room_id, member_id=member.id, role=role.value,
                             join_seq=tx.room.joins)
            tx.session.add(row)
        else:
            row.role = role.value
            row.left_at = None
            row.join_seq = tx.room.joins
        row.disconnected_at = None
        row.self_muted = row.mod_muted = False
        row.hand_seq = row.invite_seq = None
        row.stage_seq = tx.next_seq if is_host else None
        row.joined_at = utcnow()
        await tx.session.flush()
        if is_host:
            tx.room.orphaned_at = None
            tx.emit(ev.MemberJoined(member=await tx.view(row)))
    svc.audience_dirty(room_id)


async def end_room_tx(tx: RoomTx, by: int | None, reason: str) -> None:
    tx.room.state = rules.transition(RoomState(tx.room.state), RoomState.ENDED).value
    envelope = tx.emit(ev.RoomEnded.model_validate({"by": by, "reason": reason}))
    tx.room.ended_at = envelope.at  # the snapshot's ended_at is the event's time
    tx.room.audience_count = 0
    await tx.session.execute(update(RoomMember).where(RoomMember.room_id == tx.room.id,
                                                      RoomMember.left_at.is_(None))
                             .values(left_at=tx.room.ended_at))


async def _present(tx: RoomTx, *roles: Role) -> list[RoomMember]:
    query = select(RoomMember).where(RoomMember.room_id == tx.room.id,
                                     RoomMember.left_at.is_(None))
    if roles:
        query = query.where(RoomMember.role.in_([r.value for r in roles]))
    return list((await tx.session.execute(query)).scalars())


async def hand_over(tx: RoomTx) -> None:
    """After someone left the stage or the room: keep the room moderated.

    Nobody present: the room ends. No moderator but speakers: the longest-serving speaker
    becomes one. No moderator and nobody on stage: the room waits for a host for the grace
    period (the sweeper then ends it)."""
    await tx.session.flush()
    present = await _present(tx)
    if not present:
        await end_room_tx(tx, None, "empty")
        return
    if any(r.role == Role.MODERATOR.value for r in present):
        return
    speakers = sorted((r for r in present if r.role == Role.SPEAKER.value),
                      key=lambda r: r.stage_seq or 0)
    if speakers:
        heir = speakers[0]
        heir.role = Role.MODERATOR.value
        tx.emit(ev.RoleChanged(member=await tx.view(heir), by=None))
        tx.room.orphaned_at = None
    elif tx.room.orphaned_at is None:
        tx.room.orphaned_at = utcnow()


async def leave_tx(tx: RoomTx, row: RoomMember, reason: str, *,
                   removed_by: int | None = None) -> None:
    listed = row.role != Role.LISTENER.value or row.hand_seq is not None or \
        row.invite_seq is not None
    row.left_at = utcnow()
    row.disconnected_at = None
    if removed_by is not None:
        row.removed_at = row.left_at
        tx.emit(ev.MemberRemoved(member_id=row.member_id, by=removed_by))
    elif listed:
        tx.emit(ev.MemberLeft(member_id=row.member_id,
                              reason="timeout" if reason == "timeout" else "left"))
    row.hand_seq = row.invite_seq = row.stage_seq = None
    await hand_over(tx)


async def leave_room(svc: Services, room_id: int, member_id: int,
                     reason: str = "left") -> None:
    """Leave; the room ends when its last member leaves."""
    async with room_write(svc, room_id) as tx:
        row = await tx.seat_row(member_id)
        if row is None:
            return
        await leave_tx(tx, row, reason)
    svc.audience_dirty(room_id)


async def set_connected(svc: Services, room_id: int, member_id: int, connected: bool, *,
                        unless: Callable[[], bool] | None = None) -> None:
    """A member's connection dropped (keep their place for the grace period) or came back.

    ``unless`` is asked once the room is locked: true cancels the change (a newer connection
    of the member took the place in the meantime)."""
    async with room_write(svc, room_id) as tx:
        if unless is not None and unless():
            return
        row = await tx.seat_row(member_id)
        if row is None or (row.disconnected_at is None) == connected:
            return
        row.disconnected_at = None if connected else utcnow()
        if row.role != Role.LISTENER.value:
            tx.emit(ev.PresenceChanged(member_id=member_id, connected=connected))


async def end_room(svc: Services, room_id: int, actor: MemberInfo) -> None:
    """End a live room, or cancel a scheduled one (moderators, hosts, administrators)."""
    async with room_write(svc, room_id, states=(RoomState.LIVE, RoomState.SCHEDULED)) as tx:
        if tx.room.state == RoomState.SCHEDULED:
            if actor.id not in await host_ids(tx.session, tx.room) and not actor.is_admin:
                raise Forbidden("not_a_moderator", "only the room's hosts can cancel it")
        else:
            denial = rules.decide(rules.Action.END_ROOM, seat(await tx.seat_row(actor.id)))
            if denial is not None and not actor.is_admin:
                raise deny(denial)
        await end_room_tx(tx, actor.id, "ended")


async def refresh_audience(svc: Services, room_id: int) -> None:
    """Announce the audience's size if it changed since it was last announced."""
    async with svc.db.read() as s:
        count = int((await s.execute(select(func.count()).select_from(RoomMember).where(
            RoomMember.room_id == room_id, RoomMember.left_at.is_(None),
            RoomMember.role == Role.LISTENER.value))).scalar_one())
        announced = (await s.execute(select(Room.audience_count, Room.state).where(
            Room.id == room_id))).first()
    if announced is None or announced[1] != RoomState.LIVE or announced[0] == count:
        return
    with contextlib.suppress(Conflict, NotFound):
        async with room_write(svc, room_id) as tx:
            count = int((await tx.session.execute(select(func.count()).select_from(
                RoomMember).where(RoomMember.room_id == room_id, RoomMember.left_at.is_(None),
                                  RoomMember.role == Role.LISTENER.value))).scalar_one())
            if count != tx.room.audience_count:
                tx.room.audience_count = count
                tx.emit(ev.AudienceChanged(count=count))


async def sweep(svc: Services, grace: dt.timedelta, orphan_grace: dt.timedelta) -> int:
    """Members whose connection has been gone longer than the grace period leave; rooms
    without a moderator for longer than theirs end."""
    now = utcnow()
    async with svc.db.read() as s:
        due = (await s.execute(
            select(RoomMember.room_id, RoomMember.member_id)
            .where(RoomMember.left_at.is_(None), RoomMember.disconnected_at.is_not(None),
                   RoomMember.disconnected_at < now - grace))).all()
        orphans = list((await s.execute(select(Room.id).where(
            Room.state == RoomState.LIVE.value, Room.orphaned_at.is_not(None),
            Room.orphaned_at < now - orphan_grace))).scalars())
    for room_id, member_id in due:
        with contextlib.suppress(NotFound, Conflict):
            await leave_room(svc, room_id, member_id, reason="timeout")
    for room_id in orphans:
        with contextlib.suppress(NotFound, Conflict):
            async with room_write(svc, room_id) as tx:
                if tx.room.orphaned_at is not None and \
                        tx.room.orphaned_at < utcnow() - orphan_grace:
                    await end_room_tx(tx, None, "no_moderator")
    return len(due) + len(orphans)


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



# --- what one member sees of a room ---------------------------------------------------------


class You(BaseModel):
    """The viewer's place and what they may do (computed by domain.rooms, never guessed)."""

    in_room: bool
    role: Role | None
    hand_raised: bool = False
    invited: bool = False
    actions: list[str]
    member_actions: dict[int, list[str]] = {}  # per listed member: what you may do to them


class RoomDetail(BaseModel):
    snapshot: ev.RoomSnapshot
    you: You


async def _visible_room(s: AsyncSession, member: MemberInfo,
                        room_id: int) -> tuple[Room, RoomMember | None]:
    """The room and the member's present seat in it, if the member may see the room: they
    are in it, it has ended, it shows in their hallway, or they are an administrator. Anyone
    else learns nothing, not even that it exists."""
    check_id(room_id)
    room = await s.get(Room, room_id)
    if room is None:
        raise NotFound("room_not_found", f"no room {room_id}")
    row = await s.get(RoomMember, (room_id, member.id))
    if row is not None and row.left_at is not None:
        row = None
    if row is None and room.state != RoomState.ENDED and \
            not await visible_to(s, room, member.id) and not member.is_admin:
        raise NotFound("room_not_found", f"no room {room_id}")
    return room, row


async def ensure_visible(svc: Services, member: MemberInfo, room_id: int) -> None:
    """Raise room_not_found unless the member may see this room (see _visible_room)."""
    async with svc.db.read() as s:
        await _visible_room(s, member, room_id)


async def room_detail(svc: Services, member: MemberInfo, room_id: int) -> RoomDetail:
    async with svc.db.read() as s:
        room, row = await _visible_room(s, member, room_id)
        present = row is not None
        snap = await build_snapshot(s, room)
        mine = seat(row) if present else None
        listed = [m.id for m in (*snap.stage, *snap.hands, *snap.invited) if m.id != member.id]
        blocked = set((await s.execute(select(Block.blocked_id).where(
            Block.blocker_id == member.id, Block.blocked_id.in_(listed)))).scalars()) | set(
            (await s.execute(select(Block.blocker_id).where(
                Block.blocked_id == member.id, Block.blocker_id.in_(listed)))).scalars()) \
            if listed else set()
        rows = {r.member_id: r for r in (await s.execute(select(RoomMember).where(
            RoomMember.room_id == room_id, RoomMember.member_id.in_(listed)))).scalars()} \
            if listed else {}
    facts = RoomFacts(room.hands_enabled, ChatMode(room.chat_mode))
    on = {mid: [a.value for a in rules.allowed_on(mine, seat(rows.get(mid)), is_self=False,
                                                  blocked=mid in blocked)]
          for mid in listed} if mine is not None and mine.role is Role.MODERATOR else {}
    return RoomDetail(snapshot=snap, you=You(
        in_room=present, role=mine.role if mine else None,
        hand_raised=bool(mine and mine.hand_raised), invited=bool(mine and mine.invited),
        actions=[a.value for a in rules.allowed_actions(mine, facts)],
        member_actions={k: v for k, v in on.items() if v}))


class EventPage(BaseModel):
    room: ev.RoomView
    hosts: list[ev.AuthorView]
    rsvp_count: int
    you_rsvped: bool
    calendar_url: str


async def event_page(svc: Services, member: MemberInfo, room_id: int) -> EventPage:
    check_id(room_id)
    async with svc.db.read() as s:
        room = await s.get(Room, room_id)
        if room is None or (not await visible_to(s, room, member.id) and \
                room.host_id != member.id):
            raise NotFound("room_not_found", f"no room {room_id}")
        hosts = await host_ids(s, room)
        people = {m.id: m for m in (await s.execute(select(Member).where(
            Member.id.in_(hosts)))).scalars()}
        count = int((await s.execute(select(func.count()).select_from(RoomRsvp).where(
            RoomRsvp.room_id == room_id))).scalar_one())
        mine = await s.get(RoomRsvp, (room_id, member.id)) is not None
    return EventPage(room=room_view(room, hosts[1:]),
                     hosts=[author_view(people[h]) for h in hosts if h in people],
                     rsvp_count=count, you_rsvped=mine,
                     calendar_url=f"/api/v1/rooms/{room_id}/event.ics")
