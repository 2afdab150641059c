"""Tables. The schema is created and changed only by Alembic migrations (storage/migrations).

Ids are 64-bit integers (INTEGER on SQLite, BIGINT on PostgreSQL). Times are stored in UTC and
always come back timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None,
                           dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None,
                             dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32))
    # Lower-cased username: the unique, case-insensitive key.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    # Lower-cased email: unique, never shown to other members.
    email_key: Mapped[str | None] = mapped_column(String(254), unique=True, default=None)
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    headline: Mapped[str] = mapped_column(String(120), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    interests: Mapped[list[str]] = mapped_column(JSON, default=list)
    avatar_id: Mapped[str | None] = mapped_column(String(64), default=None)
    nominated_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None)
    invites_left: Mapped[int] = mapped_column(Integer, default=0)
    # active, suspended (until suspended_until) or banned
    status: Mapped[str] = mapped_column(String(16), default="active")
    suspended_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Kept by the follow actions so profiles never count rows.
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)


class UsernameClaim(Base):
    """One row per username in use or reserved (by a member or a waitlist entry), so that the
    two can never take the same name."""

    __tablename__ = "username_claims"

    username_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True, default=None)
    waitlist_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="CASCADE"), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# Prefix searches use range scans (term >= 'abc' AND term < 'abd'): on PostgreSQL the column
# must compare bytewise (COLLATE "C") for those ranges to be the prefix.
SearchText = String(64).with_variant(String(64, collation="C"), "postgresql")


class SearchTerm(Base):
    """The words of a member's username, display name and headline, normalized, for people
    search by prefix."""

    __tablename__ = "search_terms"
    # A member's terms, and "does this member have a word starting with ...": one probe.
    __table_args__ = (Index("ix_search_terms_member_term", "member_id", "term"),)

    term: Mapped[str] = mapped_column(SearchText, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           primary_key=True)


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        Index("ix_follows_followee", "followee_id", "created_at", "follower_id"),
        Index("ix_follows_follower", "follower_id", "created_at", "followee_id"),
    )

    follower_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                             primary_key=True)
    followee_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                             primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Block(Base):
    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_blocked", "blocked_id", "blocker_id"),)

    blocker_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                            primary_key=True)
    blocked_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                            primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (Index("ix_waitlist_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    # waiting, invited, joined or rejected
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    status_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None)


class WaitlistVouch(Base):
    """A member a waitlist entry named as knowing them."""

    __tablename__ = "waitlist_vouches"

    entry_id: Mapped[int] = mapped_column(ForeignKey("waitlist_entries.id", ondelete="CASCADE"),
                                          primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           primary_key=True, index=True)
    # The order the person named them in (the first one is recorded as their nominator).
    position: Mapped[int] = mapped_column(Integer, default=0)


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inviter_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True, default=None)
    email: Mapped[str] = mapped_column(String(254))
    waitlist_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="SET NULL"), default=None)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Approved by an administrator rather than sent with one of a member's invites.
    by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    redeemed_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class EmailToken(Base):
    """Single-use links sent by email: password resets and address verification."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True, default=None)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                                default=None)
    reason: Mapped[str] = mapped_column(Text)
    # open or resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    # warned, suspended, banned or dismissed
    resolution: Mapped[str | None] = mapped_column(String(16), default=None)
    resolved_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Sanction(Base):
    """What administrators did to a member (warn, suspend, ban, lift), for the record."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    until: Mapped[dt.datetime | None] = mapped_column(default=None)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxEmail(Base):
    """Email waiting to be sent: written in the transaction that decides to send it, sent by
    a background worker with retries, so a crash never loses one."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, default=None)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    failed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class AuthSession(Base):
    __tablename__ = "auth_sessions"
    # Servers poll for sessions revoked since their last look (ended elsewhere, e.g. the CLI).
    __table_args__ = (Index("ix_auth_sessions_revoked_at", "revoked_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           index=True)
    # SHA-256 of the bearer token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    # "session" (a login) or "api_key" (named, for bots)
    kind: Mapped[str] = mapped_column(String(16), default="session")
    name: Mapped[str | None] = mapped_column(String(64), default=None)


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (Index("ix_rooms_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    host_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # scheduled, live or ended
    state: Mapped[str] = mapped_column(String(16), default="live")
    # The number of the room's latest event; bumped in the transaction that writes the event.
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # open, social or closed
    kind: Mapped[str] = mapped_column(String(16), default="open")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # open, speakers or off
    chat_mode: Mapped[str] = mapped_column(String(16), default="open")
    hands_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Listeners present, as last announced (audience_changed).
    audience_count: Mapped[int] = mapped_column(Integer, default=0)
    # Since when nobody moderates (the room ends after a grace period unless one returns).
    orphaned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # How many times a member entered the room: numbers each entry (room_members.join_seq).
    joins: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RoomMember(Base):
    """A member's place in a room: present while left_at is null."""

    __tablename__ = "room_members"
    __table_args__ = (Index("ix_room_members_member", "member_id", "left_at"),
                      Index("ix_room_members_room_join", "room_id", "join_seq", unique=True))

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                         primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    self_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    mod_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The room's entry count when the member (last) came in: the audience's order.
    join_seq: Mapped[int] = mapped_column(BigInteger)
    # Room sequence numbers of the events that put the member in a snapshot list; they order
    # the lists the same way in a fresh snapshot as in a replay of events.
    stage_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    hand_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    invite_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    removed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    disconnected_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class RoomHost(Base):
    """The host and co-hosts: moderators whenever they are in the room."""

    __tablename__ = "room_hosts"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                         primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           primary_key=True, index=True)


class RoomInvitee(Base):
    """Who may enter a closed room (besides its hosts)."""

    __tablename__ = "room_invitees"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                         primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           primary_key=True, index=True)


class RoomRsvp(Base):
    """'Notify me' on a scheduled room."""

    __tablename__ = "room_rsvps"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                         primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"),
                                           primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChatMessageRow(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_room_seq", "room_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    deleted_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_member_created", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    # room_started
    kind: Mapped[str] = mapped_column(String(32))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                                default=None)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class RoomEventRow(Base):
    __tablename__ = "room_events"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"),
                                         primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
