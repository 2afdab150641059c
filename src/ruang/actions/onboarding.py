"""Getting in: the waitlist, invitations, and redeeming an invitation.

Anyone may join the waitlist (name, email, a wished-for username that is then reserved, and
members who know them). Members spend invitations: by email, or by "waving in" a waitlist
entry that named them. Administrators approve or reject waitlist entries in bulk. Redeeming an
invitation creates the member (the link reached their address, so it counts as verified) and
records who nominated them.

No answer here tells whether an email address belongs to a member: joining the waitlist
answers the same way in every case and the difference is only in the email sent.
"""

from __future__ import annotations

import datetime as dt
import secrets

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ruang import emails
from ruang.actions.context import Services
from ruang.actions.members import (
    MemberInfo,
    hash_password,
    hash_token,
    new_member,
    start_session,
    validate_display_name,
    validate_email,
    validate_password,
    validate_username,
)
from ruang.actions.outbox import enqueue
from ruang.errors import Conflict, Forbidden, InvalidInput, NotFound
from ruang.storage.models import (
    Invite,
    Member,
    UsernameClaim,
    WaitlistEntry,
    WaitlistVouch,
    utcnow,
)

MAX_VOUCHERS = 5
NOTE_MAX = 500


class WaitlistStatus(BaseModel):
    name: str
    username: str
    status: str
    position: int | None  # among those still waiting, 1 = next


class WaitlistEntryView(BaseModel):
    id: int
    name: str
    username: str
    note: str
    status: str
    created_at: dt.datetime
    vouched_by: list[str]
    email: str | None = None  # administrators only


class InviteView(BaseModel):
    id: int
    email: str
    status: str  # pending, redeemed, expired, revoked
    created_at: dt.datetime
    expires_at: dt.datetime
    redeemed_by: str | None = None


class InviteInfo(BaseModel):
    """What the redemption page shows before the account is made."""

    inviter: str | None
    email: str
    username: str | None
    expires_at: dt.datetime


# --- waitlist -------------------------------------------------------------------------------


async def join_waitlist(svc: Services, *, name: str, email: str, username: str,
                        vouchers: list[str], note: str = "") -> None:
    name = validate_display_name(name)
    validate_email(email)
    validate_username(username)
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput("invalid_input", f"a note has at most {NOTE_MAX} characters")
    if len(vouchers) > MAX_VOUCHERS:
        raise InvalidInput("invalid_input", f"name at most {MAX_VOUCHERS} members")
    token = secrets.token_urlsafe(32)
    try:
        async with svc.db.transaction() as s:
            voucher_ids = []
            for ref in dict.fromkeys(v.strip().removeprefix("@").lower() for v in vouchers):
                m = (await s.execute(select(Member.id).where(Member.username_key == ref))
                     ).scalar_one_or_none()
                if m is None:
                    raise NotFound("member_not_found", f"there is no member @{ref}")
                voucher_ids.append(m)
            known = (await s.execute(select(Member.id).where(Member.email_key == email.lower()))
                     ).first() or (await s.execute(select(WaitlistEntry.id).where(
                         WaitlistEntry.email_key == email.lower()))).first()
            if known is not None:
                enqueue(s, emails.waitlist_already_member(email))
                return
            entry = WaitlistEntry(name=name, email=email, email_key=email.lower(),
                                  username=username, note=note,
                                  status_token_hash=hash_token(token))
            s.add(entry)
            await s.flush()
            s.add(UsernameClaim(username_key=username.lower(), waitlist_entry_id=entry.id))
            for position, vid in enumerate(voucher_ids):
                s.add(WaitlistVouch(entry_id=entry.id, member_id=vid, position=position))
            await s.flush()
            enqueue(s, emails.waitlist_received(
                email, name, f"{svc.settings.base_url}/waitlist/{token}"))
    except IntegrityError:
        # Lost a race with a request for the same address: answer as if it came second.
        async with svc.db.transaction() as s:
            if (await s.execute(select(WaitlistEntry.id).where(
                    WaitlistEntry.email_key == email.lower()))).first() is not None:
                enqueue(s, emails.waitlist_already_member(email))
                return
        raise Conflict("username_taken", f"the username {username!r} is taken") from None
    finally:
        svc.outbox_wakeup()


