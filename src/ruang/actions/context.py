"""What every action needs: settings, storage, the bus. Built once in app.py."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher

from ruang.config import Settings
from ruang.events.bus import EventBus, room_channel
from ruang.events.hub import encode_event
from ruang.events.models import RoomEventEnvelope
from ruang.storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    hasher: PasswordHasher

    async def publish(self, envelopes: list[RoomEventEnvelope]) -> None:
        """Publish committed room events (never call this before the commit)."""
        for envelope in envelopes:
            await self.bus.publish(room_channel(envelope.room_id),
                                   encode_event(envelope).encode())
