"""Accounts and sessions: create a member, log in and out, sessions and API keys, password
resets and address verification.

Passwords are hashed with argon2id in a worker thread. Login answers the same way, after the
same work, whether the username exists or not; a password reset request answers the same way
whether the address belongs to a member or not (the email, sent later by the outbox, is the
only difference). Tokens (sessions, API keys, email links) are random, shown once, and stored
only as SHA-256 hashes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ruang import emails
from ruang.actions.context import Services
from ruang.actions.outbox import enqueue
from ruang.domain import search
from ruang.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from ruang.storage.models import (
    AuthSession,
    EmailToken,
    Member,
    SearchTerm,
    UsernameClaim,
    utcnow,
)

USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
TOKEN_PREFIX = "rg_"
API_KEY_PREFIX = "rk_"
RESET_MINUTES = 60
VERIFY_DAYS = 7
API_KEY_YEARS = 10
# Passwords too common to allow, whatever their length.
_COMMON = frozenset([
    "password123", "password1234", "password12345", "1234567890", "12345678910",
    "qwertyuiop", "qwerty1234", "iloveyou123", "letmein123", "welcome123", "administrator",
    "changeme123", "passw0rd123", "abc1234567", "1q2w3e4r5t", "1qaz2wsx3edc", "qwerty12345",
    "football123", "baseball123", "superman123", "trustno1234"])
# A hash of a password nobody has, verified when the username is unknown so that the answer
# takes as long as for a real member.
_DUMMY_HASH: str | None = None


@dataclass(frozen=True)
class MemberInfo:
    id: int
    username: str
    display_name: str
    is_admin: bool
    session_id: int | None = None  # the session (or API key) this request came with

    @classmethod
    def of(cls, m: Member, session_id: int | None = None) -> MemberInfo:
        return cls(m.id, m.username, m.display_name, m.is_admin, session_id)


def validate_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise InvalidInput("invalid_input", "a username has 3 to 32 letters, digits or _, and "
                           "starts with a letter")
    return username


def validate_password(password: str, *, username: str = "", email: str = "") -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput("invalid_input", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} "
                           "characters")
    lowered = password.casefold()
    if lowered in _COMMON or len(set(password)) < 4:
        raise InvalidInput("invalid_input", "that password is too easy to guess")
    if (username and username.casefold() in lowered) or \
            (email and email.split("@")[0].casefold() in lowered):
        raise InvalidInput("invalid_input", "a password must not contain your username or "
                           "email address")
    return password


def validate_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidInput("invalid_input", "that is not a valid email address")
    return email


def validate_display_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 64:
        raise InvalidInput("invalid_input", "a display name has 1 to 64 characters")
    return name


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session (derived: nothing more to store)."""
    return hashlib.sha256(b"ruang-csrf:" + session_token.encode()).hexdigest()[:32]


async def hash_password(svc: Services, password: str) -> str:
    return await asyncio.to_thread(svc.hasher.hash, password)


def set_search_terms(s: AsyncSession, member: Member) -> None:
    """Queue the member's search terms (call after deleting the old ones, if any)."""
    for term in search.terms(member.username, member.display_name, member.headline):
        s.add(SearchTerm(term=term, member_id=member.id))


async def new_member(s: AsyncSession, svc: Services, *, username: str, password_hash: str,
                     display_name: str, email: str | None = None,
                     email_verified: bool = False, is_admin: bool = False,
                     nominated_by: int | None = None,
                     claim: UsernameClaim | None = None) -> Member:
    """Create a member inside the caller's transaction: name claim, search terms, invites.

    Raises Conflict(username_taken) when the name is claimed (the caller's transaction is then
    unusable and must be abandoned)."""
    member = Member(username=username, username_key=username.lower(), display_name=display_name,
                    password_hash=password_hash, is_admin=is_admin, email=email,
                    email_key=email.lower() if email else None,
                    email_verified_at=utcnow() if email and email_verified else None,
                    nominated_by=nominated_by, interests=[],
                    invites_left=svc.settings.invites_per_member)
    s.add(member)
    try:
        await s.flush()
        if claim is not None:
            claim.member_id = member.id
            claim.waitlist_entry_id = None
        else:
            s.add(UsernameClaim(username_key=member.username_key, member_id=member.id))
        set_search_terms(s, member)
        await s.flush()
    except IntegrityError:
        raise Conflict("username_taken", f"the username {username!r} is taken") from None
    return member


async def create_member(svc: Services, username: str, password: str, *,
                        display_name: str | None = None, is_admin: bool = False,
                        email: str | None = None) -> MemberInfo:
    """An account made by an administrator (CLI), not through an invitation."""
    validate_username(username)
    validate_password(password, username=username, email=email or "")
    display = validate_display_name(display_name or username)
    if email:
        validate_email(email)
    password_hash = await hash_password(svc, password)
    try:
        async with svc.db.transaction() as s:
            member = await new_member(s, svc, username=username, password_hash=password_hash,
                                      display_name=display, email=email, is_admin=is_admin)
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


