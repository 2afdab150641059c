"""When the media server is unreachable, rooms keep working and clients are told why."""

from __future__ import annotations

import asyncio

import httpx

from ruang.client.media import PeerMedia
from tests.conftest import free_port, make_settings, run_server


async def test_janus_down_rooms_work_and_media_waits(tmp_path) -> None:
    dead = free_port()  # nothing listens there
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
                             media=True, janus_url=f"ws://127.0.0.1:{dead}",
                             janus_api_secret="x")
    async with run_server(settings) as live:
        async with httpx.AsyncClient(base_url=live.url) as http:
            health = (await http.get("/healthz")).json()
        assert health["status"] == "degraded"
        assert health["media"]["status"] == "down"
        assert health["storage"]["status"] == "up"

        alice = await live.member("alice")
        room = await alice.create_room("No audio today")
        from ruang.client.realtime import Realtime

        rt = Realtime(alice)
        await rt.connect()
        try:
            session = await rt.join(room["id"], media=PeerMedia())
            for _ in range(100):
                if "waiting" in session.media_states:
                    break
                await asyncio.sleep(0.05)
            assert "waiting" in session.media_states
            assert session.me is not None
            assert session.me.role.value == "moderator"
        finally:
            await rt.close()
            await alice.close()


async def test_media_disabled_says_so(tmp_path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", media=False)
    async with run_server(settings) as live, httpx.AsyncClient(base_url=live.url) as http:
        health = (await http.get("/healthz")).json()
        assert health["status"] == "ok"
        assert health["media"] == {"status": "disabled"}
        assert (await http.get("/healthz")).headers["x-request-id"]
