"""Real audio through Janus: what listeners hear as the stage changes.

Each test records what aiortc listeners receive and checks it by spectrum: the 440 Hz and
660 Hz tones must be found within 2 Hz, and "silent" means no energy at either tone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import numpy as np
import pytest

from ruang.client.api import ApiError
from ruang.client.audio import (
    RATE,
    Recorder,
    ToneSource,
    band_energy_ratio,
    dominant_frequency,
    rms,
)
from ruang.client.participant import Participant
from ruang.domain.rooms import Role
from tests.conftest import LiveServer


async def _member(live: LiveServer, name: str, tone: float | None = None) -> Participant:
    client = await live.member(name)
    return Participant(client, source=ToneSource(tone) if tone else None)


def _last(rec: Recorder | None, seconds: float) -> np.ndarray:
    assert rec is not None
    return rec.samples(seconds)


async def _wait_audio(rec: Recorder | None, timeout: float = 10.0) -> None:
    assert rec is not None
    deadline = time.monotonic() + timeout
    while rec.first_audio_at is None:
        assert time.monotonic() < deadline, "no audio arrived"
        await asyncio.sleep(0.05)


async def _settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _heard(samples: np.ndarray, freq: float) -> bool:
    return band_energy_ratio(samples, freq) > 0.2 and rms(samples) > 300


async def test_listeners_hear_speaker_then_promoted_speaker_then_mute(media_live) -> None:
    host = await _member(media_live, "host", tone=440)
    listeners = [await _member(media_live, f"listener{i}") for i in range(3)]
    guest = await _member(media_live, "guest", tone=660)
    try:
        room = await host.client.create_room("Tones")
        rid = room["id"]
        await host.join(rid)
        for p in listeners:
            await p.join(rid)
        await guest.join(rid, on_invite="accept")
        for p in listeners:
            await _wait_audio(p.recorder)
        await _settle(2.5)
        for p in listeners:
            heard = _last(p.recorder, 2.0)
            assert abs(dominant_frequency(heard) - 440) < 2, p.username
            assert not _heard(heard, 660)

        # The guest is a listener: their 660 Hz is not heard until they are on stage.
        await host.client.stage(rid, "invite", "guest")
        assert guest.session is not None
        await guest.session.wait_for(lambda s: s.me is not None and s.me.role is Role.SPEAKER)
        await _settle(3.0)
        for p in [*listeners, host]:
            heard = _last(p.recorder, 2.0)
            assert _heard(heard, 660), f"{p.username} does not hear the guest"
        for p in listeners:
            assert _heard(_last(p.recorder, 2.0), 440)

        # A moderator mute silences the guest for everyone, although the guest keeps sending.
        sent_before = await _packets_sent(guest)
        await host.client.stage(rid, "mute", "guest")
        await guest.session.wait_for(lambda s: s.me is not None and s.me.mod_muted)
        await _settle(2.5)
        for p in [*listeners, host]:
            heard = _last(p.recorder, 1.5)
            assert not _heard(heard, 660), f"{p.username} still hears the muted guest"
        for p in listeners:
            assert _heard(_last(p.recorder, 1.5), 440)
        assert await _packets_sent(guest) > sent_before + 50, "the muted client stopped sending"
        # ... and the guest's own unmute is refused by the server.
        with pytest.raises(ApiError) as refused:
            await guest.session.set_muted(False)
        assert refused.value.code == "muted_by_moderator"
        parts = await media_live.runtime.engine.participants(rid)
        assert [p["muted"] for p in parts if p["display"] == str(guest.session.me.id)] == [True]

        # Moved back to the audience: not heard either, and listening again.
        await host.client.stage(rid, "unmute", "guest")
        await _settle(1.5)
        assert _heard(_last(listeners[0].recorder, 1.0), 660)
        await host.client.stage(rid, "move-to-audience", "guest")
        await guest.session.wait_for(lambda s: s.me is not None and s.me.role is Role.LISTENER)
        await _settle(2.5)
        for p in listeners:
            assert not _heard(_last(p.recorder, 1.5), 660)
        assert _heard(_last(guest.recorder, 1.5), 440), "the demoted guest hears the room"
    finally:
        for p in [host, *listeners, guest]:
            await p.close()


async def _packets_sent(p: Participant) -> int:
    pc = p.media._pc
    assert pc is not None
    stats = await pc.getStats()
    return sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp")


async def test_janus_killed_mid_room_audio_comes_back_by_itself(media_live) -> None:
    host = await _member(media_live, "host", tone=440)
    listener = await _member(media_live, "listener")
    try:
        room = await host.client.create_room("Resilience")
        await host.join(room["id"])
        await listener.join(room["id"])
        await _wait_audio(listener.recorder)
        supervisor = media_live.runtime.supervisor
        assert supervisor is not None
        assert supervisor.pid is not None
        old_pid = supervisor.pid
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert listener.recorder is not None
        # Wait for a stretch of silence (the outage), then for the tone to return.
        while True:
            await asyncio.sleep(0.2)
            if rms(_last(listener.recorder, 0.2)) < 100 or listener.media.stats.offers > 1:
                break
            assert time.monotonic() - killed_at < 5
        deadline = killed_at + 15
        while True:
            await asyncio.sleep(0.25)
            if listener.media.stats.offers > 1 and _heard(_last(listener.recorder, 1.0), 440):
                break
            assert time.monotonic() < deadline, "audio did not come back"
        assert supervisor.pid != old_pid
        assert supervisor.restarts == 1
        await _settle(1.5)  # a whole second of the restored tone to measure
        assert abs(dominant_frequency(_last(listener.recorder, 1.0)) - 440) < 2
    finally:
        await host.close()
        await listener.close()


async def test_member_leaves_and_rejoins_hears_again(media_live) -> None:
    host = await _member(media_live, "host", tone=440)
    listener = await _member(media_live, "listener")
    try:
        room = await host.client.create_room("Drop-in")
        await host.join(room["id"])
        session = await listener.join(room["id"])
        await _wait_audio(listener.recorder)
        await session.leave()
        await asyncio.sleep(0.5)
        listener.recorder.clear()
        listener.recorder.first_audio_at = None
        await listener.join(room["id"])
        await _wait_audio(listener.recorder)
        await _settle(1.5)
        assert abs(dominant_frequency(_last(listener.recorder, 1.0)) - 440) < 2
        assert len(listener.recorder.samples()) > RATE  # a second or more since rejoining
    finally:
        await host.close()
        await listener.close()


async def test_listener_cannot_publish_even_with_a_sending_answer(media_live) -> None:
    """A listener's client answers the audience offer as if it could send: nobody hears it."""
    host = await _member(media_live, "host", tone=440)
    sneaky = await _member(media_live, "sneaky", tone=660)
    listener = await _member(media_live, "listener")
    try:
        room = await host.client.create_room("No uninvited speakers")
        await host.join(room["id"])
        await listener.join(room["id"])
        # A modified client that answers the audience offer with sendrecv and really sends
        # (aiortc would refuse to send on a sendonly offer, so its private offer direction is
        # overridden: this is what a hostile client could do).
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from ruang.client.media import SourceTrack

        async def sending_answer(offer_sdp: str, mode: str) -> str:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            sneaky.media._pc = pc
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            for t in pc.getTransceivers():
                t._offerDirection = "sendrecv"
                t.direction = "sendrecv"
                t.sender.replaceTrack(SourceTrack(ToneSource(660)))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            return str(pc.localDescription.sdp)

        sneaky.media.answer = sending_answer  # type: ignore[method-assign]
        await sneaky.join(room["id"], on_invite="ignore")
        await _wait_audio(listener.recorder)
        await _settle(3.0)
        assert await _packets_sent(sneaky) > 50, "the sneaky client did not even send"
        for p in (listener, host):
            assert not _heard(_last(p.recorder, 2.0), 660), f"{p.username} hears a listener"
        assert _heard(_last(listener.recorder, 2.0), 440)
    finally:
        for p in (host, sneaky, listener):
            await p.close()


