"""ruang.media.janus.supervisor, run against a fake ``janus`` executable (no real Janus).

The fake is a small Python script that parses ``-C <janus.jcfg>``, reads ``ws_port`` from the
``janus.transport.websockets.jcfg`` next to it and, depending on its mode, listens there until
SIGTERM (``listen``), exits at once (``exit``) or never opens the port (``silent``). Each run
appends a JSON line to ``<folder>/launches.jsonl`` so the tests can see every (re)start.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ruang.media.janus import jcfg
from ruang.media.janus.supervisor import (
    JanusSupervisor,
    ProcessState,
    SupervisorConfig,
    SupervisorError,
    free_port,
)

FAKE_JANUS = """#!{python} -S
import json, os, re, signal, socket, sys, time

args = sys.argv[1:]
cfg = args[args.index("-C") + 1]
conf = os.path.dirname(cfg)
with open(os.path.join(conf, "janus.transport.websockets.jcfg")) as fh:
    port = int(re.search(r"ws_port = (\\d+)", fh.read()).group(1))
folder = os.path.dirname(conf)
mode = {mode!r}
if os.path.exists(os.path.join(folder, "fail-next")):
    mode = "exit"
with open(os.path.join(folder, "launches.jsonl"), "a") as fh:
    fh.write(json.dumps({{"pid": os.getpid(), "argv": args, "port": port,
                          "mode": mode}}) + "\\n")
with open(args[args.index("-L") + 1], "a") as fh:
    fh.write("fake janus %d\\n" % os.getpid())
if mode == "exit":
    sys.exit(3)


def on_term(signum, frame):
    with open(os.path.join(folder, "terminated.log"), "a") as fh:
        fh.write("%d\\n" % os.getpid())
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
if mode == "listen":
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
while True:
    signal.pause()
"""


def fake_janus(tmp_path: Path, mode: str = "listen") -> Path:
    path = tmp_path / f"fake-janus-{mode}"
    path.write_text(FAKE_JANUS.format(python=sys.executable, mode=mode))
    path.chmod(0o755)
    return path


def launches(folder: Path) -> list[dict[str, Any]]:
    path = folder / "launches.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def terminated(folder: Path) -> list[int]:
    path = folder / "terminated.log"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def port_open(port: int) -> bool:
    try:
        _r, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    w.close()
    await w.wait_closed()
    return True


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # noqa: ASYNC110 - polling child processes and files
            await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def lib_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Janus lib dir of our own, so the tests do not depend on the installed Janus."""
    lib = tmp_path / "lib" / "janus"
    (lib / "plugins").mkdir(parents=True)
    (lib / "plugins" / "libjanus_audiobridge.so").write_bytes(b"")
    monkeypatch.setattr(jcfg, "find_lib_dir", lambda: lib)
    return lib


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., JanusSupervisor]]:
    made: list[JanusSupervisor] = []

    def _make(mode: str = "listen", **kwargs: Any) -> JanusSupervisor:
        kwargs.setdefault("binary", str(fake_janus(tmp_path, mode)))
        kwargs.setdefault("folder", tmp_path / "data" / "janus")
        sup = JanusSupervisor(SupervisorConfig(**kwargs))
        made.append(sup)
        return sup

    yield _make
    for sup in made:
        await sup.stop()


# --- start and stop ---------------------------------------------------------------------------


async def test_start_runs_janus_and_opens_port(make: Callable[..., JanusSupervisor],
                                               tmp_path: Path, lib_dir: Path) -> None:
    sup = make()
    folder = sup.config.folder
    assert sup.state is ProcessState.STOPPED
    assert sup.pid is None
    await sup.start()
    assert sup.state is ProcessState.RUNNING
    assert sup.pid is not None
    assert alive(sup.pid)
    assert sup.url == f"ws://127.0.0.1:{sup.ws_port}"
    assert await port_open(sup.ws_port)
    assert sup.health() == {"process": "running", "pid": sup.pid, "restarts": 0}
    assert sup.started_at is not None

    [run] = launches(folder)
    conf = folder / "conf"
    assert run["pid"] == sup.pid
    assert run["port"] == sup.ws_port
    assert run["argv"] == ["-C", str(conf / "janus.jcfg"), "-F", str(conf),
                           "-L", str(folder / "janus.log"), "-N", "-o"]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o700
    text = (conf / "janus.jcfg").read_text()
    assert f'plugins_folder = "{lib_dir / "plugins"}"' in text
    assert f'api_secret = "{sup.secrets.api_secret}"' in text


