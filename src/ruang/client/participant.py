"""A member in a room in one object: REST client + WebSocket + WebRTC + recorder.

    async with await Participant.login(server, "alice", "secret", source=ToneSource(440)) as p:
        room = await p.join(room_id, on_invite="accept")
        ...  # p.recorder holds what alice hears

This is what ``ruang join`` and the benchmarks use; bots can too.
"""

from __future__ import annotations

from typing import Any, Literal

from ruang.client.api import RuangClient
from ruang.client.audio import AudioSource, Recorder
from ruang.client.media import PeerMedia
from ruang.client.realtime import EventCallback, Realtime, RoomSession


class Participant:
    def __init__(self, client: RuangClient, *, source: AudioSource | None = None,
                 record: bool = True, light: bool = False, jitter_frames: int = 1,
                 on_event: EventCallback | None = None) -> None:
        self.client = client
        self.source = source
        self.recorder = Recorder() if record and not light else None
        self.media = PeerMedia(source=source, recorder=self.recorder, light=light,
                               jitter_frames=jitter_frames)
        self.realtime = Realtime(client, on_event=on_event)
        self.session: RoomSession | None = None

    @classmethod
    async def login(cls, server: str, username: str, password: str,
                    **kwargs: Any) -> Participant:
        client = await RuangClient.login(server, username, password)
        return cls(client, **kwargs)

    async def __aenter__(self) -> Participant:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def username(self) -> str:
        return str((self.client.member or {}).get("username", ""))

    async def join(self, room_id: int, *,
                   on_invite: Literal["accept", "decline", "ignore"] = "accept",
                   media: bool = True) -> RoomSession:
        if self.realtime.member is None:
            await self.realtime.connect()
        self.session = await self.realtime.join(room_id, media=self.media if media else None,
                                                on_invite=on_invite)
        return self.session

    async def close(self) -> None:
        await self.realtime.close()
        await self.media.close()
        await self.client.close()
