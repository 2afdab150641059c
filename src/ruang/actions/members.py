"""Accounts and sessions: create a member, log in, authenticate a token, log out.

Passwords are hashed with argon2id in a worker thread (they cost tens of milliseconds).
Login answers the same way, after the same work, whether the username exists or not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ruang.actions.context import Services
from ruang.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from ruang.storage.models import AuthSession, Member, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
TOKEN_PREFIX = "rg_"
# A hash of a password nobody has, verified when the username is unknown so that the answer
# takes as long as for a real member.
_DUMMY_HASH: str | None = None


@dataclass(frozen=True)
class MemberInfo:
    id: int
    username: str
    display_name: str
    is_admin: bool

    @classmethod
    def of(cls, m: Member) -> MemberInfo:
        return cls(m.id, m.username, m.display_name, m.is_admin)


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise InvalidInput("invalid_input", "a username has 3 to 32 letters, digits or _, and "
                           "starts with a letter")
    return username


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput("invalid_input", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} "
                           "characters")
    return password


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_member(svc: Services, username: str, password: str, *,
                        display_name: str | None = None, is_admin: bool = False) -> MemberInfo:
    validate_username(username)
    validate_password(password)
    display = (display_name or username).strip()
    if not 1 <= len(display) <= 64:
        raise InvalidInput("invalid_input", "a display name has 1 to 64 characters")
    password_hash = await asyncio.to_thread(svc.hasher.hash, password)
    member = Member(username=username, username_key=username.lower(), display_name=display,
                    password_hash=password_hash, is_admin=is_admin)
    try:
        async with svc.db.transaction() as s:
            s.add(member)
    except IntegrityError:
        raise Conflict("username_taken", f"the username {username!r} is taken") from None
    return MemberInfo.of(member)


async def any_member(svc: Services) -> bool:
    async with svc.db.read() as s:
        return (await s.execute(select(Member.id).limit(1))).first() is not None


async def get_member(svc: Services, member_id: int) -> MemberInfo:
    async with svc.db.read() as s:
        m = await s.get(Member, member_id)
    if m is None:
        raise NotFound("member_not_found", "no such member")
    return MemberInfo.of(m)


async def find_member(svc: Services, ref: str) -> MemberInfo:
    """A member by @username or numeric id."""
    ref = ref.strip().removeprefix("@")
    async with svc.db.read() as s:
        if ref.isascii() and ref.isdigit():
            m = await s.get(Member, int(ref)) if int(ref) < 2**63 else None
        else:
            m = (await s.execute(select(Member).where(Member.username_key == ref.lower()))
                 ).scalar_one_or_none()
    if m is None:
        raise NotFound("member_not_found", f"no member {ref!r}")
    return MemberInfo.of(m)


def _verify(svc: Services, password_hash: str, password: str) -> bool:
    try:
        return bool(svc.hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def login(svc: Services, username: str, password: str, *,
                user_agent: str | None = None) -> tuple[str, MemberInfo, dt.datetime]:
    """Returns (bearer token, member, expiry). The token is shown once and never stored."""
    global _DUMMY_HASH
    if len(password) > MAX_PASSWORD or len(username) > 64:
        raise NotAuthenticated("invalid_credentials", "wrong username or password")
    async with svc.db.read() as s:
        member = (await s.execute(select(Member).where(Member.username_key == username.lower()))
                  ).scalar_one_or_none()
    if member is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await asyncio.to_thread(svc.hasher.hash, secrets.token_hex(16))
        await asyncio.to_thread(_verify, svc, _DUMMY_HASH, password)
        raise NotAuthenticated("invalid_credentials", "wrong username or password")
    if not await asyncio.to_thread(_verify, svc, member.password_hash, password):
        raise NotAuthenticated("invalid_credentials", "wrong username or password")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=svc.settings.session_days)
    async with svc.db.transaction() as s:
        s.add(AuthSession(member_id=member.id, token_hash=hash_token(token), expires_at=expires,
                          user_agent=(user_agent or "")[:200] or None))
        if svc.hasher.check_needs_rehash(member.password_hash):
            fresh = await asyncio.to_thread(svc.hasher.hash, password)
            await s.execute(update(Member).where(Member.id == member.id)
                            .values(password_hash=fresh))
    return token, MemberInfo.of(member), expires


async def authenticate(svc: Services, token: str) -> MemberInfo:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise NotAuthenticated("not_authenticated", "invalid or expired session")
    now = utcnow()
    async with svc.db.read() as s:
        row = (await s.execute(
            select(AuthSession, Member).join(Member, Member.id == AuthSession.member_id)
            .where(AuthSession.token_hash == hash_token(token)))).first()
    if row is None:
        raise NotAuthenticated("not_authenticated", "invalid or expired session")
    session, member = row
    if session.revoked_at is not None or session.expires_at <= now:
        raise NotAuthenticated("not_authenticated", "invalid or expired session")
    if now - session.last_used_at > dt.timedelta(minutes=5):
        async with svc.db.transaction() as s:
            await s.execute(update(AuthSession).where(AuthSession.id == session.id)
                            .values(last_used_at=now))
    return MemberInfo.of(member)


async def logout(svc: Services, token: str) -> None:
    async with svc.db.transaction() as s:
        await s.execute(update(AuthSession).where(AuthSession.token_hash == hash_token(token),
                                                  AuthSession.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
