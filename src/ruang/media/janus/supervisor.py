"""Run Janus as a supervised child process with a generated config.

The supervisor owns the process lifecycle (:class:`ProcessState`): it writes the config, starts
Janus, waits for its WebSocket port, and restarts it with backoff when it exits unexpectedly.
It does not talk the Janus API: the media engine notices the lost session and rebuilds the
rooms on the new process by itself (docs/media.md).

The child gets PR_SET_PDEATHSIG so that a Ruang killed with SIGKILL does not leave an orphan
Janus holding the ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import logging
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ruang.media.janus import jcfg

log = logging.getLogger(__name__)


class SupervisorError(Exception):
    """Janus cannot be started (binary missing, no plugins folder, port never opened)."""


class ProcessState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"


_LEGAL = {
    ProcessState.STOPPED: {ProcessState.STARTING},
    ProcessState.STARTING: {ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STOPPING},
    ProcessState.RUNNING: {ProcessState.BACKOFF, ProcessState.STOPPING},
    ProcessState.BACKOFF: {ProcessState.STARTING, ProcessState.STOPPING},
    ProcessState.STOPPING: {ProcessState.STOPPED},
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class SupervisorConfig:
    folder: Path
    binary: str | None = None
    ws_port: int = 0
    rtp_port_range: str = "20000-29999"
    streaming_port_range: str = "30000-30999"
    event_loops: int = 0
    public_ip: str | None = None
    ice_enforce_list: str | None = None
    debug_level: int = 4
    start_timeout: float = 15.0


class JanusSupervisor:
    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self.state = ProcessState.STOPPED
        self.secrets = jcfg.JanusSecrets.load_or_create(config.folder / "secrets.json")
        self.ws_port = config.ws_port or free_port()
        self.restarts = 0
        self.started_at: float | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stop_requested = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _move(self, new: ProcessState) -> None:
        if new not in _LEGAL[self.state]:
            raise SupervisorError(f"illegal Janus process transition {self.state.value} -> "
                                  f"{new.value}")
        self.state = new

    def _binary(self) -> str:
        binary = self.config.binary or shutil.which("janus") or (
            "/usr/bin/janus" if os.path.exists("/usr/bin/janus") else None)
        if binary is None or shutil.which(binary) is None:
            missing = f" ({binary} not found)" if binary else ""
            raise SupervisorError(
                f"Janus is not installed{missing}: run `apt-get install janus` (Debian/Ubuntu) "
                "or set RUANG_JANUS_URL to use an external Janus")
        return binary

    def _lib_dir(self) -> Path:
        lib_dir = jcfg.find_lib_dir()
        if lib_dir is None:
            raise SupervisorError("Janus plugins folder not found (looked in /usr/lib/*/janus)")
        return lib_dir

    def _write_config(self) -> Path:
        lib_dir = self._lib_dir()
        layout = jcfg.JanusLayout(
            lib_dir=lib_dir, ws_port=self.ws_port, rtp_port_range=self.config.rtp_port_range,
            streaming_port_range=self.config.streaming_port_range,
            event_loops=self.config.event_loops, public_ip=self.config.public_ip,
            ice_enforce_list=self.config.ice_enforce_list, debug_level=self.config.debug_level)
        return jcfg.write(layout, self.secrets, self.config.folder / "conf")

    async def start(self) -> None:
        """Start Janus and keep it running.

        Raises SupervisorError when Janus cannot run here at all (not installed, no plugins);
        a Janus that merely fails to start is retried with backoff in the background."""
        if self.state is not ProcessState.STOPPED:
            raise SupervisorError(f"illegal Janus process transition {self.state.value} -> "
                                  "starting (already started)")
        self._stop_requested = False
        self._binary()
        self._lib_dir()
        try:
            await self._spawn()
        except SupervisorError as exc:
            log.error("Janus failed to start, will retry: %s", exc)
        self._watch = asyncio.create_task(self._watch_loop(), name="janus-supervisor")

    async def _spawn(self) -> None:
        self._move(ProcessState.STARTING)
        try:
            await self._launch()
        except BaseException:
            if self.state is ProcessState.STARTING:
                self._move(ProcessState.BACKOFF)
            raise

    async def _launch(self) -> None:
        binary = self._binary()
        cfg = self._write_config()
        logfile = self.config.folder / "janus.log"
        # Keep the previous run's log for post-mortems.
        if logfile.exists():
            logfile.replace(self.config.folder / "janus.log.1")
        argv = [binary, "-C", str(cfg), "-F", str(cfg.parent), "-L", str(logfile), "-N", "-o"]
        log.info("starting Janus", extra={"argv": argv[:1], "ws_port": self.ws_port})
        self._proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, preexec_fn=_set_pdeathsig)
        deadline = time.monotonic() + self.config.start_timeout
        while True:
            if self._proc.returncode is not None:
                raise SupervisorError(f"Janus exited during start-up with code "
                                      f"{self._proc.returncode}; see {logfile}")
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", self.ws_port)
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()
                break
            except OSError:
                if time.monotonic() > deadline:
                    await self._terminate()
                    raise SupervisorError(f"Janus did not open port {self.ws_port} within "
                                          f"{self.config.start_timeout:.0f} s; "
                                          f"see {logfile}") from None
                await asyncio.sleep(0.05)
        self.started_at = time.monotonic()
        self._move(ProcessState.RUNNING)
        log.info("Janus running", extra={"pid": self._proc.pid, "ws_port": self.ws_port})

    async def _watch_loop(self) -> None:
        backoff = 0.5
        while not self._stop_requested:
            proc = self._proc
            if proc is not None and self.state is ProcessState.RUNNING:
                code = await proc.wait()
                if self._stop_requested:
                    return
                log.error("Janus exited unexpectedly", extra={"returncode": code})
                self._move(ProcessState.BACKOFF)
                if self.started_at and time.monotonic() - self.started_at > 30:
                    backoff = 0.5
            await asyncio.sleep(backoff)
            if self._stop_requested:
                return
            backoff = min(backoff * 2, 10.0)
            try:
                await self._spawn()
                self.restarts += 1
            except SupervisorError as exc:
                log.error("Janus restart failed: %s", exc)

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def stop(self) -> None:
        self._stop_requested = True
        if self.state is ProcessState.STOPPED:
            return
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        self.state = ProcessState.STOPPING
        await self._terminate()
        self._move(ProcessState.STOPPED)

    def health(self) -> dict[str, object]:
        return {"process": self.state.value, "pid": self.pid, "restarts": self.restarts}
