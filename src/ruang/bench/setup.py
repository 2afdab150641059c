"""What the benchmarks share: members with ready-made tokens (no logins to pay for), a room,
and a Ruang server run as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruang.client.api import RuangClient


async def seed(db_url: str, names: list[str], *, room_title: str = "bench",
               ) -> tuple[dict[str, str], int]:
    """Create these members (the first hosts the room) with session tokens, and a live room.
    Returns (username -> bearer token, room id)."""
    from argon2 import PasswordHasher

    from ruang.actions.members import TOKEN_PREFIX, hash_token
    from ruang.storage.db import Database
    from ruang.storage.models import AuthSession, Member, Room, RoomHost, utcnow

    db = Database(db_url)
    await db.migrate()
    pw = PasswordHasher().hash(secrets.token_hex(8))
    tokens: dict[str, str] = {}
    async with db.transaction() as s:
        members = [Member(username=n, username_key=n.lower(), display_name=n, password_hash=pw,
                          interests=[]) for n in names]
        s.add_all(members)
        await s.flush()
        for m in members:
            tok = TOKEN_PREFIX + secrets.token_urlsafe(32)
            tokens[m.username] = tok
            s.add(AuthSession(member_id=m.id, token_hash=hash_token(tok),
                              expires_at=utcnow() + dt.timedelta(days=1)))
        room = Room(title=room_title, description="", host_id=members[0].id, state="live",
                    seq=0, started_at=utcnow())
        s.add(room)
        await s.flush()
        s.add(RoomHost(room_id=room.id, member_id=members[0].id))
    await db.dispose()
    return tokens, room.id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = dict(os.environ, RUANG_DATA_DIR=str(data), RUANG_PORT=str(port),
                RUANG_REALTIME_PORT="0", RUANG_LOG_LEVEL="WARNING", RUANG_LOG_FORMAT="json",
                **env)
    with open(data / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ruang.cli", "serve"], env=full,
                                stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=raise_fd_limit)
    return proc, f"http://127.0.0.1:{port}"


async def start_server(data: Path, env: dict[str, str],
                       ready: Callable[[dict[str, Any]], bool] = lambda h: True,
                       ) -> tuple[subprocess.Popen[bytes], str, dict[str, Any]]:
    """Run ``ruang serve`` with these RUANG_* settings; return once /healthz satisfies
    ``ready`` (with the health report)."""
    proc, url = await asyncio.to_thread(_spawn, data, env)
    async with RuangClient(url) as probe:
        for _ in range(600):
            await asyncio.sleep(0.1)
            if proc.poll() is not None:
                raise RuntimeError(f"server exited; see {data / 'server.log'}")
            with contextlib.suppress(Exception):
                health = await probe.health()
                if ready(health):
                    return proc, url, health
    proc.kill()
    raise RuntimeError("server did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def raise_fd_limit() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