async def test_external_janus_by_url_and_secrets(tmp_path) -> None:
    """RUANG_JANUS_URL and its secrets instead of Ruang's own child process."""
    from ruang.media.janus.supervisor import JanusSupervisor, SupervisorConfig
    from tests.conftest import make_settings, run_server

    janus = JanusSupervisor(SupervisorConfig(folder=tmp_path / "external-janus"))
    await janus.start()
    try:
        sec = janus.secrets
        settings = make_settings(
            tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", media=True,
            janus_url=janus.url, janus_api_secret=sec.api_secret,
            janus_audiobridge_admin_key=sec.audiobridge_admin_key,
            janus_streaming_admin_key=sec.streaming_admin_key)
        async with run_server(settings) as live:
            assert live.runtime.supervisor is None
            host = await _member(live, "host", tone=440)
            listener = await _member(live, "listener")
            try:
                room = await host.client.create_room("External")
                await host.join(room["id"])
                await listener.join(room["id"])
                await _wait_audio(listener.recorder)
                await _settle(1.5)
                assert abs(dominant_frequency(_last(listener.recorder, 1.0)) - 440) < 2
            finally:
                await host.close()
                await listener.close()
    finally:
        await janus.stop()


async def test_dead_peer_connection_is_renegotiated_and_ended_room_media_is_freed(
        media_live) -> None:
    host = await _member(media_live, "host", tone=440)
    listener = await _member(media_live, "listener")
    engine = media_live.runtime.engine
    try:
        room = await host.client.create_room("Flaky network")
        await host.join(room["id"])
        await listener.join(room["id"])
        await _wait_audio(listener.recorder)
        # The client's PeerConnection dies (as on a network change): Janus reports the hangup,
        # the server says "failed", the SDK asks for a new offer, and audio comes back.
        pc = listener.media._pc
        assert pc is not None
        await pc.close()
        deadline = time.monotonic() + 10
        while not (listener.media.stats.offers >= 2
                   and _heard(_last(listener.recorder, 1.0), 440)):
            assert time.monotonic() < deadline, "audio did not come back"
            await asyncio.sleep(0.2)
        assert "failed" in listener.session.media_states

        assert engine.health()["rooms"] == 1
        await host.client.end_room(room["id"])
        deadline = time.monotonic() + 5
        while engine.health()["rooms"] != 0:
            assert time.monotonic() < deadline, "the ended room's media was not freed"
            await asyncio.sleep(0.1)
        assert await engine.participants(room["id"]) == []
    finally:
        await host.close()
        await listener.close()


