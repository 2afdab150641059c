"""What every action needs: settings, storage, the bus, the rate limiter, file stores.
Built once in app.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from argon2 import PasswordHasher

from ruang.avatars import AvatarStore
from ruang.config import Settings
from ruang.events.bus import EventBus, member_channel, room_channel
from ruang.events.hub import encode_event
from ruang.events.models import RoomEventEnvelope
from ruang.ratelimit import MemoryRateLimiter, RateLimiter
from ruang.storage.db import Database


def make_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(time_cost=settings.password_time_cost,
                          memory_cost=settings.password_memory_kib)


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    hasher: PasswordHasher
    limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    # Used when the shared limiter (Redis) cannot be reached.
    local_limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    avatars: AvatarStore | None = None
    # Wakes the outbox worker after a commit that queued email.
    outbox_wakeup: Callable[[], None] = lambda: None
    # A listener came or went: the audience count is announced shortly (coalesced).
    audience_dirty: Callable[[int], None] = lambda room_id: None
    # Hooks the runtime sets: a room went live (notifications), a room's hallway card changed.
    on_room_started: Callable[[int, int], Awaitable[None]] | None = None
    on_hallway_changed: Callable[[int], Awaitable[None]] | None = None
    # A member followed, unfollowed, blocked or unblocked someone (their hallway changes).
    on_social_changed: Callable[[int], None] = lambda member_id: None

    def __post_init__(self) -> None:
        if self.avatars is None:
            self.avatars = AvatarStore(self.settings.data_dir / "avatars")

    async def publish(self, envelopes: list[RoomEventEnvelope]) -> None:
        """Publish committed room events (never call this before the commit)."""
        for envelope in envelopes:
            await self.bus.publish(room_channel(envelope.room_id),
                                   encode_event(envelope).encode())

    async def room_started(self, room_id: int, actor_id: int) -> None:
        if self.on_room_started is not None:
            await self.on_room_started(room_id, actor_id)

    async def hallway_changed(self, room_id: int) -> None:
        if self.on_hallway_changed is not None:
            await self.on_hallway_changed(room_id)

    async def publish_revoked(self, member_id: int, session_ids: list[int] | None) -> None:
        """Tell every server to close the member's connections that use these sessions
        (None: all of them), e.g. after a logout, a password reset or a ban."""
        if session_ids is not None and not session_ids:
            return
        await self.bus.publish(member_channel(member_id), orjson.dumps(
            {"type": "revoked", "session_ids": session_ids}))