async def member_by_ref(s: AsyncSession, ref: str) -> Member | None:
    """A member by @username or numeric id."""
    ref = ref.strip().removeprefix("@")
    if ref.isascii() and ref.isdigit():
        return await s.get(Member, int(ref)) if int(ref) < 2**63 else None
    return (await s.execute(select(Member).where(Member.username_key == ref.lower()))
            ).scalar_one_or_none()


async def find_member(svc: Services, ref: str) -> MemberInfo:
    async with svc.db.read() as s:
        m = await member_by_ref(s, ref)
    if m is None:
        raise NotFound("member_not_found", f"no member {ref!r}")
    return MemberInfo.of(m)


def _verify(svc: Services, password_hash: str, password: str) -> bool:
    try:
        return bool(svc.hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _standing(member: Member) -> None:
    """Refuse a member who may not use Ruang now (after they proved who they are)."""
    if member.status == "banned":
        raise Forbidden("account_banned", "this account was closed by the administrators")
    if member.status == "suspended" and member.suspended_until and \
            member.suspended_until > utcnow():
        raise Forbidden("account_suspended", "this account is suspended until "
                        f"{member.suspended_until:%Y-%m-%d %H:%M} UTC")


async def start_session(s: AsyncSession, svc: Services, member: Member, *,
                        user_agent: str | None) -> tuple[str, dt.datetime]:
    token = new_token()
    expires = utcnow() + dt.timedelta(days=svc.settings.session_days)
    s.add(AuthSession(member_id=member.id, token_hash=hash_token(token), expires_at=expires,
                      user_agent=(user_agent or "")[:200] or None, kind="session"))
    return token, expires


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
            _DUMMY_HASH = await hash_password(svc, secrets.token_hex(16))
        await asyncio.to_thread(_verify, svc, _DUMMY_HASH, password)
        raise NotAuthenticated("invalid_credentials", "wrong username or password")
    if not await asyncio.to_thread(_verify, svc, member.password_hash, password):
        raise NotAuthenticated("invalid_credentials", "wrong username or password")
    _standing(member)
    async with svc.db.transaction() as s:
        token, expires = await start_session(s, svc, member, user_agent=user_agent)
        if svc.hasher.check_needs_rehash(member.password_hash):
            fresh = await hash_password(svc, password)
            await s.execute(update(Member).where(Member.id == member.id)
                            .values(password_hash=fresh))
    return token, MemberInfo.of(member), expires


async def authenticate(svc: Services, token: str) -> MemberInfo:
    if not token.startswith((TOKEN_PREFIX, API_KEY_PREFIX)) or len(token) > 100:
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
    _standing(member)
    if now - session.last_used_at > dt.timedelta(minutes=5):
        async with svc.db.transaction() as s:
            await s.execute(update(AuthSession).where(AuthSession.id == session.id)
                            .values(last_used_at=now))
    return MemberInfo.of(member, session.id)


async def revoke_sessions(s: AsyncSession, member_id: int, *,
                          session_id: int | None = None, keep: int | None = None,
                          kind: str | None = "session") -> list[int]:
    """Revoke one session, or all of a member's (of a kind, or all kinds), in the caller's
    transaction. Returns the revoked ids (publish them after the commit)."""
    query = select(AuthSession.id).where(AuthSession.member_id == member_id,
                                         AuthSession.revoked_at.is_(None))
    if session_id is not None:
        query = query.where(AuthSession.id == session_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    if kind is not None:
        query = query.where(AuthSession.kind == kind)
    ids = list((await s.execute(query)).scalars())
    if ids:
        await s.execute(update(AuthSession).where(AuthSession.id.in_(ids))
                        .values(revoked_at=utcnow()))
    return ids


async def logout(svc: Services, token: str) -> None:
    async with svc.db.transaction() as s:
        row = (await s.execute(select(AuthSession).where(
            AuthSession.token_hash == hash_token(token), AuthSession.revoked_at.is_(None))
        )).scalar_one_or_none()
        ids = await revoke_sessions(s, row.member_id, session_id=row.id, kind=None) \
            if row is not None else []
    if row is not None:
        await svc.publish_revoked(row.member_id, ids)


class SessionView(BaseModel):
    id: int
    kind: str
    name: str | None
    user_agent: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    current: bool


async def list_sessions(svc: Services, member: MemberInfo, *,
                        kind: str = "session") -> list[SessionView]:
    async with svc.db.read() as s:
        rows = (await s.execute(
            select(AuthSession).where(AuthSession.member_id == member.id,
                                      AuthSession.kind == kind,
                                      AuthSession.revoked_at.is_(None),
                                      AuthSession.expires_at > utcnow())
            .order_by(AuthSession.last_used_at.desc()))).scalars().all()
    return [SessionView(id=r.id, kind=r.kind, name=r.name, user_agent=r.user_agent,
                        created_at=r.created_at, last_used_at=r.last_used_at,
                        expires_at=r.expires_at, current=r.id == member.session_id)
            for r in rows]


async def revoke_session(svc: Services, member: MemberInfo, session_id: int, *,
                         kind: str = "session") -> None:
    async with svc.db.transaction() as s:
        ids = await revoke_sessions(s, member.id, session_id=session_id, kind=kind)
    if not ids:
        raise NotFound("not_found", "no such session")
    await svc.publish_revoked(member.id, ids)


async def logout_everywhere(svc: Services, member: MemberInfo) -> int:
    """End every login session of the member (API keys stay: they are revoked one by one)."""
    async with svc.db.transaction() as s:
        ids = await revoke_sessions(s, member.id, kind="session")
    await svc.publish_revoked(member.id, ids)
    return len(ids)


class NewApiKey(BaseModel):
    id: int
    name: str
    token: str
    created_at: dt.datetime


async def create_api_key(svc: Services, member: MemberInfo, name: str) -> NewApiKey:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 64:
        raise InvalidInput("invalid_input", "an API key's name has 1 to 64 characters")
    token = new_token(API_KEY_PREFIX)
    key = AuthSession(member_id=member.id, token_hash=hash_token(token), kind="api_key",
                      name=name, expires_at=utcnow() + dt.timedelta(days=365 * API_KEY_YEARS))
    async with svc.db.transaction() as s:
        s.add(key)
    return NewApiKey(id=key.id, name=name, token=token, created_at=key.created_at)


# --- password reset and address verification ----------------------------------------------


async def _email_token(s: AsyncSession, member: Member, purpose: str, email: str,
                       lifetime: dt.timedelta) -> tuple[str, dt.datetime]:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + lifetime
    s.add(EmailToken(member_id=member.id, purpose=purpose, email=email,
                     token_hash=hash_token(token), expires_at=expires))
    return token, expires


async def request_password_reset(svc: Services, email: str) -> None:
    """Email a reset link when the address belongs to a member; answer the same either way."""
    validate_email(email)
    async with svc.db.transaction() as s:
        member = (await s.execute(select(Member).where(Member.email_key == email.lower()))
                  ).scalar_one_or_none()
        if member is None or member.email is None or member.status == "banned":
            return
        token, expires = await _email_token(s, member, "reset", member.email,
                                            dt.timedelta(minutes=RESET_MINUTES))
        enqueue(s, emails.password_reset(member.email,
                                         f"{svc.settings.base_url}/reset/{token}", expires))
    svc.outbox_wakeup()


async def _use_email_token(s: AsyncSession, token: str, purpose: str) -> EmailToken:
    row = (await s.execute(select(EmailToken).where(
        EmailToken.token_hash == hash_token(token), EmailToken.purpose == purpose)
        .with_for_update())).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidInput("token_invalid", "this link is not valid: it expired or was used "
                           "already; ask for a new one")
    row.used_at = utcnow()
    return row


async def confirm_password_reset(svc: Services, token: str, password: str) -> None:
    """Set a new password from a reset link; every session and API key of the member ends."""
    if len(token) > 100:
        raise InvalidInput("token_invalid", "this link is not valid")
    async with svc.db.transaction() as s:
        row = await _use_email_token(s, token, "reset")
        member = await s.get(Member, row.member_id)
        assert member is not None
        validate_password(password, username=member.username, email=member.email or "")
        member.password_hash = await hash_password(svc, password)
        # The link reached the address: it is verified.
        if member.email_key == row.email.lower() and member.email_verified_at is None:
            member.email_verified_at = utcnow()
        # Whoever knew the old password may have made an API key: those end too.
        ids = await revoke_sessions(s, member.id, kind=None)
    await svc.publish_revoked(row.member_id, ids)


async def request_email_change(svc: Services, member: MemberInfo, email: str) -> None:
    """Send a confirmation link to a new address; it becomes the member's once confirmed."""
    validate_email(email)
    async with svc.db.transaction() as s:
        m = await s.get(Member, member.id)
        assert m is not None
        taken = (await s.execute(select(Member.id).where(Member.email_key == email.lower(),
                                                         Member.id != member.id))).first()
        if taken is not None:
            raise Conflict("already_member", "that address cannot be used")
        token, _ = await _email_token(s, m, "verify", email, dt.timedelta(days=VERIFY_DAYS))
        enqueue(s, emails.verify_address(email, f"{svc.settings.base_url}/verify/{token}"))
    svc.outbox_wakeup()


async def confirm_email(svc: Services, token: str) -> MemberInfo:
    if len(token) > 100:
        raise InvalidInput("token_invalid", "this link is not valid")
    try:
        async with svc.db.transaction() as s:
            row = await _use_email_token(s, token, "verify")
            member = await s.get(Member, row.member_id)
            assert member is not None
            member.email = row.email
            member.email_key = row.email.lower()
            member.email_verified_at = utcnow()
    except IntegrityError:
        raise Conflict("already_member", "that address now belongs to another member") from None
    return MemberInfo.of(member)