async def test_stop_terminates_child(make: Callable[..., JanusSupervisor]) -> None:
    sup = make()
    await sup.start()
    pid = sup.pid
    assert pid is not None
    await sup.stop()
    assert sup.state is ProcessState.STOPPED
    assert not alive(pid)
    assert terminated(sup.config.folder) == [pid]  # asked politely with SIGTERM
    assert not await port_open(sup.ws_port)
    await sup.stop()  # idempotent
    assert sup.state is ProcessState.STOPPED


async def test_stop_without_start(make: Callable[..., JanusSupervisor]) -> None:
    sup = make()
    await sup.stop()
    assert sup.state is ProcessState.STOPPED
    assert launches(sup.config.folder) == []


async def test_restart_after_stop(make: Callable[..., JanusSupervisor]) -> None:
    sup = make()
    await sup.start()
    first = sup.pid
    await sup.stop()
    await sup.start()
    assert sup.state is ProcessState.RUNNING
    assert sup.pid != first
    assert await port_open(sup.ws_port)
    assert len(launches(sup.config.folder)) == 2


async def test_configured_port_is_used(make: Callable[..., JanusSupervisor]) -> None:
    port = free_port()
    sup = make(ws_port=port)
    assert sup.ws_port == port
    await sup.start()
    assert await port_open(port)
    assert launches(sup.config.folder)[0]["port"] == port


async def test_secrets_persist_across_supervisors(make: Callable[..., JanusSupervisor],
                                                  tmp_path: Path) -> None:
    a = make()
    b = make()
    assert a.secrets == b.secrets
    path = a.config.folder / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- crashes and restarts ---------------------------------------------------------------------


async def test_killed_janus_is_restarted(make: Callable[..., JanusSupervisor]) -> None:
    sup = make()
    await sup.start()
    first = sup.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: sup.restarts == 1 and sup.state is ProcessState.RUNNING)
    assert sup.pid != first
    assert sup.pid is not None
    assert alive(sup.pid)
    assert not alive(first)
    assert await port_open(sup.ws_port)
    assert [r["pid"] for r in launches(sup.config.folder)] == [first, sup.pid]
    # the crashed run's log is kept for the post-mortem
    folder = sup.config.folder
    assert (folder / "janus.log.1").read_text() == f"fake janus {first}\n"
    assert (folder / "janus.log").read_text() == f"fake janus {sup.pid}\n"
    assert sup.health()["restarts"] == 1