async def waitlist_status(svc: Services, token: str) -> WaitlistStatus:
    async with svc.db.read() as s:
        entry = (await s.execute(select(WaitlistEntry).where(
            WaitlistEntry.status_token_hash == hash_token(token[:100])))).scalar_one_or_none()
        if entry is None:
            raise NotFound("not_found", "no waitlist entry for this link")
        position = None
        if entry.status == "waiting":
            ahead = (await s.execute(select(func.count()).select_from(WaitlistEntry).where(
                WaitlistEntry.status == "waiting",
                WaitlistEntry.created_at < entry.created_at))).scalar_one()
            position = int(ahead) + 1
    return WaitlistStatus(name=entry.name, username=entry.username, status=entry.status,
                          position=position)


async def _entry_views(s: AsyncSession, entries: list[WaitlistEntry], *,
                       with_email: bool) -> list[WaitlistEntryView]:
    ids = [e.id for e in entries]
    vouches: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = await s.execute(select(WaitlistVouch.entry_id, Member.username)
                               .join(Member, Member.id == WaitlistVouch.member_id)
                               .where(WaitlistVouch.entry_id.in_(ids))
                               .order_by(WaitlistVouch.position))
        for entry_id, uname in rows:
            vouches[entry_id].append(uname)
    return [WaitlistEntryView(id=e.id, name=e.name, username=e.username, note=e.note,
                              status=e.status, created_at=e.created_at,
                              vouched_by=vouches[e.id],
                              email=e.email if with_email else None) for e in entries]


async def entries_naming(svc: Services, member: MemberInfo) -> list[WaitlistEntryView]:
    """Waitlist entries that named this member and still wait (they can wave them in)."""
    async with svc.db.read() as s:
        entries = list((await s.execute(
            select(WaitlistEntry).join(WaitlistVouch, WaitlistVouch.entry_id == WaitlistEntry.id)
            .where(WaitlistVouch.member_id == member.id, WaitlistEntry.status == "waiting")
            .order_by(WaitlistEntry.created_at))).scalars())
        return await _entry_views(s, entries, with_email=False)


async def list_waitlist(svc: Services, status: str = "waiting", limit: int = 200,
                        after_id: int = 0) -> list[WaitlistEntryView]:
    async with svc.db.read() as s:
        query = select(WaitlistEntry).where(WaitlistEntry.id > after_id)
        if status != "all":
            query = query.where(WaitlistEntry.status == status)
        entries = list((await s.execute(query.order_by(WaitlistEntry.id).limit(limit))
                        ).scalars())
        return await _entry_views(s, entries, with_email=True)


# --- invitations ----------------------------------------------------------------------------


def _new_invite(svc: Services, *, inviter_id: int | None, email: str,
                entry: WaitlistEntry | None, by_admin: bool) -> tuple[Invite, str]:
    token = secrets.token_urlsafe(32)
    invite = Invite(inviter_id=inviter_id, email=email, token_hash=hash_token(token),
                    waitlist_entry_id=entry.id if entry else None, by_admin=by_admin,
                    expires_at=utcnow() + dt.timedelta(days=svc.settings.invite_days))
    return invite, token


async def _send_invite_email(s: AsyncSession, svc: Services, invite: Invite, token: str,
                             inviter: str | None, entry: WaitlistEntry | None) -> None:
    is_member = (await s.execute(select(Member.id).where(
        Member.email_key == invite.email.lower()))).first() is not None
    if is_member:
        enqueue(s, emails.invitation_for_member(invite.email))
    else:
        enqueue(s, emails.invitation(invite.email, inviter,
                                     f"{svc.settings.base_url}/invite/{token}",
                                     invite.expires_at, entry.username if entry else None))


async def _refund_expired(s: AsyncSession, member: Member) -> None:
    """Invitations that expired unused go back to their sender."""
    expired = list((await s.execute(select(Invite).where(
        Invite.inviter_id == member.id, Invite.by_admin.is_(False),
        Invite.redeemed_at.is_(None), Invite.revoked_at.is_(None),
        Invite.expires_at <= utcnow()))).scalars())
    for inv in expired:
        inv.revoked_at = utcnow()
        member.invites_left += 1


async def _spend_invite(s: AsyncSession, member_id: int) -> Member:
    member = await s.get(Member, member_id, with_for_update=True)
    assert member is not None
    await _refund_expired(s, member)
    if member.invites_left <= 0:
        raise Conflict("no_invites_left", "you have no invitations left")
    member.invites_left -= 1
    return member


