"""The stage and the hands: invitations to speak, moving people, mutes, removals, moderators,
raised hands. Each is one room write (actions/rooms.room_write) after domain.rooms.decide."""

from __future__ import annotations

from sqlalchemy import or_, select, update

from ruang.actions.context import Services
from ruang.actions.members import MemberInfo
from ruang.actions.rooms import RoomTx, deny, hand_over, leave_tx, room_write, seat
from ruang.domain import rooms as rules
from ruang.domain.rooms import Action, Role
from ruang.events import models as ev
from ruang.storage.models import Block, RoomMember


async def _blocked(tx: RoomTx, a: int, b: int) -> bool:
    return (await tx.session.execute(select(Block.blocker_id).where(or_(
        (Block.blocker_id == a) & (Block.blocked_id == b),
        (Block.blocker_id == b) & (Block.blocked_id == a))).limit(1))).first() is not None


async def _targeted(tx: RoomTx, action: Action, actor: MemberInfo,
                    target_id: int) -> RoomMember:
    target = await tx.seat_row(target_id)
    blocked = target is not None and target_id != actor.id and \
        await _blocked(tx, actor.id, target_id)
    denial = rules.decide(action, seat(await tx.seat_row(actor.id)), seat(target),
                          is_self=actor.id == target_id, room=tx.facts, blocked=blocked)
    if denial is not None:
        raise deny(denial)
    assert target is not None
    return target


async def _own(tx: RoomTx, action: Action, member: MemberInfo) -> RoomMember:
    row = await tx.seat_row(member.id)
    denial = rules.decide(action, seat(row), room=tx.facts)
    if denial is not None:
        raise deny(denial)
    assert row is not None
    return row


async def invite_to_speak(svc: Services, room_id: int, actor: MemberInfo,
                          target_id: int) -> None:
    async with room_write(svc, room_id) as tx:
        target = await _targeted(tx, Action.INVITE_TO_SPEAK, actor, target_id)
        if target.invite_seq is not None:
            return
        target.hand_seq = None
        target.invite_seq = tx.next_seq
        tx.emit(ev.SpeakInvited(member=await tx.view(target), by=actor.id))


async def answer_invite(svc: Services, room_id: int, member: MemberInfo,
                        accept: bool) -> None:
    async with room_write(svc, room_id) as tx:
        row = await _own(tx, Action.ACCEPT_INVITE if accept else Action.DECLINE_INVITE,
                         member)
        row.invite_seq = None
        if accept:
            row.role = Role.SPEAKER.value
            row.self_muted = row.mod_muted = False
            row.stage_seq = tx.next_seq
            tx.emit(ev.RoleChanged(member=await tx.view(row), by=None))
        else:
            tx.emit(ev.InviteDeclined(member_id=member.id))


async def move_to_audience(svc: Services, room_id: int, actor: MemberInfo,
                           target_id: int) -> None:
    """A moderator moves a speaker back to the audience, or a speaker leaves the stage."""
    async with room_write(svc, room_id) as tx:
        if actor.id == target_id:
            target = await _own(tx, Action.LEAVE_STAGE, actor)
        else:
            target = await _targeted(tx, Action.MOVE_TO_AUDIENCE, actor, target_id)
        target.role = Role.LISTENER.value
        target.self_muted = target.mod_muted = False
        target.stage_seq = target.hand_seq = target.invite_seq = None
        tx.emit(ev.RoleChanged(member=await tx.view(target),
                               by=None if actor.id == target_id else actor.id))
        await hand_over(tx)


async def make_moderator(svc: Services, room_id: int, actor: MemberInfo,
                         target_id: int) -> None:
    async with room_write(svc, room_id) as tx:
        target = await _targeted(tx, Action.MAKE_MODERATOR, actor, target_id)
        target.role = Role.MODERATOR.value
        tx.emit(ev.RoleChanged(member=await tx.view(target), by=actor.id))


async def set_mod_muted(svc: Services, room_id: int, actor: MemberInfo, target_id: int,
                        muted: bool) -> None:
    async with room_write(svc, room_id) as tx:
        target = await _targeted(tx, Action.MUTE if muted else Action.UNMUTE, actor, target_id)
        if target.mod_muted == muted:
            return
        target.mod_muted = muted
        tx.emit(ev.MuteChanged(member_id=target_id, self_muted=target.self_muted,
                               mod_muted=muted, by=actor.id))


async def set_self_muted(svc: Services, room_id: int, member: MemberInfo, muted: bool) -> None:
    async with room_write(svc, room_id) as tx:
        row = await _own(tx, Action.SELF_MUTE if muted else Action.SELF_UNMUTE, member)
        if row.self_muted == muted:
            return
        row.self_muted = muted
        tx.emit(ev.MuteChanged(member_id=member.id, self_muted=muted, mod_muted=row.mod_muted,
                               by=None))


async def remove_member(svc: Services, room_id: int, actor: MemberInfo, target_id: int) -> None:
    """Take someone out of the room for good (they cannot join it again)."""
    async with room_write(svc, room_id) as tx:
        target = await _targeted(tx, Action.REMOVE, actor, target_id)
        await leave_tx(tx, target, "removed", removed_by=actor.id)
    svc.on_social_changed(target_id)  # the room leaves their hallway


async def raise_hand(svc: Services, room_id: int, member: MemberInfo) -> None:
    async with room_write(svc, room_id) as tx:
        row = await _own(tx, Action.RAISE_HAND, member)
        if row.hand_seq is not None:
            return
        row.hand_seq = tx.next_seq
        tx.emit(ev.HandRaised(member=await tx.view(row)))


async def lower_hand(svc: Services, room_id: int, actor: MemberInfo,
                     target_id: int | None = None) -> None:
    """Lower one's own hand, or (a moderator) someone else's."""
    async with room_write(svc, room_id) as tx:
        if target_id is None or target_id == actor.id:
            row = await _own(tx, Action.LOWER_OWN_HAND, actor)
            by = None
        else:
            row = await _targeted(tx, Action.LOWER_HAND, actor, target_id)
            by = actor.id
        row.hand_seq = None
        tx.emit(ev.HandLowered(member_id=row.member_id, by=by))


async def set_hands(svc: Services, room_id: int, actor: MemberInfo, enabled: bool) -> None:
    """Turn raised hands on or off (off lowers every hand)."""
    async with room_write(svc, room_id) as tx:
        denial = rules.decide(Action.SET_HANDS, seat(await tx.seat_row(actor.id)),
                              room=tx.facts)
        if denial is not None:
            raise deny(denial)
        if tx.room.hands_enabled == enabled:
            return
        tx.room.hands_enabled = enabled
        if not enabled:
            await tx.session.execute(update(RoomMember).where(
                RoomMember.room_id == room_id, RoomMember.hand_seq.is_not(None))
                .values(hand_seq=None))
        tx.emit(ev.HandsChanged(enabled=enabled, by=actor.id))
