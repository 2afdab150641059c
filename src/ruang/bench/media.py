"""``ruang bench media``: what a listener gets and what a listener costs, with real Janus.

Runs inside a private network namespace (re-executing itself into one when needed):

1. a Ruang server (``ruang serve``: SQLite, its own Janus) as a child process;
2. a speaker (aiortc) playing 440 Hz into the stage;
3. join time: "real" listeners (decoding, like a person's client) join one after another
   while the tone is continuous; join-to-first-audio is the time from sending ``room.join``
   to the first audible decoded frame;
4. cost: "light" listeners (decrypt and count packets, no decoding, in worker processes so
   the load generator does not starve Janus) join in two steps; Janus's CPU (from /proc) is
   measured at both audience sizes and the slope is the cost of one listener;
5. latency: with the full audience connected, the speaker gates the tone (600 ms on, 400 ms
   off); each real listener timestamps every onset it hears; mouth-to-ear is the time from
   the frame leaving the speaker's source to the onset leaving the listener's decoder, on
   the machine's one monotonic clock. Purity is the share of energy within 20 Hz of the tone
   in the steady part of each tone burst (glitches and dropouts lower it).

The last line printed is the JSON result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import numpy as np

from ruang import netns
from ruang.bench import report, setup
from ruang.client.api import RuangClient
from ruang.client.audio import (
    FRAME,
    RATE,
    AudioSource,
    Recorder,
    Samples,
    band_energy_ratio,
    dominant_frequency,
)
from ruang.client.participant import Participant

TONE = 440.0
PERIOD = 50 * FRAME   # 1.0 s
ON = 30 * FRAME       # 600 ms of tone, then 400 ms of silence


class BenchTone(AudioSource):
    """440 Hz, continuous or gated; remembers when each gated burst left the source."""

    def __init__(self) -> None:
        super().__init__()
        self.gated = False
        self.origin = 0
        self.onsets: list[float] = []

    def gate(self) -> None:
        # Start the first burst a whole period from now, on a frame boundary.
        self.origin = self.position + PERIOD
        self.gated = True

    def render(self, start: int, count: int) -> Samples:
        t = np.arange(start, start + count, dtype=np.float64) / RATE
        tone = (np.sin(2 * np.pi * TONE * t) * 0.3 * 32767).astype(np.int16)
        if not self.gated:
            return tone
        if start < self.origin or (start - self.origin) % PERIOD >= ON:
            return np.zeros(count, dtype=np.int16)
        return tone

    def next_frame(self) -> Samples:
        if self.gated and self.position >= self.origin and \
                (self.position - self.origin) % PERIOD == 0:
            self.onsets.append(time.monotonic())
        return super().next_frame()


def detect_onsets(rec: Recorder, silence_chunks: int = 5,
                  threshold: int = 2000) -> list[tuple[float, int]]:
    """(time, sample index) of each tone onset that follows >= 100 ms of silence."""
    onsets: list[tuple[float, int]] = []
    quiet = 0
    index = 0
    for chunk, at in zip(rec.chunks, rec.arrivals, strict=True):
        peak = int(np.abs(chunk.astype(np.int32)).max()) if chunk.size else 0
        if peak < 300:
            quiet += 1
        else:
            if quiet >= silence_chunks:
                hits = np.nonzero(np.abs(chunk.astype(np.int32)) > threshold)[0]
                if hits.size:
                    onsets.append((at + int(hits[0]) / RATE, index + int(hits[0])))
            quiet = 0
        index += chunk.size
    return onsets


def match_latencies(speaker: list[float], heard: list[float]) -> list[float]:
    """Each heard onset minus the latest speaker onset before it (within 1 s)."""
    out = []
    for h in heard:
        before = [s for s in speaker if s <= h]
        if before and h - before[-1] < 1.0:
            out.append((h - before[-1]) * 1000)
    return out


def burst_purity(rec: Recorder, onsets: list[tuple[float, int]]) -> tuple[float, int]:
    """Energy-weighted share within 20 Hz of the tone over each burst's steady 400 ms."""
    data = rec.samples()
    band = total = 0.0
    windows = 0
    for _t, idx in onsets:
        seg = data[idx + int(0.1 * RATE): idx + int(0.5 * RATE)]
        if seg.size < int(0.4 * RATE):
            continue
        energy = float(np.sum(seg.astype(np.float64) ** 2))
        band += band_energy_ratio(seg, TONE) * energy
        total += energy
        windows += 1
    return (band / total if total else 0.0), windows


# --- light listeners in worker processes ----------------------------------------------------


def _worker(pipe: Pipe, server: str, room_id: int, tokens: list[str]) -> None:
    asyncio.run(_worker_main(pipe, server, room_id, tokens))


