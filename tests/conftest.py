"""Shared fixtures: databases (SQLite and PostgreSQL), a real Ruang server on loopback, clients.

PostgreSQL tests use the server on 127.0.0.1:5432 (database ``test``): they are skipped when it
is unreachable on a developer's machine and fail when CI=true, where it must be there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ruang.app import Runtime, create_app
from ruang.client.api import RuangClient
from ruang.client.realtime import Realtime
from ruang.config import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_DSN = os.environ.get("RUANG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def require(available: bool, what: str) -> None:
    """Skip a test whose service is missing, except in CI where it must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_database() -> Any:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    import asyncpg

    if not _port_open("127.0.0.1", 5432):
        yield None
        return
    name = f"ruang_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                       pg_database: str | None) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ruang.db'}"
        return
    require(pg_database is not None, "PostgreSQL on 127.0.0.1:5432")
    assert pg_database is not None
    yield pg_database
    await _truncate_pg(pg_database)


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "database_url": database_url,
                              "media": False, "presence_grace_seconds": 2.0,
                              "realtime_port": 0,
                              "log_format": "console",
                              # Cheap hashing; tests of the real cost set their own.
                              "password_time_cost": 1, "password_memory_kib": 1024,
                              # Many logins from 127.0.0.1: rate-limit tests set their own.
                              "limit_login_ip": "10000/minute",
                              "limit_login_account": "10000/minute",
                              "limit_signup_ip": "10000/minute",
                              "limit_invite_account": "10000/minute",
                              "limit_reset_ip": "10000/minute",
                              "limit_reset_account": "10000/minute"}
    values.update(overrides)
    return Settings(**values)


@dataclass
class LiveServer:
    url: str
    runtime: Runtime

    async def member(self, username: str, password: str = "tambourine-42",
                     **kwargs: Any) -> RuangClient:
        """Create a member and return a client logged in as them."""
        from ruang.actions import members as member_actions

        await member_actions.create_member(self.runtime.svc, username, password, **kwargs)
        return await RuangClient.login(self.url, username, password)


@contextlib.asynccontextmanager
async def run_server(settings: Settings) -> AsyncIterator[LiveServer]:
    port = free_port()
    # The server knows its own address (links in email, the WebSocket's origin check).
    settings = settings.model_copy(update={"port": port})
    runtime = Runtime(settings)
    app = create_app(settings, runtime=runtime)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            lifespan="on", ws_max_size=1 << 20)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.025)
        else:
            raise RuntimeError("the test server did not start")
        yield LiveServer(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


@pytest.fixture
async def live(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    async with run_server(make_settings(tmp_path, database_url)) as server:
        yield server


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[RuangClient], Awaitable[Realtime]]]:
    """Open Realtime connections that are closed after the test."""
    opened: list[Realtime] = []
    clients: list[RuangClient] = []

    async def _connect(client: RuangClient, **kwargs: Any) -> Realtime:
        rt = Realtime(client, **kwargs)
        await rt.connect()
        opened.append(rt)
        clients.append(client)
        return rt

    yield _connect
    for rt in opened:
        await rt.close()
    for client in clients:
        await client.close()
