"""``ruang bench wslib``: broadcast cost of WebSocket servers, side by side in one run.

Why Ruang's realtime listener is picows rather than FastAPI's WebSocket: each server variant
runs in its own process, N clients (picows, spread over worker processes) connect to it, and
the server broadcasts a burst of 200-byte messages to all of them the way it would do it in
production (FastAPI: ``await ws.send_text`` per connection; websockets: ``broadcast()``;
picows: one synchronous ``send`` per connection of a message encoded once). We read the
server's CPU time from /proc and the clients' receive times on the machine's monotonic clock.

Reported per variant: deliveries per CPU-second of the server, and latency p50/p99 from the
start of a broadcast to each client receiving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection as Pipe
from typing import Any

# At module level: FastAPI resolves the endpoint's annotations in this module's globals.
from fastapi import WebSocket

from ruang.bench import report

MESSAGE_PAD = "x" * 120


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _message(i: int) -> str:
    return json.dumps({"type": "room.event", "seq": i, "t": time.monotonic(),
                       "pad": MESSAGE_PAD})


# --- servers (each runs as `python -m ruang.bench.wslib serve KIND PORT`) ----------------


async def _burst(send_all: Any, count: int) -> None:
    for i in range(count):
        await send_all(_message(i))
        await asyncio.sleep(0)


def serve_picows(port: int) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    clients: list[WSTransport] = []

    class Listener(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            clients.append(transport)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            with contextlib.suppress(ValueError):
                clients.remove(transport)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_ascii_text().startswith(
                    "burst"):
                count = int(frame.get_payload_as_ascii_text().split()[1])
                asyncio.get_running_loop().create_task(_burst(send_all, count))

    async def send_all(text: str) -> None:
        data = text.encode()
        for t in clients:
            t.send(WSMsgType.TEXT, data)

    async def main() -> None:
        server = await ws_create_server(lambda r: Listener(), "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


def serve_websockets(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            async for msg in ws:
                if isinstance(msg, str) and msg.startswith("burst"):
                    asyncio.get_running_loop().create_task(
                        _burst(send_all, int(msg.split()[1])))
        finally:
            clients.discard(ws)

    async def send_all(text: str) -> None:
        broadcast(clients, text)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None):
            await asyncio.Future()

    asyncio.run(main())


def serve_fastapi(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, WebSocketDisconnect

    app = FastAPI()
    clients: set[WebSocket] = set()

    async def send_all(text: str) -> None:
        for ws in list(clients):
            with contextlib.suppress(Exception):
                await ws.send_text(text)

    @app.websocket("/")
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        clients.add(ws)
        try:
            while True:
                msg = await ws.receive_text()
                if msg.startswith("burst"):
                    asyncio.get_running_loop().create_task(
                        _burst(send_all, int(msg.split()[1])))
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(ws)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_ping_interval=None)


SERVERS = {"fastapi": serve_fastapi, "websockets": serve_websockets, "picows": serve_picows}


# --- clients -------------------------------------------------------------------------------


def _clients(pipe: Pipe, url: str, count: int) -> None:
    _raise_fd_limit()
    asyncio.run(_clients_main(pipe, url, count))


async def _clients_main(pipe: Pipe, url: str, count: int) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    latencies: list[float] = []

    class Client(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                text = frame.get_payload_as_ascii_text()
                start = text.find('"t": ') + 5
                sent = float(text[start:text.find(",", start)])
                latencies.append(time.monotonic() - sent)

    transports = []
    for _ in range(count):
        transport, _client = await ws_connect(Client, url)
        transports.append(transport)
    pipe.send("connected")
    loop = asyncio.get_running_loop()
    while True:
        cmd = await loop.run_in_executor(None, pipe.recv)
        if cmd == "burst":
            transports[0].send(WSMsgType.TEXT, b"burst 20")
        elif cmd == "report":
            pipe.send(list(latencies))
            latencies.clear()
        elif cmd == "stop":
            for t in transports:
                t.disconnect()
            pipe.send("stopped")
            return


def _cpu(pid: int) -> float:
    return report.process_cpu_seconds(pid)


def measure(kind: str, connections: int, workers: int, bursts: int = 5) -> dict[str, Any]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "ruang.bench.wslib", "serve", kind,
                               str(port)], stdout=subprocess.DEVNULL,
                              preexec_fn=_raise_fd_limit)
    pipes: list[Pipe] = []
    procs = []
    try:
        time.sleep(1.5)
        ctx = mp.get_context("spawn")
        url = f"ws://127.0.0.1:{port}/"
        for i in range(workers):
            parent, child = ctx.Pipe()
            n = connections // workers + (1 if i < connections % workers else 0)
            proc = ctx.Process(target=_clients, args=(child, url, n), daemon=True)
            proc.start()
            procs.append(proc)
            pipes.append(parent)
        for p in pipes:
            if not p.poll(300):
                raise RuntimeError("clients did not connect")
            p.recv()
        time.sleep(1.0)
        cpu0 = _cpu(server.pid)
        for _ in range(bursts):
            pipes[0].send("burst")
            time.sleep(max(1.0, 20 * connections / 40_000))
        cpu = _cpu(server.pid) - cpu0
        latencies: list[float] = []
        for p in pipes:
            p.send("report")
            latencies += p.recv()
        deliveries = len(latencies)
        for p in pipes:
            p.send("stop")
            p.recv()
    finally:
        server.terminate()
        server.wait(10)
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    return {"server": kind, "connections": connections, "deliveries": deliveries,
            "expected": bursts * 20 * connections,
            "deliveries_per_cpu_second": round(deliveries / cpu) if cpu else None,
            "latency_ms_p50": round((report.percentile(latencies, 50) or 0) * 1000, 1),
            "latency_ms_p99": round((report.percentile(latencies, 99) or 0) * 1000, 1)}


def markdown(results: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {r['server']} | {r['connections']} | {r['deliveries_per_cpu_second']} | "
        f"{r['latency_ms_p50']} / {r['latency_ms_p99']} | {r['deliveries']}/{r['expected']} |"
        for r in results)
    return (f"## WebSocket servers side by side: `ruang bench wslib`\n\nLatest run: "
            f"{report.today()}\n\nMachine: {report.machine_line(machine)}\n\n"
            "Bursts of 20 messages (~200 bytes) broadcast to every client; clients are picows "
            "in 4 worker processes.\n\n"
            "| server | clients | deliveries per server CPU-second | latency p50 / p99 (ms) | "
            f"received |\n|---|---|---|---|---|\n{rows}\n")


def main(connections: list[int], kinds: list[str], as_json: bool, write_docs: bool) -> int:
    machine = report.machine()
    results = []
    for n in connections:
        for kind in kinds:
            if not as_json:
                print(f"{kind} with {n} clients ...", file=sys.stderr)
            results.append(measure(kind, n, workers=4))
    out = {"benchmark": "wslib", "results": results, "machine": machine}
    if write_docs:
        report.write_section("wslib", markdown(results, machine))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        _raise_fd_limit()
        SERVERS[sys.argv[2]](int(sys.argv[3]))
        raise SystemExit(0)
    import argparse

    ap = argparse.ArgumentParser(description="broadcast cost of WebSocket servers")
    ap.add_argument("--connections", default="1000,10000")
    ap.add_argument("--servers", default="fastapi,websockets,picows")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main([int(x) for x in a.connections.split(",")],
                          a.servers.split(","), a.json, a.write_docs))
