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


async def test_admin_waitlist_invites_reports_and_mail(live: LiveServer,
                                                       cli_env: dict[str, str]) -> None:
    from ruang.actions import moderation, onboarding

    svc = live.runtime.svc
    code, _out, err = await ruang("admin", "create-member", "root", "--password",
                                  "harbour-lights-9", "--admin", env=cli_env)
    assert code == 0, err
    alice = await live.member("alice")
    await onboarding.join_waitlist(svc, name="Bo Ng", email="bo@example.org", username="bong",
                                   vouchers=["alice"])
    code, out, err = await ruang("admin", "waitlist", "list", env=cli_env)
    assert code == 0, err
    assert "Bo Ng <bo@example.org> wants @bong named by @alice" in out
    entry_id = out.split()[0]
    code, out, err = await ruang("admin", "waitlist", "approve", entry_id, "999999",
                                 env=cli_env)
    assert code == 0, err
    assert "1 of 2 invited (the others were not waiting)" in out
    # Without SMTP the invitation is in the mail folder, readable from the CLI.
    code, out, err = await ruang("admin", "mail", "show", env=cli_env)
    assert code == 0, err
    assert "To: bo@example.org" in out
    assert "/invite/" in out

    code, out, err = await ruang("admin", "invites", "grant", "alice", "3", env=cli_env)
    assert code == 0, err
    assert "@alice now has 5 invitation(s)" in out

    me = await alice.me()
    from ruang.actions.members import MemberInfo

    await moderation.report(svc, MemberInfo(me["id"], "alice", "alice", False),
                            member="root", reason="spam in rooms")
    code, out, err = await ruang("admin", "reports", "list", env=cli_env)
    assert "@root reported by @alice: spam in rooms" in out
    report_id = out.split()[0]
    code, out, err = await ruang("admin", "reports", "resolve", report_id, "--action",
                                 "dismiss", env=cli_env)
    assert code == 0, err
    assert "resolved: dismissed" in out
    code, out, err = await ruang("admin", "sanction", "alice", "--action", "suspend",
                                 env=cli_env)
    assert code == 1
    assert "invalid_input: a suspension lasts 1 to 3650 days" in err
    code, out, err = await ruang("admin", "sanction", "alice", "--action", "suspend",
                                 "--days", "2", env=cli_env)
    assert code == 0, err
    from ruang.client.api import ApiError

    with pytest.raises(ApiError) as refused:
        await alice.me()
    assert refused.value.code == "not_authenticated"
    await alice.close()
