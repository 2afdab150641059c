"""Helpers for the room-life tests: a crowd of members (each a logged-in SDK client with its
own Realtime), raw REST calls, expected errors, and deterministic waits.

Every wait is on a condition with a timeout: a RoomSession's own condition (it is notified on
every event), or a short poll of the server for REST-only state.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ruang.client.api import ApiError, RuangClient
from ruang.client.realtime import Realtime, RoomSession
from ruang.domain.rooms import Role
from ruang.events.models import RoomSnapshot
from tests.integration.rawws import RawWS

Event = tuple[int, str, dict[str, Any]]  # (room id, event type, event body)


@dataclass(eq=False)
class Person:
    name: str
    client: RuangClient
    id: int
    rt: Realtime | None = None
    # Every room event this member's Realtime applied, in order (from on_event).
    events: list[Event] = field(default_factory=list)
    sessions: dict[int, RoomSession] = field(default_factory=dict)

    def s(self, room_id: int) -> RoomSession:
        return self.sessions[room_id]

    def seen(self, room_id: int, kind: str) -> list[dict[str, Any]]:
        return [data for rid, k, data in self.events if rid == room_id and k == kind]

    async def join(self, room_id: int) -> RoomSession:
        assert self.rt is not None, f"{self.name} has no Realtime"
        session = await self.rt.join(room_id)
        self.sessions[room_id] = session
        await session.wait_for(lambda s: s.snapshot is not None)
        return session

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call as this member (the JSON answer, or None); errors raise ApiError."""
        return await self.client._request(method, path, **kwargs)


class Crowd:
    """Members of one server; everything opened here is closed by :meth:`close`."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.people: dict[str, Person] = {}
        self._raws: list[RawWS] = []

    async def __aenter__(self) -> Crowd:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for raw in self._raws:
            await raw.close()
        for person in self.people.values():
            if person.rt is not None:
                await person.rt.close()
            await person.client.close()

    async def member(self, name: str, *, realtime: bool = True, server: Any = None,
                     reconnect: bool = True, **kwargs: Any) -> Person:
        """A new member logged in (to ``server``, default this crowd's), with a Realtime."""
        client = await (server or self.server).member(name, **kwargs)
        assert client.member is not None
        person = Person(name, client, int(client.member["id"]))
        self.people[name] = person
        if realtime:
            await self.connect(person, reconnect=reconnect)
        return person

    async def members(self, *names: str, **kwargs: Any) -> list[Person]:
        return [await self.member(n, **kwargs) for n in names]

    async def connect(self, person: Person, *, reconnect: bool = True) -> Realtime:
        def record(session: RoomSession, kind: str, data: dict[str, Any]) -> None:
            if kind not in ("snapshot", "media", "media_offer", "left", "speaking"):
                person.events.append((session.room_id, kind, data))

        rt = Realtime(person.client, on_event=record, reconnect=reconnect)
        await rt.connect()
        person.rt = rt
        return rt

    async def raw(self, person: Person, server: Any = None) -> RawWS:
        """A raw WebSocket of this member (frames recorded exactly as sent)."""
        conn = await RawWS.open((server or self.server).url, token=person.client.token)
        self._raws.append(conn)
        return conn

    def __getitem__(self, name: str) -> Person:
        return self.people[name]


def hold_reconnect(rt: Realtime) -> asyncio.Event:
    """Keep this Realtime from reconnecting until the returned event is set (the network is
    back): what happens meanwhile is surely missed and must be caught up."""
    gate = asyncio.Event()
    reopen = rt._open

    async def gated() -> None:
        await gate.wait()
        await reopen()

    rt._open = gated  # type: ignore[method-assign]
    return gate


# --- rooms ----------------------------------------------------------------------------------


async def fresh(person: Person, room_id: int) -> RoomSnapshot:
    """The room as the server gives it now (GET /rooms/{id})."""
    return RoomSnapshot.model_validate((await person.client.get_room(room_id))["snapshot"])


async def settle(room_id: int, reader: Person, *sessions: RoomSession,
                 timeout: float = 10.0) -> RoomSnapshot:
    """Wait until every session has applied everything up to the server's current seq;
    returns the server's snapshot (read after the sessions caught up)."""
    snap = await fresh(reader, room_id)
    for session in sessions:
        await session.wait_for(lambda s, seq=snap.seq: s.snapshot is not None
                               and s.snapshot.seq >= seq, timeout)
    again = await fresh(reader, room_id)
    if again.seq != snap.seq:  # something happened meanwhile: once more
        return await settle(room_id, reader, *sessions, timeout=timeout)
    return snap


async def on_stage(moderator: Person, speaker: Person, room_id: int) -> None:
    """Invite a present listener and have them accept; waits until they are a speaker."""
    await moderator.client.stage(room_id, "invite", speaker.name)
    session = speaker.s(room_id)
    await session.wait_for(lambda s: s.invited)
    await session.answer_invite(True)
    await session.wait_for(lambda s: s.me is not None and s.me.role is Role.SPEAKER)


def role_in(session: RoomSession, member_id: int) -> Role | None:
    assert session.snapshot is not None
    m = session.snapshot.on_stage(member_id)
    return m.role if m is not None else None


def ids(members: Any) -> list[int]:
    return [m.id for m in members]


# --- errors and waiting ---------------------------------------------------------------------


async def refused(action: Awaitable[Any], code: str, status: int | None = None) -> ApiError:
    """The action fails with this error code (REST: and this HTTP status)."""
    with pytest.raises(ApiError) as err:
        await action
    assert err.value.code == code, f"expected {code}, got {err.value.code}: {err.value}"
    if status is not None:
        assert err.value.status == status, err.value
    return err.value


async def eventually(check: Callable[[], Any], timeout: float = 10.0,
                     interval: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; returns that."""
    last: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = check()
                if inspect.isawaitable(last):
                    last = await last
                if last:
                    return last
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout} s (last: {last!r})") from None


async def hallway_until(rt: Realtime, predicate: Callable[[dict[str, Any]], bool],
                        timeout: float = 5.0) -> dict[str, Any]:
    """Wait for a hallway frame (the current one or a next one) that satisfies predicate."""
    async with asyncio.timeout(timeout):
        while rt.hallway is None or not predicate(rt.hallway):
            await rt.next_hallway(timeout)
    assert rt.hallway is not None
    return rt.hallway


def card_ids(cards: list[dict[str, Any]]) -> list[int]:
    return [int(c["id"]) for c in cards]
