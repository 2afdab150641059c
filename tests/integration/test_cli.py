"""The `ruang` command against a live server: accounts, login, rooms, stage, clear errors."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveServer


async def ruang(*args: str, env: dict[str, str] | None = None,
                stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ruang.cli", *args, env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin else None)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def cli_env(live: LiveServer, tmp_path: Path) -> dict[str, str]:
    settings = live.runtime.settings
    return {"RUANG_DATA_DIR": str(settings.data_dir),
            "RUANG_DATABASE_URL": settings.effective_database_url,
            "RUANG_SERVER": live.url, "XDG_CONFIG_HOME": str(tmp_path / "config")}


async def test_admin_login_rooms_and_stage(live: LiveServer, cli_env: dict[str, str]) -> None:
    code, out, err = await ruang("admin", "create-member", "alice", "--password",
                                 "harbour-lights-9", "--admin", env=cli_env)
    assert code == 0, err
    assert "created member @alice" in out
    code, out, err = await ruang("admin", "create-member", "Alice", "--password",
                                 "otherpass1", env=cli_env)
    assert code == 1
    assert "error: username_taken" in err
    assert "Traceback" not in err

    code, out, err = await ruang("login", "--user", "alice", "--password", "harbour-lights-9",
                                 env=cli_env)
    assert code == 0, err
    assert (Path(cli_env["XDG_CONFIG_HOME"]) / "ruang" / "credentials.json").stat().st_mode \
        & 0o077 == 0
    code, out, err = await ruang("rooms", "create", "CLI room", env=cli_env)
    assert code == 0, err
    room_id = out.split()[1]
    code, out, err = await ruang("rooms", "list", env=cli_env)
    assert "CLI room" in out
    assert "host @alice" in out

    code, out, err = await ruang("stage", "invite", room_id, "nobody", env=cli_env)
    assert code == 1
    assert "error: member_not_found" in err
    code, out, err = await ruang("rooms", "end", room_id, env=cli_env)
    assert code == 0, err
    code, out, err = await ruang("rooms", "list", env=cli_env)
    assert "no live rooms" in out


async def test_errors_are_one_line_without_traceback(live: LiveServer,
                                                     cli_env: dict[str, str]) -> None:
    code, _out, err = await ruang("rooms", "list", "--user", "ghost", "--password", "nopenope1",
                                 env=cli_env)
    assert code == 1
    assert err.strip() == "error: invalid_credentials: wrong username or password"
    code, _out, err = await ruang("rooms", "list", "--server", "http://127.0.0.1:9",
                                 "--token", "rg_x", env=cli_env)
    assert code == 1
    assert err.startswith("error: connection_failed")
    assert "Traceback" not in err
    env = {**cli_env, "XDG_CONFIG_HOME": cli_env["XDG_CONFIG_HOME"] + "-empty"}
    code, _out, err = await ruang("rooms", "list", env=env)
    assert code == 1
    assert "log in first" in err
