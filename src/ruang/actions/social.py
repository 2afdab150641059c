"""Profiles, follows, blocks and people search.

Lists are paged with opaque cursors over (created_at, id) and served by the follows table's
two covering indexes; counts are kept on the member row by the follow actions, so no page or
profile counts rows. People search looks words up by prefix in ``search_terms`` (one row per
word of a member's username, display name and headline) and ranks the first candidates by
followers. A block removes follows both ways and stops new ones.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
from typing import IO

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from ruang.actions import stage
from ruang.actions.context import Services
from ruang.actions.members import (
    MemberInfo,
    member_by_ref,
    set_search_terms,
    validate_display_name,
    validate_username,
)
from ruang.avatars import AvatarError, process_avatar
from ruang.domain import search
from ruang.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge, UnsupportedMedia
from ruang.storage.models import (
    Block,
    Follow,
    Member,
    Room,
    RoomMember,
    SearchTerm,
    UsernameClaim,
    utcnow,
)

PAGE_MAX = 100
HEADLINE_MAX = 120
BIO_MAX = 1000
INTERESTS_MAX = 10
SEARCH_CANDIDATES = 500


class MemberCard(BaseModel):
    """A member in a list: enough to show a row with an avatar."""

    id: int
    username: str
    display_name: str
    headline: str
    avatar_url: str | None


class Profile(MemberCard):
    bio: str
    interests: list[str]
    nominated_by: str | None
    followers_count: int
    following_count: int
    joined_at: dt.datetime
    is_you: bool
    you_follow: bool
    follows_you: bool
    you_blocked: bool


class Page(BaseModel):
    items: list[MemberCard]
    next_cursor: str | None


def avatar_url(member: Member) -> str | None:
    return f"/api/v1/avatars/{member.avatar_id}" if member.avatar_id else None


def card(m: Member) -> MemberCard:
    return MemberCard(id=m.id, username=m.username, display_name=m.display_name,
                      headline=m.headline, avatar_url=avatar_url(m))


async def _target(s: AsyncSession, ref: str) -> Member:
    m = await member_by_ref(s, ref)
    if m is None or m.status == "banned":
        raise NotFound("member_not_found", f"no member {ref!r}")
    return m


async def blocked_between(s: AsyncSession, a: int, b: int) -> bool:
    """Whether either of the two members blocked the other."""
    row = (await s.execute(select(Block.blocker_id).where(or_(
        and_(Block.blocker_id == a, Block.blocked_id == b),
        and_(Block.blocker_id == b, Block.blocked_id == a))).limit(1))).first()
    return row is not None


async def profile(svc: Services, viewer: MemberInfo, ref: str) -> Profile:
    async with svc.db.read() as s:
        m = await _target(s, ref)
        return await _profile(s, viewer, m)


async def _profile(s: AsyncSession, viewer: MemberInfo, m: Member) -> Profile:
    nominator = await s.get(Member, m.nominated_by) if m.nominated_by else None

    async def has(model: type[Follow] | type[Block], a: int, b: int) -> bool:
        if model is Follow:
            return await s.get(Follow, (a, b)) is not None
        return await s.get(Block, (a, b)) is not None

    return Profile(
        id=m.id, username=m.username, display_name=m.display_name, headline=m.headline,
        avatar_url=avatar_url(m), bio=m.bio, interests=list(m.interests or []),
        nominated_by=nominator.username if nominator else None,
        followers_count=m.followers_count, following_count=m.following_count,
        joined_at=m.created_at, is_you=m.id == viewer.id,
        you_follow=await has(Follow, viewer.id, m.id),
        follows_you=await has(Follow, m.id, viewer.id),
        you_blocked=await has(Block, viewer.id, m.id))


class ProfileChanges(BaseModel):
    display_name: str | None = None
    username: str | None = None
    headline: str | None = None
    bio: str | None = None
    interests: list[str] | None = None


async def update_profile(svc: Services, member: MemberInfo, changes: ProfileChanges) -> Profile:
    topics = {t.casefold(): t for t in svc.settings.topic_list}
    async with svc.db.transaction() as s:
        m = await s.get(Member, member.id, with_for_update=True)
        assert m is not None
        if changes.display_name is not None:
            m.display_name = validate_display_name(changes.display_name)
        if changes.headline is not None:
            headline = " ".join(changes.headline.split())
            if len(headline) > HEADLINE_MAX:
                raise InvalidInput("invalid_input",
                                   f"a headline has at most {HEADLINE_MAX} characters")
            m.headline = headline
        if changes.bio is not None:
            bio = changes.bio.strip()
            if len(bio) > BIO_MAX:
                raise InvalidInput("invalid_input", f"a bio has at most {BIO_MAX} characters")
            m.bio = bio
        if changes.interests is not None:
            picked = []
            for topic in changes.interests:
                known = topics.get(topic.strip().casefold())
                if known is None:
                    raise InvalidInput("invalid_input", f"{topic!r} is not one of this "
                                       "community's topics (GET /api/v1/topics)")
                if known not in picked:
                    picked.append(known)
            if len(picked) > INTERESTS_MAX:
                raise InvalidInput("invalid_input", f"pick at most {INTERESTS_MAX} interests")
            m.interests = picked
        if changes.username is not None and changes.username != m.username:
            validate_username(changes.username)
            if changes.username.lower() != m.username_key:
                s.add(UsernameClaim(username_key=changes.username.lower(), member_id=None))
                try:
                    await s.flush()
                except Exception:
                    raise Conflict("username_taken",
                                   f"the username {changes.username!r} is taken") from None
                await s.execute(delete(UsernameClaim).where(UsernameClaim.member_id == m.id))
                await s.execute(update(UsernameClaim).where(
                    UsernameClaim.username_key == changes.username.lower())
                    .values(member_id=m.id))
            m.username = changes.username
            m.username_key = changes.username.lower()
        await s.execute(delete(SearchTerm).where(SearchTerm.member_id == m.id))
        set_search_terms(s, m)
        await s.flush()
        return await _profile(s, member, m)


async def set_avatar(svc: Services, member: MemberInfo, upload: IO[bytes]) -> Profile:
    store = svc.avatars
    assert store is not None
    try:
        webp = await asyncio.to_thread(process_avatar, upload,
                                       max_bytes=svc.settings.avatar_max_bytes)
    except AvatarError as exc:
        cls = {"avatar_too_large": TooLarge,
               "avatar_unsupported_format": UnsupportedMedia}.get(exc.code, InvalidInput)
        raise cls(exc.code, exc.message) from None
    avatar_id = await asyncio.to_thread(store.save, member.id, webp)
    async with svc.db.transaction() as s:
        m = await s.get(Member, member.id, with_for_update=True)
        assert m is not None
        old, m.avatar_id = m.avatar_id, avatar_id
        result = await _profile(s, member, m)
    if old and old != avatar_id:
        await asyncio.to_thread(store.delete, old)
    return result


async def remove_avatar(svc: Services, member: MemberInfo) -> None:
    async with svc.db.transaction() as s:
        m = await s.get(Member, member.id, with_for_update=True)
        assert m is not None
        old, m.avatar_id = m.avatar_id, None
    if old and svc.avatars is not None:
        await asyncio.to_thread(svc.avatars.delete, old)


# --- follows --------------------------------------------------------------------------------


async def follow(svc: Services, member: MemberInfo, ref: str) -> None:
    async with svc.db.transaction() as s:
        await s.execute(select(Member.id).where(Member.id == member.id).with_for_update())
        target = await _target(s, ref)
        if target.id == member.id:
            raise InvalidInput("invalid_input", "you cannot follow yourself")
        if await blocked_between(s, member.id, target.id):
            raise Forbidden("blocked", "you cannot follow this member")
        if await s.get(Follow, (member.id, target.id)) is not None:
            return
        s.add(Follow(follower_id=member.id, followee_id=target.id))
        await _count(s, member.id, target.id, +1)
    svc.on_social_changed(member.id)


async def _count(s: AsyncSession, follower: int, followee: int, delta: int) -> None:
    await s.execute(update(Member).where(Member.id == follower)
                    .values(following_count=Member.following_count + delta))
    await s.execute(update(Member).where(Member.id == followee)
                    .values(followers_count=Member.followers_count + delta))


async def unfollow(svc: Services, member: MemberInfo, ref: str) -> None:
    async with svc.db.transaction() as s:
        target = await _target(s, ref)
        gone = await s.execute(delete(Follow).where(Follow.follower_id == member.id,
                                                    Follow.followee_id == target.id))
        if gone.rowcount:  # type: ignore[attr-defined]
            await _count(s, member.id, target.id, -1)
    svc.on_social_changed(member.id)


def _encode_cursor(at: dt.datetime, member_id: int) -> str:
    raw = f"{at.isoformat()}|{member_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, member_id = raw.split("|")
        parsed = dt.datetime.fromisoformat(at)
        if parsed.tzinfo is None or not 1 <= int(member_id) < 2**63:
            raise ValueError("naive or out of range")
        return parsed.astimezone(dt.UTC), int(member_id)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise InvalidInput("invalid_input", "that cursor is not valid") from None


async def follow_list(svc: Services, viewer: MemberInfo, ref: str, which: str,
                      cursor: str | None = None, limit: int = 50) -> Page:
    """Followers or following of a member, newest first."""
    limit = max(1, min(limit, PAGE_MAX))
    async with svc.db.read() as s:
        target = await _target(s, ref)
        if which == "followers":
            own, other = Follow.followee_id, Follow.follower_id
        else:
            own, other = Follow.follower_id, Follow.followee_id
        query = (select(Follow.created_at, other).where(own == target.id)
                 .order_by(Follow.created_at.desc(), other.desc()).limit(limit + 1))
        if cursor:
            at, last = _decode_cursor(cursor)
            query = query.where(tuple_(Follow.created_at, other) < tuple_(at, last))
        rows = (await s.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [r[1] for r in rows]
        members = {m.id: m for m in (await s.execute(
            select(Member).where(Member.id.in_(ids)))).scalars()} if ids else {}
    items = [card(members[i]) for i in ids if i in members and members[i].status != "banned"]
    next_cursor = _encode_cursor(rows[-1][0], rows[-1][1]) if more and rows else None
    return Page(items=items, next_cursor=next_cursor)


async def followed_among(svc: Services, member: MemberInfo, ids: list[int]) -> list[int]:
    """Which of these members this member follows (one index probe each)."""
    if not ids:
        return []
    wanted = sorted(set(ids))
    async with svc.db.read() as s:
        among: ColumnElement[bool]
        if svc.db.is_sqlite:
            among = Follow.followee_id.in_(wanted)
        else:
            # One array parameter: binding thousands of separate ones costs more than the
            # query itself (17 ms -> 3 ms for 5,000 ids, docs/BENCHMARKS.md).
            among = Follow.followee_id == any_(bindparam("ids", wanted,
                                                         type_=ARRAY(BigInteger)))
        rows = await s.execute(select(Follow.followee_id).where(
            Follow.follower_id == member.id, among))
        return sorted(r[0] for r in rows)


async def followed_in_room(svc: Services, member: MemberInfo, room_id: int) -> list[MemberCard]:
    """The people this member follows who are in the room now."""
    async with svc.db.read() as s:
        if await s.get(Room, room_id) is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        rows = (await s.execute(
            select(Member).join(RoomMember, RoomMember.member_id == Member.id)
            .join(Follow, and_(Follow.followee_id == Member.id,
                               Follow.follower_id == member.id))
            .where(RoomMember.room_id == room_id, RoomMember.left_at.is_(None))
            .order_by(RoomMember.join_seq))).scalars().all()
    return [card(m) for m in rows]


# --- blocks ---------------------------------------------------------------------------------


async def block(svc: Services, member: MemberInfo, ref: str) -> None:
    async with svc.db.transaction() as s:
        await s.execute(select(Member.id).where(Member.id == member.id).with_for_update())
        target = await _target(s, ref)
        if target.id == member.id:
            raise InvalidInput("invalid_input", "you cannot block yourself")
        if await s.get(Block, (member.id, target.id)) is not None:
            return
        s.add(Block(blocker_id=member.id, blocked_id=target.id))
        for a, b in ((member.id, target.id), (target.id, member.id)):
            gone = await s.execute(delete(Follow).where(Follow.follower_id == a,
                                                        Follow.followee_id == b))
            if gone.rowcount:  # type: ignore[attr-defined]
                await _count(s, a, b, -1)
        # Rooms where the blocker moderates and the blocked member is: they must go.
        shared = list((await s.execute(
            select(RoomMember.room_id).where(RoomMember.member_id == target.id,
                                             RoomMember.left_at.is_(None))
            .intersect(select(RoomMember.room_id).where(
                RoomMember.member_id == member.id, RoomMember.left_at.is_(None),
                RoomMember.role == "moderator")))).scalars())
    for room_id in shared:
        with contextlib.suppress(Conflict, NotFound, Forbidden):
            await stage.remove_member(svc, room_id, member, target.id)
    svc.on_social_changed(member.id)
    svc.on_social_changed(target.id)


async def unblock(svc: Services, member: MemberInfo, ref: str) -> None:
    async with svc.db.transaction() as s:
        target = await _target(s, ref)
        await s.execute(delete(Block).where(Block.blocker_id == member.id,
                                            Block.blocked_id == target.id))
    svc.on_social_changed(member.id)
    svc.on_social_changed(target.id)


async def blocked_by_me(svc: Services, member: MemberInfo) -> list[MemberCard]:
    async with svc.db.read() as s:
        rows = (await s.execute(
            select(Member).join(Block, Block.blocked_id == Member.id)
            .where(Block.blocker_id == member.id).order_by(Block.created_at.desc())
        )).scalars().all()
    return [card(m) for m in rows]


# --- search ---------------------------------------------------------------------------------


async def search_people(svc: Services, viewer: MemberInfo, query: str,
                        limit: int = 20) -> list[MemberCard]:
    """Members whose words start with every word of the query, most followed first among
    the first candidates in term order."""
    limit = max(1, min(limit, 50))
    words = [w for w in search.words(query)][:4]
    ranges = [r for r in (search.prefix_range(w) for w in words) if r is not None]
    if not ranges:
        raise InvalidInput("invalid_input", "type at least one letter or digit to search")
    first, *rest = sorted(ranges, key=lambda r: -len(r[0]))  # the longest word is rarest
    async with svc.db.read() as s:
        candidates = (select(SearchTerm.member_id)
                      .where(SearchTerm.term >= first[0], SearchTerm.term < first[1])
                      .order_by(SearchTerm.term).limit(SEARCH_CANDIDATES)).subquery()
        conditions = [Member.id.in_(select(candidates.c.member_id)),
                      or_(Member.status == "active",
                          and_(Member.status == "suspended",
                               Member.suspended_until <= utcnow()))]
        for lo, hi in rest:
            conditions.append(exists().where(SearchTerm.member_id == Member.id,
                                             SearchTerm.term >= lo, SearchTerm.term < hi))
        conditions.append(~exists().where(
            or_(and_(Block.blocker_id == Member.id, Block.blocked_id == viewer.id),
                and_(Block.blocker_id == viewer.id, Block.blocked_id == Member.id))))
        rows = (await s.execute(select(Member).where(*conditions)
                                .order_by(Member.followers_count.desc(), Member.id)
                                .limit(limit))).scalars().all()
    return [card(m) for m in rows]