async def send_invite(svc: Services, member: MemberInfo, email: str) -> InviteView:
    validate_email(email)
    async with svc.db.transaction() as s:
        sender = await _spend_invite(s, member.id)
        entry = (await s.execute(select(WaitlistEntry).where(
            WaitlistEntry.email_key == email.lower(), WaitlistEntry.status == "waiting"))
        ).scalar_one_or_none()
        invite, token = _new_invite(svc, inviter_id=member.id, email=email, entry=entry,
                                    by_admin=False)
        s.add(invite)
        if entry is not None:
            entry.status = "invited"
            entry.decided_at = utcnow()
            entry.decided_by = member.id
        await s.flush()
        await _send_invite_email(s, svc, invite, token, sender.display_name, entry)
    svc.outbox_wakeup()
    return _invite_view(invite, None)


async def wave_in(svc: Services, member: MemberInfo, entry_id: int) -> InviteView:
    """Invite a waitlist entry that named this member, with one of their invitations."""
    async with svc.db.transaction() as s:
        entry = await s.get(WaitlistEntry, entry_id, with_for_update=True)
        vouch = await s.get(WaitlistVouch, (entry_id, member.id)) if entry else None
        if entry is None or vouch is None or entry.status != "waiting":
            raise NotFound("not_found", "no waiting entry that named you")
        sender = await _spend_invite(s, member.id)
        invite, token = _new_invite(svc, inviter_id=member.id, email=entry.email, entry=entry,
                                    by_admin=False)
        s.add(invite)
        entry.status = "invited"
        entry.decided_at = utcnow()
        entry.decided_by = member.id
        await s.flush()
        await _send_invite_email(s, svc, invite, token, sender.display_name, entry)
    svc.outbox_wakeup()
    return _invite_view(invite, None)


def _invite_status(inv: Invite) -> str:
    if inv.redeemed_at is not None:
        return "redeemed"
    if inv.revoked_at is not None:
        return "revoked" if inv.expires_at > inv.revoked_at else "expired"
    return "expired" if inv.expires_at <= utcnow() else "pending"


def _invite_view(inv: Invite, redeemed_by: str | None) -> InviteView:
    return InviteView(id=inv.id, email=inv.email, status=_invite_status(inv),
                      created_at=inv.created_at, expires_at=inv.expires_at,
                      redeemed_by=redeemed_by)


async def my_invites(svc: Services, member: MemberInfo) -> tuple[int, list[InviteView]]:
    """(invitations left, invitations sent), refunding expired ones first."""
    async with svc.db.transaction() as s:
        me = await s.get(Member, member.id, with_for_update=True)
        assert me is not None
        await _refund_expired(s, me)
        rows = (await s.execute(
            select(Invite, Member.username).outerjoin(Member, Member.id == Invite.redeemed_by)
            .where(Invite.inviter_id == member.id, Invite.by_admin.is_(False))
            .order_by(Invite.created_at.desc()))).all()
        return me.invites_left, [_invite_view(inv, uname) for inv, uname in rows]


async def revoke_invite(svc: Services, member: MemberInfo, invite_id: int) -> None:
    async with svc.db.transaction() as s:
        inv = await s.get(Invite, invite_id, with_for_update=True)
        if inv is None or inv.inviter_id != member.id or inv.by_admin:
            raise NotFound("invite_not_found", "no such invitation")
        if _invite_status(inv) != "pending":
            raise Conflict("invite_used", f"this invitation is {_invite_status(inv)}")
        inv.revoked_at = utcnow()
        if not inv.by_admin:
            me = await s.get(Member, member.id, with_for_update=True)
            assert me is not None
            me.invites_left += 1
        if inv.waitlist_entry_id is not None:
            entry = await s.get(WaitlistEntry, inv.waitlist_entry_id)
            if entry is not None and entry.status == "invited":
                entry.status = "waiting"


async def _valid_invite(s: AsyncSession, token: str, *, lock: bool) -> Invite:
    query = select(Invite).where(Invite.token_hash == hash_token(token[:100]))
    if lock:
        query = query.with_for_update()
    inv = (await s.execute(query)).scalar_one_or_none()
    if inv is None or (inv.revoked_at is not None and inv.expires_at > inv.revoked_at):
        raise NotFound("invite_not_found", "this invitation link is not valid")
    if inv.redeemed_at is not None:
        raise Conflict("invite_used", "this invitation was already used")
    if inv.expires_at <= utcnow() or inv.revoked_at is not None:
        raise Conflict("invite_expired", "this invitation has expired; ask for a new one")
    return inv


