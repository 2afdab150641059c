"""Room chat beside the audio, and reactions.

A message is a row in ``chat_messages`` and a ``chat_message`` event with the same sequence
number, written together; a deletion keeps the row (marked deleted) and emits
``chat_deleted``. Who may write depends on the room's chat mode (open, speakers, off);
moderators may always write and may delete anyone's message, authors their own. Messages and
reactions are rate-limited per member.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from pydantic import BaseModel
from sqlalchemy import select

from ruang import ratelimit
from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.actions.rooms import author_view, check_id, deny, room_write, seat
from ruang.domain import rooms as rules
from ruang.domain.rooms import Action, ChatMode
from ruang.errors import InvalidInput, NotFound, RateLimited
from ruang.events import models as ev
from ruang.storage.models import ChatMessageRow, Member, Room, utcnow

TEXT_MAX = 500
HISTORY_MAX = 200
# The reactions a room offers.
EMOJI = ("👏", "❤️", "😂", "🎉", "👍", "🔥", "🙏", "💯", "🤔", "😮", "👋", "🙌")
CHAT_LIMIT = ratelimit.Limit.parse("chat", "5/10s")
REACT_LIMIT = ratelimit.Limit.parse("react", "10/10s")


class ChatLine(BaseModel):
    message_id: int
    seq: int
    author: ev.AuthorView | None  # None: the author's account is gone
    text: str
    at: dt.datetime


class ChatPage(BaseModel):
    messages: list[ChatLine]  # oldest first
    before_seq: int | None    # pass as ?before= for older messages


def _clean_text(text: str) -> str:
    # Drop control characters (newlines and tabs stay), trim, and bound.
    cleaned = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    cleaned = cleaned.strip()
    if not cleaned:
        raise InvalidInput("invalid_input", "a message has some text")
    if len(cleaned) > TEXT_MAX:
        raise InvalidInput("invalid_input", f"a message has at most {TEXT_MAX} characters")
    return cleaned


async def _limit(svc: Services, limit: ratelimit.Limit, key: str) -> None:
    try:
        await svc.limiter.hit(limit, key)
    except ratelimit.RateLimited as exc:
        raise RateLimited("rate_limited", exc.message, exc.retry_after) from None
    except ratelimit.RateLimiterUnavailable:
        await svc.local_limiter.hit(limit, key)


async def send(svc: Services, room_id: int, member: MemberInfo, text: str) -> int:
    """Post a message; returns its id."""
    text = _clean_text(text)
    await _limit(svc, CHAT_LIMIT, f"{room_id}:{member.id}")
    async with room_write(svc, room_id) as tx:
        denial = rules.decide(Action.CHAT, seat(await tx.seat_row(member.id)), room=tx.facts)
        if denial is not None:
            raise deny(denial)
        author = await tx.session.get(Member, member.id)
        assert author is not None
        row = ChatMessageRow(room_id=room_id, seq=tx.next_seq, member_id=member.id, text=text)
        tx.session.add(row)
        await tx.session.flush()
        tx.emit(ev.ChatMessage(message_id=row.id, author=author_view(author), text=text))
        return row.id


async def delete(svc: Services, room_id: int, actor: MemberInfo, message_id: int) -> None:
    async with room_write(svc, room_id) as tx:
        row = await tx.session.get(ChatMessageRow, message_id) \
            if 1 <= message_id < 2**63 else None
        if row is None or row.room_id != room_id or row.deleted_at is not None:
            raise NotFound("message_not_found", "no such message in this room")
        if row.member_id != actor.id:
            denial = rules.decide(Action.DELETE_ANY_CHAT, seat(await tx.seat_row(actor.id)))
            if denial is not None:
                raise deny(denial)
        row.deleted_at = utcnow()
        row.deleted_by = actor.id
        tx.emit(ev.ChatDeleted(message_id=message_id, by=actor.id))


async def set_mode(svc: Services, room_id: int, actor: MemberInfo, mode: ChatMode) -> None:
    async with room_write(svc, room_id) as tx:
        denial = rules.decide(Action.SET_CHAT_MODE, seat(await tx.seat_row(actor.id)))
        if denial is not None:
            raise deny(denial)
        if tx.room.chat_mode == mode.value:
            return
        tx.room.chat_mode = mode.value
        tx.emit(ev.ChatModeChanged(mode=mode, by=actor.id))


async def react(svc: Services, room_id: int, member: MemberInfo, emoji: str) -> None:
    if emoji not in EMOJI:
        raise InvalidInput("invalid_input", "react with one of: " + " ".join(EMOJI))
    await _limit(svc, REACT_LIMIT, f"{room_id}:{member.id}")
    async with room_write(svc, room_id) as tx:
        denial = rules.decide(Action.REACT, seat(await tx.seat_row(member.id)))
        if denial is not None:
            raise deny(denial)
        tx.emit(ev.Reaction(member_id=member.id, emoji=emoji))


async def history(svc: Services, room_id: int, *, before: int | None = None,
                  limit: int = 50) -> ChatPage:
    """Messages that are not deleted, newest page first (each page oldest first)."""
    check_id(room_id)
    limit = max(1, min(limit, HISTORY_MAX))
    async with svc.db.read() as s:
        if await s.get(Room, room_id) is None:
            raise NotFound("room_not_found", f"no room {room_id}")
        query = (select(ChatMessageRow, Member).outerjoin(Member,
                                                          Member.id == ChatMessageRow.member_id)
                 .where(ChatMessageRow.room_id == room_id, ChatMessageRow.deleted_at.is_(None))
                 .order_by(ChatMessageRow.seq.desc()).limit(limit + 1))
        if before is not None:
            query = query.where(ChatMessageRow.seq < before)
        rows = (await s.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [ChatLine(message_id=r.id, seq=r.seq, author=author_view(m) if m else None,
                      text=r.text, at=r.created_at) for r, m in reversed(rows)]
    return ChatPage(messages=lines, before_seq=lines[0].seq if more and lines else None)
