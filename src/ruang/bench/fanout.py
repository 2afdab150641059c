"""``ruang bench fanout``: how fast one room's events reach everyone in it.

A Ruang server (no media) runs as a child process. N members, each a real WebSocket client
speaking Ruang's protocol (hello, room.join), are spread over worker processes on loopback and
join one room. Then the room's moderator acts, over the REST API, the way a moderator does:

- latency: one action at a time (turning raised hands off and on); for each, the time from
  just before the request to each client receiving the event, on the machine's monotonic
  clock (p50 / p99 over all deliveries);
- throughput: a burst of actions back to back; deliveries (events x clients) divided by the
  server process's CPU time over the burst (from /proc) gives deliveries per server
  CPU-second, i.e. per core.

The last line printed is the JSON result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import sys
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from ruang.bench import report, setup
from ruang.client.api import RuangClient

PROBE = b'"type":"hands_changed"'


def _worker(pipe: Pipe, ws_url: str, room_id: int, tokens: list[str]) -> None:
    setup.raise_fd_limit()
    asyncio.run(_worker_main(pipe, ws_url, room_id, tokens))


async def _worker_main(pipe: Pipe, ws_url: str, room_id: int, tokens: list[str]) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    arrivals: list[float] = []
    joined = 0
    done = asyncio.Event()

    class Client(WSListener):
        def __init__(self, token: str) -> None:
            self.token = token
            self.state = "hello"

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport
            transport.send(WSMsgType.TEXT, json.dumps(
                {"type": "hello", "protocol": 1, "token": self.token}).encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            nonlocal joined
            if frame.msg_type != WSMsgType.TEXT:
                return
            data = frame.get_payload_as_bytes()
            if PROBE in data:
                arrivals.append(time.monotonic())
            elif self.state == "hello" and b'"welcome"' in data:
                self.state = "joining"
                transport.send(WSMsgType.TEXT, json.dumps(
                    {"type": "room.join", "room_id": room_id, "media": False,
                     "ref": "j"}).encode())
            elif self.state == "joining" and b'"ref":"j"' in data:
                self.state = "in"
                joined += 1
                if joined == len(tokens):
                    done.set()

    transports = []
    sem = asyncio.Semaphore(50)

    async def connect(token: str) -> None:
        async with sem:
            transport, _ = await ws_connect(lambda: Client(token), ws_url)
            transports.append(transport)

    await asyncio.gather(*(connect(t) for t in tokens))
    await asyncio.wait_for(done.wait(), 600)
    pipe.send(("joined", joined))
    loop = asyncio.get_running_loop()
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd == "arrivals":
            pipe.send(("arrivals", list(arrivals)))
            arrivals.clear()
        elif cmd == "stop":
            for t in transports:
                t.disconnect()
            pipe.send(("stopped", None))
            return


async def run(connections: int, workers: int, actions: int, burst: int,
              database: str | None) -> dict[str, Any]:
    machine = report.machine()
    tmp = Path(tempfile.mkdtemp(prefix="ruang-fanout-"))
    db_url = database or f"sqlite+aiosqlite:///{tmp / 'ruang.db'}"
    names = ["moderator", *[f"l{i}" for i in range(connections)]]
    tokens, room_id = await setup.seed(db_url, names, room_title="fan-out")
    server, url, _health = await setup.start_server(
        tmp, {"RUANG_DATABASE_URL": db_url, "RUANG_MEDIA": "false"})
    ctx = mp.get_context("spawn")
    pipes: list[Pipe] = []
    procs = []
    try:
        async with RuangClient(url, token=tokens["moderator"]) as mod:
            ws_url = await mod.ws_url()
            from ruang.client.realtime import Realtime

            rt = Realtime(mod)
            await rt.connect()
            await rt.join(room_id)  # the moderator is in the room (hosts moderate)
            listener_tokens = [tokens[f"l{i}"] for i in range(connections)]
            t_join = time.monotonic()
            for i in range(workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, ws_url, room_id,
                                                         listener_tokens[i::workers]),
                                   daemon=True)
                proc.start()
                procs.append(proc)
                pipes.append(parent)
            loop = asyncio.get_running_loop()
            for p in pipes:
                await loop.run_in_executor(None, p.recv)
            join_seconds = time.monotonic() - t_join
            await asyncio.sleep(3.0)  # the audience count settles

            async def collect() -> list[float]:
                out: list[float] = []
                for p in pipes:
                    p.send("arrivals")
                for p in pipes:
                    out += (await loop.run_in_executor(None, p.recv))[1]
                return out

            # Latency: one action at a time.
            latencies: list[float] = []
            enabled = True
            for _ in range(actions):
                await collect()
                enabled = not enabled
                t0 = time.monotonic()
                await mod.set_hands(room_id, enabled)
                deadline = time.monotonic() + 10
                got: list[float] = []
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    got += await collect()
                    if len(got) >= connections:
                        break
                latencies += [a - t0 for a in got]
                await asyncio.sleep(0.2)
            # Throughput: actions back to back.
            await collect()
            cpu0, wall0 = report.process_cpu_seconds(server.pid), time.monotonic()
            for _ in range(burst):
                enabled = not enabled
                await mod.set_hands(room_id, enabled)
            delivered: list[float] = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(delivered) < burst * connections:
                await asyncio.sleep(0.2)
                delivered += await collect()
            last = max(delivered) if delivered else time.monotonic()
            cpu = report.process_cpu_seconds(server.pid) - cpu0
            wall = last - wall0
            await rt.close()
    finally:
        for p in pipes:
            with contextlib.suppress(Exception):
                p.send("stop")
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        setup.stop_server(server)

    def r(x: float | None, nd: int = 1) -> float | None:
        return None if x is None else round(x, nd)

    return {
        "benchmark": "fanout",
        "connections": connections,
        "join_seconds": r(join_seconds),
        "latency_actions": actions,
        "latency_deliveries": len(latencies),
        "latency_expected": actions * connections,
        "delivery_ms_p50": r((report.percentile(latencies, 50) or 0) * 1000),
        "delivery_ms_p99": r((report.percentile(latencies, 99) or 0) * 1000),
        "delivery_ms_max": r(max(latencies) * 1000 if latencies else None),
        "burst_actions": burst,
        "burst_deliveries": len(delivered),
        "burst_expected": burst * connections,
        "burst_wall_seconds": r(wall, 2),
        "server_cpu_seconds": r(cpu, 2),
        "deliveries_per_server_cpu_second": round(len(delivered) / cpu) if cpu else None,
        "deliveries_per_second": round(len(delivered) / wall) if wall > 0 else None,
        "database": "postgresql" if database and "postgres" in database else "sqlite",
        "machine": machine,
    }


def markdown(result: dict[str, Any], command: str) -> str:
    rows = [
        ("clients in one room", result["connections"]),
        ("time for all of them to connect and join (s)", result["join_seconds"]),
        ("one moderator action: delivery p50 / p99 / max (ms)",
         f"{result['delivery_ms_p50']} / {result['delivery_ms_p99']} / "
         f"{result['delivery_ms_max']} ({result['latency_deliveries']} of "
         f"{result['latency_expected']} deliveries)"),
        ("burst: deliveries per server CPU-second",
         f"{result['deliveries_per_server_cpu_second']} ({result['burst_deliveries']} of "
         f"{result['burst_expected']} in {result['burst_wall_seconds']} s, server CPU "
         f"{result['server_cpu_seconds']} s)"),
        ("database", result["database"]),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (f"## Room fan-out: `ruang bench fanout`\n\nLatest run: {report.today()}, "
            f"`{command}`\n\nMachine: {report.machine_line(result['machine'])}\n\n"
            "Each client is a separate WebSocket speaking Ruang's protocol (picows clients in "
            "worker processes on loopback); the moderator turns raised hands off and on over "
            f"the REST API.\n\n| measure | value |\n|---|---|\n{table}\n")


def main(*, connections: int = 1000, workers: int = 4, actions: int = 10, burst: int = 50,
         database: str | None = None, as_json: bool = False, write_docs: bool = False) -> int:
    result = asyncio.run(run(connections, workers, actions, burst, database))
    if write_docs:
        command = (f"ruang bench fanout --connections {connections} --workers {workers} "
                   f"--actions {actions} --burst {burst}")
        path = report.write_section("fanout", markdown(result, command))
        if not as_json:
            print(f"results written to {path}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="room fan-out latency and throughput")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--actions", type=int, default=10)
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--database", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args()
    raise SystemExit(main(connections=a.connections, workers=a.workers, actions=a.actions,
                          burst=a.burst, database=a.database, as_json=a.json,
                          write_docs=a.write_docs))