async def invite_info(svc: Services, token: str) -> InviteInfo:
    async with svc.db.read() as s:
        inv = await _valid_invite(s, token, lock=False)
        inviter = await s.get(Member, inv.inviter_id) if inv.inviter_id else None
        entry = await s.get(WaitlistEntry, inv.waitlist_entry_id) \
            if inv.waitlist_entry_id else None
    return InviteInfo(inviter=inviter.display_name if inviter and not inv.by_admin else None,
                      email=inv.email, username=entry.username if entry else None,
                      expires_at=inv.expires_at)


async def redeem_invite(svc: Services, token: str, *, password: str,
                        username: str | None = None, display_name: str | None = None,
                        user_agent: str | None = None
                        ) -> tuple[str, MemberInfo, dt.datetime]:
    """Create the member from an invitation and log them in: (token, member, expiry)."""
    password_hash: str | None = None
    async with svc.db.transaction() as s:
        inv = await _valid_invite(s, token, lock=True)
        if (await s.execute(select(Member.id).where(Member.email_key == inv.email.lower()))
                ).first() is not None:
            raise Conflict("already_member", "this address already belongs to a member: log in")
        entry = await s.get(WaitlistEntry, inv.waitlist_entry_id) \
            if inv.waitlist_entry_id else None
        name = username or (entry.username if entry else None)
        if name is None:
            raise InvalidInput("invalid_input", "choose a username")
        validate_username(name)
        validate_password(password, username=name, email=inv.email)
        display = validate_display_name(display_name or (entry.name if entry else name))
        password_hash = await hash_password(svc, password)
        claim = None
        if entry is not None:
            claim = (await s.execute(select(UsernameClaim).where(
                UsernameClaim.waitlist_entry_id == entry.id))).scalar_one_or_none()
            if claim is not None and claim.username_key != name.lower():
                await s.delete(claim)  # they chose another name: free the reserved one
                await s.flush()
                claim = None
        member = await new_member(s, svc, username=name, password_hash=password_hash,
                                  display_name=display, email=inv.email, email_verified=True,
                                  nominated_by=inv.inviter_id, claim=claim)
        inv.redeemed_at = utcnow()
        inv.redeemed_by = member.id
        if entry is not None:
            entry.status = "joined"
        session_token, expires = await start_session(s, svc, member, user_agent=user_agent)
    return session_token, MemberInfo.of(member), expires


# --- administrators -------------------------------------------------------------------------


def require_admin(member: MemberInfo) -> None:
    if not member.is_admin:
        raise Forbidden("not_an_admin", "only administrators can do that")


async def decide_waitlist(svc: Services, admin: MemberInfo, entry_ids: list[int],
                          approve: bool) -> int:
    """Approve (send an invitation, not counted against anyone) or reject waiting entries.
    Returns how many changed; entries that no longer wait are skipped."""
    require_admin(admin)
    changed = 0
    async with svc.db.transaction() as s:
        for entry_id in dict.fromkeys(entry_ids):
            entry = await s.get(WaitlistEntry, entry_id, with_for_update=True)
            if entry is None or entry.status != "waiting":
                continue
            entry.decided_at = utcnow()
            entry.decided_by = admin.id
            changed += 1
            if not approve:
                entry.status = "rejected"
                claim = (await s.execute(select(UsernameClaim).where(
                    UsernameClaim.waitlist_entry_id == entry.id))).scalar_one_or_none()
                if claim is not None:
                    await s.delete(claim)
                enqueue(s, emails.waitlist_rejected(entry.email, entry.name))
                continue
            entry.status = "invited"
            first_voucher = (await s.execute(
                select(WaitlistVouch.member_id).where(WaitlistVouch.entry_id == entry.id)
                .order_by(WaitlistVouch.position).limit(1))).scalar_one_or_none()
            invite, token = _new_invite(svc, inviter_id=first_voucher or admin.id,
                                        email=entry.email, entry=entry, by_admin=True)
            s.add(invite)
            await s.flush()
            await _send_invite_email(s, svc, invite, token, None, entry)
    svc.outbox_wakeup()
    return changed


async def grant_invites(svc: Services, admin: MemberInfo, username: str, count: int) -> int:
    require_admin(admin)
    if not 1 <= count <= 1000:
        raise InvalidInput("invalid_input", "grant between 1 and 1000 invitations")
    async with svc.db.transaction() as s:
        member = (await s.execute(select(Member).where(
            Member.username_key == username.strip().removeprefix("@").lower())
            .with_for_update())).scalar_one_or_none()
        if member is None:
            raise NotFound("member_not_found", f"no member {username!r}")
        member.invites_left += count
        return member.invites_left
