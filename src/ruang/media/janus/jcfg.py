"""Generate the configuration folder for the Janus that Ruang runs as a child process.

Only what Ruang uses is loaded: the AudioBridge and Streaming plugins and the WebSocket
transport bound to 127.0.0.1. Every secret is random per data folder and kept in
``janus/secrets.json`` so that a restart of Ruang finds the same ones. No demo rooms or
mountpoints are shipped (Debian's sample configs define some).

Format: libconfig-style ``.jcfg`` (``name = value`` inside ``section: { ... }``).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

# Everything Debian's package ships that Ruang does not use (janus refuses unknown names
# silently, so listing a missing one is harmless).
_DISABLED_PLUGINS = [
    "libjanus_duktape.so", "libjanus_echotest.so", "libjanus_lua.so", "libjanus_nosip.so",
    "libjanus_recordplay.so", "libjanus_sip.so", "libjanus_textroom.so",
    "libjanus_videocall.so", "libjanus_videoroom.so", "libjanus_voicemail.so",
]
_DISABLED_TRANSPORTS = [
    "libjanus_http.so", "libjanus_mqtt.so", "libjanus_nanomsg.so", "libjanus_pfunix.so",
    "libjanus_rabbitmq.so",
]


@dataclass(frozen=True)
class JanusSecrets:
    api_secret: str
    admin_secret: str
    audiobridge_admin_key: str
    streaming_admin_key: str

    @classmethod
    def generate(cls) -> JanusSecrets:
        return cls(*(secrets.token_urlsafe(24) for _ in range(4)))

    @classmethod
    def load_or_create(cls, path: Path) -> JanusSecrets:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        made = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(made), fh)
        tmp.replace(path)
        return made


@dataclass(frozen=True)
class JanusLayout:
    """What the generated config needs to know about this machine and instance."""

    lib_dir: Path
    ws_port: int
    rtp_port_range: str = "20000-40000"
    streaming_port_range: str = "41000-41999"
    event_loops: int = 0
    public_ip: str | None = None
    ice_enforce_list: str | None = None
    debug_level: int = 4


def find_lib_dir() -> Path | None:
    """Where Janus's plugins/transports folders live (multiarch on Debian)."""
    candidates = [*sorted(glob.glob("/usr/lib/*/janus")), "/usr/lib/janus",
                  "/usr/local/lib/janus", "/opt/janus/lib/janus"]
    for cand in candidates:
        if (Path(cand) / "plugins" / "libjanus_audiobridge.so").exists():
            return Path(cand)
    return None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _section(name: str, items: dict[str, str | int | bool]) -> str:
    lines = [f"{name}: {{"]
    for key, value in items.items():
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, int):
            rendered = str(value)
        else:
            rendered = _quote(value)
        lines.append(f"\t{key} = {rendered}")
    lines.append("}")
    return "\n".join(lines)


def render(layout: JanusLayout, sec: JanusSecrets, folder: Path) -> dict[str, str]:
    """The config files as name -> text (pure; :func:`write` puts them on disk)."""
    general: dict[str, str | int | bool] = {
        "configs_folder": str(folder),
        "plugins_folder": str(layout.lib_dir / "plugins"),
        "transports_folder": str(layout.lib_dir / "transports"),
        "events_folder": str(layout.lib_dir / "events"),
        "loggers_folder": str(layout.lib_dir / "loggers"),
        "debug_level": layout.debug_level,
        "debug_timestamps": True,
        "admin_secret": sec.admin_secret,
        "api_secret": sec.api_secret,
        "token_auth": False,
        "session_timeout": 60,
        "reclaim_session_timeout": 0,
        "server_name": "ruang-media",
        "protected_folders": "/bin,/boot,/dev,/etc,/initrd,/lib,/lib32,/lib64,/proc,/sbin,"
                             "/sys,/usr,/var",
    }
    if layout.event_loops > 0:
        general["event_loops"] = layout.event_loops
    nat: dict[str, str | int | bool] = {
        "ice_ignore_list": "vmnet,ifb",
        "ignore_mdns": True,
        "ipv6": False,
    }
    if layout.public_ip:
        nat["nat_1_1_mapping"] = layout.public_ip
        nat["keep_private_host"] = True
    if layout.ice_enforce_list:
        nat["ice_enforce_list"] = layout.ice_enforce_list
    janus = "\n".join([
        _section("general", general),
        _section("media", {"rtp_port_range": layout.rtp_port_range}),
        _section("nat", nat),
        _section("plugins", {"disable": ",".join(_DISABLED_PLUGINS)}),
        _section("transports", {"disable": ",".join(_DISABLED_TRANSPORTS)}),
        _section("loggers", {"disable": "libjanus_jsonlog.so"}),
        _section("events", {"broadcast": False}),
    ]) + "\n"
    ws = "\n".join([
        _section("general", {"json": "compact", "ws": True, "ws_port": layout.ws_port,
                             "ws_ip": "127.0.0.1", "wss": False, "ws_logging": "err"}),
        _section("admin", {"admin_ws": False, "admin_wss": False}),
    ]) + "\n"
    audiobridge = _section("general", {"admin_key": sec.audiobridge_admin_key,
                                       "lock_rtp_forward": True, "events": False}) + "\n"
    streaming = _section("general", {"admin_key": sec.streaming_admin_key,
                                     "rtp_port_range": layout.streaming_port_range,
                                     "events": False}) + "\n"
    return {
        "janus.jcfg": janus,
        "janus.transport.websockets.jcfg": ws,
        "janus.plugin.audiobridge.jcfg": audiobridge,
        "janus.plugin.streaming.jcfg": streaming,
    }


def write(layout: JanusLayout, sec: JanusSecrets, folder: Path) -> Path:
    """Write the config folder (mode 0700: it holds secrets); returns janus.jcfg's path."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, text in render(layout, sec, folder).items():
        target = folder / name
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        tmp.replace(target)
    return folder / "janus.jcfg"