async def _worker_main(pipe: Pipe, server: str, room_id: int, tokens: list[str]) -> None:
    loop = asyncio.get_running_loop()
    people: list[Participant] = []
    joins: list[float] = []
    pending = list(tokens)

    async def one(token: str) -> None:
        p = Participant(RuangClient(server, token=token), light=True, record=False)
        people.append(p)
        t0 = time.monotonic()
        await p.join(room_id, on_invite="ignore")
        stats = p.media.stats
        if await _wait(lambda: stats.first_packet_at is not None, 30):
            first = stats.first_packet_at
            assert first is not None
            joins.append((first - t0) * 1000)

    sem = asyncio.Semaphore(8)

    async def limited(tok: str) -> None:
        async with sem:
            await one(tok)

    while True:
        cmd, arg = await loop.run_in_executor(None, pipe.recv)
        if cmd == "join":
            batch, pending = pending[:arg], pending[arg:]
            await asyncio.gather(*(limited(t) for t in batch), return_exceptions=True)
            pipe.send(("joined", len(people)))
        elif cmd == "stats":
            pipe.send(("stats", {"packets": [p.media.stats.packets for p in people],
                                 "joins_ms": joins}))
        elif cmd == "stop":
            for p in people:
                with contextlib.suppress(Exception):
                    await p.close()
            pipe.send(("stopped", None))
            return


