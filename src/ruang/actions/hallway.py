"""The hallway: live and upcoming rooms, ranked for one member, and room notifications.

Ranking, for live rooms: rooms where people the member follows are on stage first (more of
them first), then rooms on the member's interests (more shared topics first), then bigger
rooms. Upcoming rooms: those the member said "notify me" for or whose host they follow, then
the soonest. Rooms are never shown when their host or a moderator blocked the member or the
member blocked them, nor social or closed rooms the member may not join.

The work is split so that the live hallway stays cheap: :func:`load_candidates` reads the
rooms once for everyone, :func:`load_viewer` reads what is personal (follows, blocks,
interests, invitations) once per member and is cached by the caller, and :func:`rank` is pure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import and_, exists, func, insert, literal, or_, select, union

from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.domain import rooms as rules
from ruang.domain.rooms import JoinFacts, Role, RoomKind, RoomState
from ruang.storage.models import (
    Block,
    Follow,
    Member,
    Notification,
    Room,
    RoomHost,
    RoomInvitee,
    RoomMember,
    RoomRsvp,
    utcnow,
)

LIVE_CANDIDATES = 500
UPCOMING_CANDIDATES = 200
SHOWN = 30
STAGE_PREVIEW = 6
FOLLOWING_CACHE = 5000


class Person(BaseModel):
    id: int
    username: str
    display_name: str
    avatar_url: str | None


class RoomCard(BaseModel):
    id: int
    title: str
    description: str
    kind: RoomKind
    topics: list[str]
    state: RoomState
    scheduled_for: dt.datetime | None
    started_at: dt.datetime | None
    host: Person
    stage: list[Person]              # the first few on stage
    stage_count: int
    audience_count: int
    followed_on_stage: list[str]     # usernames of people you follow who are on stage
    rsvp_count: int = 0
    you_rsvped: bool = False


class Hallway(BaseModel):
    live: list[RoomCard]
    upcoming: list[RoomCard]


@dataclass
class Candidate:
    room: Room
    hosts: list[int]
    stage: list[tuple[int, str, Person]]  # (member id, role, person)
    rsvps: int = 0


@dataclass
class Candidates:
    rooms: list[Candidate]
    people: dict[int, Person] = field(default_factory=dict)


@dataclass
class Viewer:
    member_id: int
    following: frozenset[int]
    blocked_either_way: frozenset[int]
    interests: frozenset[str]
    invited_to: frozenset[int]   # closed rooms the member is on the list of
    rsvped: frozenset[int]
    removed_from: frozenset[int] = frozenset()  # rooms a moderator removed the member from


def _person(m: Member) -> Person:
    return Person(id=m.id, username=m.username, display_name=m.display_name,
                  avatar_url=f"/api/v1/avatars/{m.avatar_id}" if m.avatar_id else None)


async def load_candidates(svc: Services) -> Candidates:
    async with svc.db.read() as s:
        live = list((await s.execute(select(Room).where(Room.state == RoomState.LIVE.value)
                                     .order_by(Room.created_at.desc())
                                     .limit(LIVE_CANDIDATES))).scalars())
        upcoming = list((await s.execute(
            select(Room).where(Room.state == RoomState.SCHEDULED.value)
            .order_by(Room.scheduled_for).limit(UPCOMING_CANDIDATES))).scalars())
        rooms = live + upcoming
        ids = [r.id for r in rooms]
        if not ids:
            return Candidates([])
        hosts: dict[int, list[int]] = {i: [] for i in ids}
        for room_id, member_id in await s.execute(
                select(RoomHost.room_id, RoomHost.member_id).where(RoomHost.room_id.in_(ids))):
            hosts[room_id].append(member_id)
        stage_rows = (await s.execute(
            select(RoomMember.room_id, RoomMember.role, Member)
            .join(Member, Member.id == RoomMember.member_id)
            .where(RoomMember.room_id.in_([r.id for r in live]),
                   RoomMember.left_at.is_(None), RoomMember.role != Role.LISTENER.value)
            .order_by(RoomMember.stage_seq))).all() if live else []
        rsvps = dict((await s.execute(
            select(RoomRsvp.room_id, func.count()).where(
                RoomRsvp.room_id.in_([r.id for r in upcoming])).group_by(RoomRsvp.room_id))
        ).all()) if upcoming else {}
        host_ids = {h for hs in hosts.values() for h in hs} | {r.host_id for r in rooms}
        people = {m.id: _person(m) for m in (await s.execute(
            select(Member).where(Member.id.in_(host_ids)))).scalars()}
    stage: dict[int, list[tuple[int, str, Person]]] = {i: [] for i in ids}
    for room_id, role, m in stage_rows:
        person = _person(m)
        people[m.id] = person
        stage[room_id].append((m.id, role, person))
    return Candidates([Candidate(r, [r.host_id, *[h for h in hosts[r.id] if h != r.host_id]],
                                 stage[r.id], rsvps.get(r.id, 0)) for r in rooms], people)


async def load_viewer(svc: Services, member: MemberInfo) -> Viewer:
    async with svc.db.read() as s:
        following = frozenset((await s.execute(
            select(Follow.followee_id).where(Follow.follower_id == member.id)
            .order_by(Follow.created_at.desc()).limit(FOLLOWING_CACHE))).scalars())
        blocked = frozenset((await s.execute(select(Block.blocked_id).where(
            Block.blocker_id == member.id))).scalars()) | frozenset((await s.execute(
                select(Block.blocker_id).where(Block.blocked_id == member.id))).scalars())
        me = await s.get(Member, member.id)
        invited = frozenset((await s.execute(select(RoomInvitee.room_id).where(
            RoomInvitee.member_id == member.id))).scalars())
        rsvped = frozenset((await s.execute(select(RoomRsvp.room_id).where(
            RoomRsvp.member_id == member.id))).scalars())
        removed = frozenset((await s.execute(
            select(RoomMember.room_id).join(Room, Room.id == RoomMember.room_id).where(
                RoomMember.member_id == member.id, RoomMember.removed_at.is_not(None),
                Room.state == RoomState.LIVE.value))).scalars())
    return Viewer(member.id, following, blocked,
                  frozenset(t.casefold() for t in (me.interests if me else []) or []),
                  invited, rsvped, removed)


def _visible(c: Candidate, v: Viewer) -> bool:
    moderators = [mid for mid, role, _ in c.stage if role == Role.MODERATOR.value]
    authorities = set(c.hosts) | set(moderators)
    facts = JoinFacts(
        state=RoomState(c.room.state), kind=RoomKind(c.room.kind),
        is_host=v.member_id in c.hosts, follows_a_host=bool(authorities & v.following),
        invited_to_room=c.room.id in v.invited_to, removed=c.room.id in v.removed_from,
        # Either way: the hallway hides rooms of members I blocked as well.
        blocked_by_host=bool(authorities & v.blocked_either_way))
    return rules.may_see(facts)


def _card(c: Candidate, v: Viewer, people: dict[int, Person]) -> RoomCard:
    room = c.room
    host = people.get(room.host_id) or Person(id=room.host_id, username="?",
                                              display_name="?", avatar_url=None)
    return RoomCard(
        id=room.id, title=room.title, description=room.description,
        kind=RoomKind(room.kind), topics=list(room.topics or []),
        state=RoomState(room.state), scheduled_for=room.scheduled_for,
        started_at=room.started_at, host=host,
        stage=[p for _, _, p in c.stage[:STAGE_PREVIEW]], stage_count=len(c.stage),
        audience_count=room.audience_count,
        followed_on_stage=[p.username for mid, _, p in c.stage if mid in v.following],
        rsvp_count=c.rsvps, you_rsvped=room.id in v.rsvped)


def rank(candidates: Candidates, viewer: Viewer, shown: int = SHOWN) -> Hallway:
    live: list[tuple[tuple[int, int, int, float], RoomCard]] = []
    upcoming: list[tuple[tuple[int, float], RoomCard]] = []
    for c in candidates.rooms:
        if not _visible(c, viewer):
            continue
        card = _card(c, viewer, candidates.people)
        if card.state is RoomState.LIVE:
            shared = len({t.casefold() for t in card.topics} & viewer.interests)
            size = card.stage_count + card.audience_count
            started = card.started_at.timestamp() if card.started_at else 0.0
            live.append(((-len(card.followed_on_stage), -shared, -size, -started), card))
        else:
            mine = card.you_rsvped or bool(set(c.hosts) & viewer.following)
            when = card.scheduled_for.timestamp() if card.scheduled_for else 0.0
            upcoming.append(((0 if mine else 1, when), card))
    live.sort(key=lambda x: x[0])
    upcoming.sort(key=lambda x: x[0])
    return Hallway(live=[c for _, c in live[:shown]], upcoming=[c for _, c in upcoming[:shown]])


async def hallway(svc: Services, member: MemberInfo) -> Hallway:
    return rank(await load_candidates(svc), await load_viewer(svc, member))


# --- notifications --------------------------------------------------------------------------


class NotificationView(BaseModel):
    id: int
    kind: str
    room_id: int | None
    room_title: str | None
    actor: Person | None
    created_at: dt.datetime
    read: bool


async def notify_room_started(svc: Services, room_id: int, actor_id: int) -> int:
    """Notify the followers of the room's hosts and those who said 'notify me' (only those
    who may enter the room, and never across a block). Returns how many were notified."""
    async with svc.db.transaction() as s:
        room = await s.get(Room, room_id)
        if room is None:
            return 0
        hosts = [room.host_id, *(await s.execute(select(RoomHost.member_id).where(
            RoomHost.room_id == room_id))).scalars()]
        followers = select(Follow.follower_id.label("member_id")).where(
            Follow.followee_id.in_(hosts))
        rsvps = select(RoomRsvp.member_id.label("member_id")).where(
            RoomRsvp.room_id == room_id)
        audience = union(followers, rsvps).subquery()
        who = audience.c.member_id
        blocked = exists().where(or_(and_(Block.blocker_id == who, Block.blocked_id.in_(hosts)),
                                     and_(Block.blocked_id == who, Block.blocker_id.in_(hosts))))
        conditions = [who.not_in(hosts), ~blocked]
        if room.kind == RoomKind.CLOSED.value:
            conditions.append(exists().where(RoomInvitee.room_id == room_id,
                                             RoomInvitee.member_id == who))
        now = utcnow()
        result = await s.execute(insert(Notification).from_select(
            ["member_id", "kind", "room_id", "actor_id", "created_at"],
            select(who, literal("room_started"), literal(room_id), literal(actor_id),
                   literal(now, type_=Notification.__table__.c.created_at.type))
            .select_from(audience).where(*conditions)))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return count


async def notifications(svc: Services, member: MemberInfo, *, unread_only: bool = False,
                        limit: int = 50) -> list[NotificationView]:
    limit = max(1, min(limit, 200))
    async with svc.db.read() as s:
        query = (select(Notification, Room.title, Member)
                 .outerjoin(Room, Room.id == Notification.room_id)
                 .outerjoin(Member, Member.id == Notification.actor_id)
                 .where(Notification.member_id == member.id)
                 .order_by(Notification.created_at.desc(), Notification.id.desc())
                 .limit(limit))
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        rows = (await s.execute(query)).all()
    return [NotificationView(id=n.id, kind=n.kind, room_id=n.room_id, room_title=title,
                             actor=_person(actor) if actor else None, created_at=n.created_at,
                             read=n.read_at is not None) for n, title, actor in rows]


async def mark_read(svc: Services, member: MemberInfo, ids: list[int] | None) -> int:
    from sqlalchemy import update

    async with svc.db.transaction() as s:
        query = update(Notification).where(Notification.member_id == member.id,
                                           Notification.read_at.is_(None))
        if ids is not None:
            query = query.where(Notification.id.in_(ids))
        result = await s.execute(query.values(read_at=utcnow()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def notified_among(svc: Services, room_id: int,
                         member_ids: list[int]) -> dict[int, NotificationView]:
    """The room_started notifications of these (connected) members, to push them live."""
    if not member_ids:
        return {}
    async with svc.db.read() as s:
        rows = (await s.execute(
            select(Notification, Room.title, Member)
            .outerjoin(Room, Room.id == Notification.room_id)
            .outerjoin(Member, Member.id == Notification.actor_id)
            .where(Notification.room_id == room_id, Notification.kind == "room_started",
                   Notification.member_id.in_(member_ids)))).all()
    return {n.member_id: NotificationView(
        id=n.id, kind=n.kind, room_id=n.room_id, room_title=title,
        actor=_person(actor) if actor else None, created_at=n.created_at, read=False)
        for n, title, actor in rows}