async def test_active_speaker_follows_who_really_talks(media_live) -> None:
    """A tone on: the room says the speaker is talking within 300 ms; off: that they stopped."""
    gate = {"on": False, "was_on": False}
    onsets: list[float] = []

    def mark(position: int, at: float) -> None:
        # The first frame of each burst leaves the source at `at`.
        if gate["on"] and not gate["was_on"]:
            onsets.append(at)
        gate["was_on"] = gate["on"]

    tone = ToneSource(440, gate=lambda position: gate["on"])
    tone.on_frame = mark
    host = Participant(await media_live.member("host"), source=tone)
    listener = await _member(media_live, "listener")
    try:
        room = await host.client.create_room("Who is talking")
        await host.join(room["id"])
        session = await listener.join(room["id"])
        await asyncio.sleep(2.0)  # everyone connected; the host is silent
        assert session.speaking == frozenset()
        host_id = host.session.me.id
        seen: list[float] = []

        def on_event(_s: object, kind: str, data: dict) -> None:
            if kind == "speaking" and host_id in data["speaking"]:
                seen.append(time.monotonic())

        listener.realtime.on_event = on_event
        delays = []
        for _ in range(3):
            gate["on"] = True
            await session.wait_for(lambda s: host_id in s.speaking, timeout=3)
            delays.append(seen[-1] - onsets[-1])
            await asyncio.sleep(0.5)
            gate["on"] = False
            await session.wait_for(lambda s: host_id not in s.speaking, timeout=3)
            await asyncio.sleep(0.5)
        assert len(onsets) == 3
        assert max(delays) < 0.3, f"speaking rings came {delays} s after the tone started"
    finally:
        await host.close()
        await listener.close()


async def test_a_removed_member_hears_nothing_more_and_cannot_rejoin(media_live) -> None:
    host = await _member(media_live, "host", tone=440)
    guest = await _member(media_live, "guest", tone=660)
    listener = await _member(media_live, "listener")
    try:
        room = await host.client.create_room("House rules")
        await host.join(room["id"])
        await listener.join(room["id"])
        session = await guest.join(room["id"], on_invite="accept")
        await host.client.stage(room["id"], "invite", "guest")
        await session.wait_for(lambda s: s.me is not None and s.me.role is Role.SPEAKER)
        await _settle(2.5)
        assert _heard(_last(listener.recorder, 1.5), 660)

        await host.client.stage(room["id"], "remove", "guest")
        await session.wait_for(lambda s: s.left == "removed")
        await _settle(2.0)
        assert not _heard(_last(listener.recorder, 1.5), 660), "the removed speaker is heard"
        assert guest.media._pc is None, "the removed member's media was not closed"
        with pytest.raises(ApiError) as refused:
            await guest.join(room["id"])
        assert refused.value.code == "removed_from_room"
    finally:
        for p in (host, guest, listener):
            await p.close()