@dataclass
class Workers:
    procs: list[Any] = field(default_factory=list)
    pipes: list[Pipe] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    def start(self, server: str, room_id: int, tokens: list[str], count: int) -> None:
        ctx = mp.get_context("spawn")
        chunks = [tokens[i::count] for i in range(count)]
        for chunk in chunks:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, server, room_id, chunk),
                               daemon=True)
            proc.start()
            self.procs.append(proc)
            self.pipes.append(parent)
            self.sizes.append(len(chunk))

    async def call(self, msgs: list[tuple[str, Any]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        for pipe, msg in zip(self.pipes, msgs, strict=True):
            pipe.send(msg)
        replies = await asyncio.gather(*(loop.run_in_executor(None, p.recv)
                                         for p in self.pipes))
        return [r[1] for r in replies]

    async def grow_to(self, total: int) -> int:
        per = [total // len(self.pipes) + (1 if i < total % len(self.pipes) else 0)
               for i in range(len(self.pipes))]
        current = await self.call([("stats", None)] * len(self.pipes))
        msgs = [("join", max(0, want - len(cur["packets"])))
                for want, cur in zip(per, current, strict=True)]
        return sum(await self.call(msgs))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.call([("stop", None)] * len(self.pipes)), 60)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


# --- setup ----------------------------------------------------------------------------------


async def _seed(db_url: str, real: int, light: int) -> tuple[dict[str, str], int]:
    return await setup.seed(db_url, ["speaker", *[f"real{i}" for i in range(real * 8)],
                                     *[f"light{i}" for i in range(light)]])


async def _start_server(data: Path, db_url: str, prebuffer: int,
                        event_loops: int) -> tuple[subprocess.Popen[bytes], str, int]:
    """The server as a child process, once its media is up; also Janus's pid."""
    proc, url, health = await setup.start_server(
        data, {"RUANG_DATABASE_URL": db_url, "RUANG_AUDIO_PREBUFFER": str(prebuffer),
               "RUANG_JANUS_EVENT_LOOPS": str(event_loops)},
        ready=lambda h: h["media"].get("janus") == "up")
    return proc, url, int(health["media"]["process"]["pid"])


# --- the run --------------------------------------------------------------------------------


async def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def run(listeners: int, real_listeners: int, seconds: float, prebuffer: int,
              event_loops: int, jitter_frames: int, workers: int,
              joins_per_real: int = 3) -> dict[str, Any]:
    machine = report.machine()
    tmp = Path(tempfile.mkdtemp(prefix="ruang-bench-"))
    db_url = f"sqlite+aiosqlite:///{tmp / 'ruang.db'}"
    tokens, room_id = await _seed(db_url, real_listeners, listeners)
    server, url, janus_pid = await _start_server(tmp, db_url, prebuffer, event_loops)
    people: list[Participant] = []
    pool = Workers()
    try:
        tone = BenchTone()
        speaker = Participant(RuangClient(url, token=tokens["speaker"]), source=tone,
                              record=False)
        people.append(speaker)
        await speaker.join(room_id)
        assert await _wait(lambda: speaker.media.stats.connected_at is not None, 20)
        await asyncio.sleep(1.0)

        # Join time, tone continuous.
        join_ms: list[float] = []
        freqs: list[float] = []
        for i in range(real_listeners * joins_per_real):
            p = Participant(RuangClient(url, token=tokens[f"real{i}"]),
                            jitter_frames=jitter_frames)
            t0 = time.monotonic()
            await p.join(room_id, on_invite="ignore")
            rec = p.recorder
            assert rec is not None
            if await _wait(lambda r=rec: r.first_audio_at is not None, 15):
                assert rec.first_audio_at is not None
                join_ms.append((rec.first_audio_at - t0) * 1000)
            if i < real_listeners:
                people.append(p)  # stays for the latency phase
            else:
                await asyncio.sleep(0.3)
                await p.close()
        await asyncio.sleep(1.5)
        for p in people[1:]:
            assert p.recorder is not None
            freqs.append(dominant_frequency(p.recorder.samples(1.0)))

        # Cost: Janus CPU at two audience sizes of light listeners.
        small = max(5, listeners // 5)
        pool.start(url, room_id, [tokens[f"light{i}"] for i in range(listeners)],
                   max(1, min(workers, listeners)))
        cpu_points: list[tuple[int, float]] = []
        rss_points: list[tuple[int, int]] = []
        for size in (small, listeners):
            joined = await pool.grow_to(size)
            await asyncio.sleep(2.0)
            c0, w0 = report.process_cpu_seconds(janus_pid), time.monotonic()
            stats0 = await pool.call([("stats", None)] * len(pool.pipes))
            await asyncio.sleep(seconds)
            c1, w1 = report.process_cpu_seconds(janus_pid), time.monotonic()
            stats1 = await pool.call([("stats", None)] * len(pool.pipes))
            total = joined + len(people) - 1
            cpu_points.append((total, (c1 - c0) / (w1 - w0) * 100))
            rss_points.append((total, report.process_rss_kib(janus_pid)))
            got = sum(sum(s["packets"]) for s in stats1) - sum(sum(s["packets"])
                                                               for s in stats0)
            expected = joined * 50 * (w1 - w0)
        light_join = [j for s in stats1 for j in s["joins_ms"]]
        (n1, cpu1), (n2, cpu2) = cpu_points
        slope = (cpu2 - cpu1) / (n2 - n1) if n2 != n1 else None
        (r1n, r1), (r2n, r2) = rss_points
        rss_per = (r2 - r1) / (r2n - r1n) if r2n != r1n else None

        # Latency under the full audience: gated tone.
        for p in people[1:]:
            assert p.recorder is not None
            p.recorder.clear()
        tone.gate()
        await asyncio.sleep(seconds + 1.5)
        m2e: list[float] = []
        purities: list[float] = []
        windows = 0
        for p in people[1:]:
            assert p.recorder is not None
            heard = detect_onsets(p.recorder)
            m2e += match_latencies(tone.onsets, [t for t, _ in heard])
            purity, n = burst_purity(p.recorder, heard)
            if n:
                purities.append(purity)
                windows += n
    finally:
        for p in people:
            with contextlib.suppress(Exception):
                await p.close()
        if pool.pipes:
            await pool.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()

    def r(x: float | None, nd: int = 1) -> float | None:
        return None if x is None else round(x, nd)

    return {
        "benchmark": "media",
        "listeners": n2,
        "light_listeners": listeners,
        "real_listeners": real_listeners,
        "prebuffer_packets": prebuffer,
        "janus_event_loops": event_loops,
        "client_jitter_frames": jitter_frames,
        "mouth_to_ear_ms_p50": r(report.percentile(m2e, 50)),
        "mouth_to_ear_ms_p95": r(report.percentile(m2e, 95)),
        "mouth_to_ear_samples": len(m2e),
        "join_to_first_audio_ms_p50": r(report.percentile(join_ms, 50)),
        "join_to_first_audio_ms_p95": r(report.percentile(join_ms, 95)),
        "join_samples": len(join_ms),
        "light_join_to_first_packet_ms_p50": r(report.percentile(light_join, 50)),
        "janus_cpu_pct_per_listener": r(slope, 4),
        "janus_cpu_pct": {str(n): r(c, 2) for n, c in cpu_points},
        "listeners_per_core": r(100 / slope, 0) if slope and slope > 0 else None,
        "janus_rss_kib_per_listener": r(rss_per, 1),
        "light_packets_received_ratio": r(got / expected, 4) if expected else None,
        "tone_hz_measured": r(float(np.mean(freqs)), 2) if freqs else None,
        "tone_purity": r(float(np.mean(purities)), 4) if purities else None,
        "purity_windows": windows,
        "machine": machine,
    }


def markdown(result: dict[str, Any], command: str) -> str:
    m = result["machine"]
    rows = [
        ("listeners (light + real)", result["listeners"]),
        ("mouth-to-ear p50 / p95 (ms)",
         f"{result['mouth_to_ear_ms_p50']} / {result['mouth_to_ear_ms_p95']} "
         f"({result['mouth_to_ear_samples']} onsets)"),
        ("join to first audio p50 / p95 (ms)",
         f"{result['join_to_first_audio_ms_p50']} / {result['join_to_first_audio_ms_p95']} "
         f"({result['join_samples']} joins)"),
        ("Janus CPU per listener (% of a core)", result["janus_cpu_pct_per_listener"]),
        ("listeners per core", result["listeners_per_core"]),
        ("Janus CPU at the two audience sizes",
         ", ".join(f"{c} % with {n}" for n, c in result["janus_cpu_pct"].items())),
        ("Janus RSS per listener (KiB)", result["janus_rss_kib_per_listener"]),
        ("packets received / expected (light listeners)",
         result["light_packets_received_ratio"]),
        ("tone measured (Hz)", result["tone_hz_measured"]),
        ("energy within 20 Hz of the tone", result["tone_purity"]),
        ("settings", f"prebuffer {result['prebuffer_packets']}, event_loops "
                     f"{result['janus_event_loops']}, client jitter buffer "
                     f"{result['client_jitter_frames']} frame(s)"),
    ]
    for v in result.get("variants", []):
        rows.append((f"same run, event_loops {v['janus_event_loops']}",
                     f"{v['janus_cpu_pct_per_listener']} % per listener "
                     f"({v['cpu_per_listener_vs_first']}x), mouth-to-ear p50 "
                     f"{v['mouth_to_ear_ms_p50']} ms, join p50 "
                     f"{v['join_to_first_audio_ms_p50']} ms"))
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (f"## Media: `ruang bench media`\n\n"
            f"Latest run: {report.today()}, `{command}`\n\n"
            f"Machine: {report.machine_line(m)}\n\n| measure | value |\n|---|---|\n{table}\n")


def main(*, listeners: int = 50, real_listeners: int = 3, seconds: float = 12.0,
         prebuffer: int | None = None, event_loops: str = "2", jitter_frames: int = 1,
         workers: int = 2, as_json: bool = False, write_docs: bool = False) -> int:
    """Run the benchmark once per Janus ``event_loops`` value given (comma-separated); the
    first is the headline result and the others are reported beside it, from the same run."""
    argv = ["--listeners", str(listeners), "--real-listeners", str(real_listeners),
            "--seconds", str(seconds), "--prebuffer", str(prebuffer or 2),
            "--event-loops", str(event_loops), "--jitter-frames", str(jitter_frames),
            "--workers", str(workers)]
    if not netns.inside():
        extra = (["--json"] if as_json else []) + (["--write-docs"] if write_docs else [])
        return netns.run([sys.executable, "-m", "ruang.bench.media", *argv, *extra])
    loops = [int(x) for x in str(event_loops).split(",") if x.strip()]
    results = []
    for n in loops:
        if not as_json:
            print(f"running with Janus event_loops={n} ...", file=sys.stderr)
        results.append(asyncio.run(run(listeners, real_listeners, seconds, prebuffer or 2, n,
                                       jitter_frames, workers)))
    result = results[0]
    if len(results) > 1:
        base = result["janus_cpu_pct_per_listener"]
        result["variants"] = [
            {k: r[k] for k in ("janus_event_loops", "janus_cpu_pct_per_listener",
                               "janus_cpu_pct", "mouth_to_ear_ms_p50",
                               "join_to_first_audio_ms_p50", "light_packets_received_ratio")}
            | {"cpu_per_listener_vs_first": round(r["janus_cpu_pct_per_listener"] / base, 2)
               if base else None}
            for r in results[1:]]
    if write_docs:
        command = "ruang bench media " + " ".join(argv)
        path = report.write_section("media", markdown(result, command))
        if not as_json:
            print(f"results written to {path}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--listeners", type=int, default=50)
    ap.add_argument("--real-listeners", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--prebuffer", type=int, default=2)
    ap.add_argument("--event-loops", default="2",
                    help="Janus event_loops; several (e.g. 2,0) are compared side by side")
    ap.add_argument("--jitter-frames", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args()
    raise SystemExit(main(listeners=a.listeners, real_listeners=a.real_listeners,
                          seconds=a.seconds, prebuffer=a.prebuffer, event_loops=a.event_loops,
                          jitter_frames=a.jitter_frames, workers=a.workers, as_json=a.json,
                          write_docs=a.write_docs))
