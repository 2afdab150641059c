"""A raw WebSocket client for protocol tests: it records every frame the server sends.

Unlike the SDK (ruang.client.realtime), it interprets nothing: tests see the exact frames,
in order, and wait on conditions over them (never on sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from argon2 import PasswordHasher
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ruang.events.models import RoomEventEnvelope, RoomSnapshot, apply

SUBPROTOCOL = Subprotocol("ruang.v1")
Frame = dict[str, Any]

_refs = itertools.count(1)


async def ws_url(http_url: str) -> str:
    """The WebSocket URL the server announces (its realtime listener has its own port)."""
    import httpx

    async with httpx.AsyncClient(base_url=http_url) as http:
        return str((await http.get("/api/v1/realtime")).json()["url"])


def envelope_of(frame: Frame) -> RoomEventEnvelope:
    """A room.event frame as the envelope it carries (validated against the schema)."""
    assert frame["type"] == "room.event", frame
    return RoomEventEnvelope.model_validate({k: v for k, v in frame.items() if k != "type"})


def replay(snapshot: RoomSnapshot, frames: list[Frame]) -> RoomSnapshot:
    for frame in frames:
        snapshot = apply(snapshot, envelope_of(frame))
    return snapshot


class RawWS:
    """One WebSocket connection; ``frames`` holds everything received, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.raw: list[str | bytes] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, http_url: str, *, token: str | None = None,
                   headers: dict[str, str] | None = None, hello: bool = True) -> RawWS:
        ws = await connect(await ws_url(http_url), subprotocols=[SUBPROTOCOL],
                           additional_headers=headers, max_size=2**22, open_timeout=10,
                           compression=None, proxy=None)
        assert ws.subprotocol == SUBPROTOCOL
        conn = cls(ws)
        if hello:
            welcome = await conn.request({"type": "hello", "protocol": 1, "token": token})
            assert welcome["type"] == "welcome", welcome
        return conn

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.raw.append(raw)
                frame = orjson.loads(raw)
                assert isinstance(frame, dict), raw
                self.frames.append(frame)
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    # --- sending ----------------------------------------------------------------------------

    async def send(self, msg: Frame | str | bytes) -> None:
        await self.ws.send(orjson.dumps(msg).decode() if isinstance(msg, dict) else msg)

    async def request(self, msg: Frame, timeout: float = 10.0) -> Frame:
        """Send with a fresh ``ref`` and return the frame that answers it (ack, error...)."""
        ref = f"t{next(_refs)}"
        start = len(self.frames)
        await self.send({**msg, "ref": ref})
        return await self.wait_frame(lambda f: f.get("ref") == ref, start=start,
                                     timeout=timeout)

    async def join(self, room_id: int, **extra: Any) -> Frame:
        """Join without media; the answer is a room.snapshot (or an ack after a replay)."""
        answer = await self.request({"type": "room.join", "room_id": room_id, "media": False,
                                     **extra})
        assert answer["type"] in ("room.snapshot", "ack"), answer
        return answer

    # --- waiting ----------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_frame(self, predicate: Callable[[Frame], bool], *, start: int = 0,
                         timeout: float = 10.0) -> Frame:
        """The first frame from index ``start`` on that matches."""
        found: list[Frame] = []

        def check() -> bool:
            for frame in self.frames[start:]:
                if predicate(frame):
                    found.append(frame)
                    return True
            return self.closed.is_set()

        await self.wait_until(check, timeout)
        if not found:
            raise AssertionError(f"the server closed the connection (code "
                                 f"{self.ws.close_code}, {self.ws.close_reason!r}) without "
                                 f"the frame awaited; frames since: {self.frames[start:]}")
        return found[0]

    def events(self, room_id: int, after: int = 0) -> list[Frame]:
        return [f for f in self.frames if f.get("type") == "room.event"
                and f.get("room_id") == room_id and f["seq"] > after]

    def last_seq(self, room_id: int) -> int:
        seqs = [f["seq"] for f in self.events(room_id)]
        for f in self.frames:
            if f.get("type") == "room.snapshot" and f["snapshot"]["room"]["id"] == room_id:
                seqs.append(f["snapshot"]["seq"])
        return max(seqs, default=0)

    async def wait_seq(self, room_id: int, seq: int, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: self.last_seq(room_id) >= seq, timeout)

    async def ping(self, timeout: float = 10.0) -> Frame:
        pong = await self.request({"type": "ping"}, timeout=timeout)
        assert pong["type"] == "pong", pong
        return pong


# Argon2 with the production cost takes ~0.25 s per hash or check on a small machine, and every
# test creates and logs in several members: tests use a cheap hasher (the cost is not what they
# test; login checks and rehashing work the same).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def use_fast_hashing(live: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live.runtime.svc, "hasher", FAST_HASHER)
