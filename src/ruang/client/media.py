"""The SDK's WebRTC side (aiortc): answer the server's offers, speak a source, record audio.

Ruang's server always makes the offer (it comes from Janus, relayed without any Janus ids);
the client answers. Each new offer replaces the previous PeerConnection: that is how promotion
to the stage, demotion, and recovery after a media server restart all look from here.

Two aiortc details are set here on purpose:

- ICE servers are always explicit (aiortc would otherwise use a public Google STUN server);
- the audio receive jitter buffer is made shallower (aiortc's default holds 4 frames, 80 ms,
  before decoding); ``jitter_frames`` sets it. ``light=True`` skips decoding altogether and
  only counts packets, for load generators.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError

from ruang.client.audio import FRAME, RATE, TIME_BASE, AudioSource, Recorder, frame_to_mono

log = logging.getLogger(__name__)


class SourceTrack(MediaStreamTrack):
    """An aiortc audio track reading a shared :class:`AudioSource` paced to real time."""

    kind = "audio"

    def __init__(self, source: AudioSource) -> None:
        super().__init__()
        self.source = source
        self._start: float | None = None
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent * FRAME / RATE
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.2:
            # We fell behind (a stalled loop); skip ahead rather than burst old audio.
            self._start = now - self._sent * FRAME / RATE
        pts = self.source.position
        samples = self.source.next_frame()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = pts
        frame.time_base = TIME_BASE
        self._sent += 1
        return frame


@dataclass
class LinkStats:
    packets: int = 0
    bytes: int = 0
    first_packet_at: float | None = None
    offers: int = 0
    connected_at: float | None = None


@dataclass
class PeerMedia:
    """One member's media across negotiations in one room."""

    source: AudioSource | None = None
    recorder: Recorder | None = None
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    jitter_frames: int = 1
    light: bool = False
    on_state: Callable[[str], None] | None = None
    stats: LinkStats = field(default_factory=LinkStats)
    mode: str | None = None
    _pc: RTCPeerConnection | None = None
    _reader: asyncio.Task[None] | None = None
    # answer() and close() never interleave: closing a PeerConnection in the middle of its
    # set-up (ICE gathering) would leak its sockets.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _configuration(self) -> RTCConfiguration:
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"),
                                credential=s.get("credential")) for s in self.ice_servers]
        return RTCConfiguration(iceServers=servers)

    async def answer(self, offer_sdp: str, mode: str) -> str:
        """Replace the current PeerConnection with one answering this offer."""
        async with self._lock:
            await self._close()
            return await self._answer(offer_sdp, mode)

    async def _answer(self, offer_sdp: str, mode: str) -> str:
        self.stats.offers += 1
        self.mode = mode
        pc = RTCPeerConnection(self._configuration())
        self._pc = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._start_reader(pc, track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and self.stats.connected_at is None:
                self.stats.connected_at = time.monotonic()
            if self.on_state is not None and pc is self._pc:
                self.on_state(pc.connectionState)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind != "audio":
                continue
            self._tune_receiver(transceiver.receiver)
            if mode == "speak" and self.source is not None:
                transceiver.sender.replaceTrack(SourceTrack(self.source))
                transceiver.direction = "sendrecv"
            else:
                transceiver.direction = "recvonly"
        answer = await pc.createAnswer()
        # Be the DTLS server: Janus then starts the handshake once its side of ICE is up. As
        # the client, aiortc's first ClientHello can arrive before Janus is ready for it and
        # is only retransmitted after OpenSSL's 1 s timer (seen as the odd 1 s slow join).
        sdp = answer.sdp.replace("a=setup:active", "a=setup:passive")
        await pc.setLocalDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        return str(pc.localDescription.sdp)

    def _tune_receiver(self, receiver: Any) -> None:
        if self.light:
            stats = self.stats

            async def count(packet: Any, arrival_time_ms: int) -> None:
                stats.packets += 1
                stats.bytes += len(packet.payload)
                if stats.first_packet_at is None:
                    stats.first_packet_at = time.monotonic()

            receiver._handle_rtp_packet = count
        else:
            attr = "_RTCRtpReceiver__jitter_buffer"
            if hasattr(receiver, attr):
                setattr(receiver, attr, JitterBuffer(capacity=16,
                                                     prefetch=max(0, self.jitter_frames)))

    def _start_reader(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        if self.light:
            return

        async def read() -> None:
            with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
                while True:
                    frame = await track.recv()
                    now = time.monotonic()
                    if self.stats.first_packet_at is None:
                        self.stats.first_packet_at = now
                    self.stats.packets += 1
                    if self.recorder is not None and pc is self._pc:
                        self.recorder.add(frame_to_mono(frame), now)

        self._reader = asyncio.create_task(read(), name="ruang-audio-reader")

    @property
    def connection_state(self) -> str:
        return str(self._pc.connectionState) if self._pc is not None else "new"

    async def close(self) -> None:
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        pc, self._pc = self._pc, None
        reader, self._reader = self._reader, None
        if pc is not None:
            await pc.close()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