async def test_janus_exiting_at_startup_is_retried(make: Callable[..., JanusSupervisor],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    sup = make("exit")
    await sup.start()  # does not raise: Janus may come up later
    assert sup.state is ProcessState.BACKOFF
    assert "exited during start-up with code 3" in caplog.text
    await wait_for(lambda: len(launches(sup.config.folder)) >= 3)
    assert sup.state in (ProcessState.BACKOFF, ProcessState.STARTING)
    assert sup.restarts == 0
    watch = sup._watch
    assert watch is not None
    await sup.stop()
    assert sup.state is ProcessState.STOPPED
    assert watch.done()  # no retries after stop()
    assert sup._watch is None


async def test_recovers_when_janus_starts_working(make: Callable[..., JanusSupervisor],
                                                  tmp_path: Path) -> None:
    sup = make()
    flag = sup.config.folder / "fail-next"
    flag.write_text("")
    await sup.start()
    assert sup.state is ProcessState.BACKOFF
    flag.unlink()
    await wait_for(lambda: sup.state is ProcessState.RUNNING)
    assert sup.restarts == 1
    assert await port_open(sup.ws_port)
    assert [r["mode"] for r in launches(sup.config.folder)] == ["exit", "listen"]


async def test_binary_vanishing_while_running_is_retried(
        make: Callable[..., JanusSupervisor], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    sup = make()
    binary = Path(str(sup.config.binary))
    await sup.start()
    first = sup.pid
    assert first is not None
    hidden = binary.with_name("hidden")
    os.rename(binary, hidden)  # gone, e.g. in the middle of a package upgrade
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: "Janus restart failed: Janus is not installed" in caplog.text)
    assert sup.state is ProcessState.BACKOFF
    watch = sup._watch
    assert watch is not None
    assert not watch.done()  # the watcher survived the failed restart
    os.rename(hidden, binary)
    await wait_for(lambda: sup.state is ProcessState.RUNNING)
    assert sup.restarts == 1
    assert sup.pid != first
    assert await port_open(sup.ws_port)


async def test_port_never_opening_times_out(make: Callable[..., JanusSupervisor]) -> None:
    sup = make("silent", start_timeout=0.3)
    await sup.start()
    assert sup.state is ProcessState.BACKOFF
    [run] = launches(sup.config.folder)
    assert not alive(run["pid"])
    assert terminated(sup.config.folder) == [run["pid"]]
    await sup.stop()
    assert sup.state is ProcessState.STOPPED


# --- cannot run at all ------------------------------------------------------------------------


async def test_missing_janus_binary(make: Callable[..., JanusSupervisor], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists",
                        lambda p: False if p == "/usr/bin/janus" else real_exists(p))
    sup = make(binary=None)
    with pytest.raises(SupervisorError, match="apt-get install janus"):
        await sup.start()
    assert sup.state is ProcessState.STOPPED
    assert sup._watch is None


async def test_configured_binary_missing(make: Callable[..., JanusSupervisor],
                                         tmp_path: Path) -> None:
    sup = make(binary=str(tmp_path / "no" / "such" / "janus"))
    with pytest.raises(SupervisorError, match="apt-get install janus"):
        await sup.start()
    assert sup.state is ProcessState.STOPPED
    assert sup._watch is None


async def test_no_plugins_folder(make: Callable[..., JanusSupervisor],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jcfg, "find_lib_dir", lambda: None)
    sup = make()
    with pytest.raises(SupervisorError, match="plugins folder"):
        await sup.start()
    assert sup.state is ProcessState.STOPPED
    assert launches(sup.config.folder) == []


# --- state machine ----------------------------------------------------------------------------

_ALLOWED = {
    (ProcessState.STOPPED, ProcessState.STARTING),
    (ProcessState.STARTING, ProcessState.RUNNING),
    (ProcessState.STARTING, ProcessState.BACKOFF),
    (ProcessState.STARTING, ProcessState.STOPPING),
    (ProcessState.RUNNING, ProcessState.BACKOFF),
    (ProcessState.RUNNING, ProcessState.STOPPING),
    (ProcessState.BACKOFF, ProcessState.STARTING),
    (ProcessState.BACKOFF, ProcessState.STOPPING),
    (ProcessState.STOPPING, ProcessState.STOPPED),
}
_ALL = [(a, b) for a in ProcessState for b in ProcessState]


@pytest.mark.parametrize(("old", "new"), [t for t in _ALL if t not in _ALLOWED],
                         ids=lambda s: s.value)
def test_illegal_transitions_raise(tmp_path: Path, old: ProcessState,
                                   new: ProcessState) -> None:
    sup = JanusSupervisor(SupervisorConfig(folder=tmp_path))
    sup.state = old
    with pytest.raises(SupervisorError, match="illegal Janus process transition"):
        sup._move(new)
    assert sup.state is old


@pytest.mark.parametrize(("old", "new"), sorted(_ALLOWED, key=str), ids=lambda s: s.value)
def test_legal_transitions(tmp_path: Path, old: ProcessState, new: ProcessState) -> None:
    sup = JanusSupervisor(SupervisorConfig(folder=tmp_path))
    sup.state = old
    sup._move(new)
    assert sup.state is new


async def test_start_twice_is_refused(make: Callable[..., JanusSupervisor]) -> None:
    sup = make()
    await sup.start()
    watch = sup._watch
    pid = sup.pid
    with pytest.raises(SupervisorError, match="running -> starting"):
        await sup.start()
    assert sup._watch is watch  # no second watcher
    assert sup.state is ProcessState.RUNNING
    assert sup.pid == pid
    assert len(launches(sup.config.folder)) == 1
