"""ruang.media.janus.jcfg: the generated Janus configuration folder and its secrets."""

from __future__ import annotations

import glob
import json
import os
import re
import stat
from pathlib import Path

import pytest

from ruang.media.janus import jcfg

Value = str | int | bool
Config = dict[str, dict[str, Value]]

_STRING = r'"((?:[^"\\]|\\.)*)"'


def parse_jcfg(text: str) -> Config:
    """A strict reader for the subset of libconfig that render() writes."""
    out: Config = {}
    section: dict[str, Value] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if section is None:
            m = re.fullmatch(r"([a-z_]+): \{", line)
            assert m, f"line {lineno}: expected a section start: {line!r}"
            assert m.group(1) not in out, f"duplicate section {m.group(1)}"
            section = out.setdefault(m.group(1), {})
            continue
        if line == "}":
            section = None
            continue
        m = re.fullmatch(r"\t([a-z_0-9]+) = (.*)", line)
        assert m, f"line {lineno}: expected a setting: {line!r}"
        key, raw = m.groups()
        assert key not in section, f"duplicate key {key}"
        value: Value
        if raw in ("true", "false"):
            value = raw == "true"
        elif re.fullmatch(r"-?\d+", raw):
            value = int(raw)
        else:
            sm = re.fullmatch(_STRING, raw)
            assert sm, f"line {lineno}: badly quoted string {raw!r}"
            value = re.sub(r"\\(.)", r"\1", sm.group(1))
        section[key] = value
    assert section is None, "unterminated section"
    return out


SECRETS = jcfg.JanusSecrets(api_secret="api-SECRET", admin_secret="admin-SECRET",
                            audiobridge_admin_key="ab-KEY", streaming_admin_key="st-KEY")


@pytest.fixture
def layout(tmp_path: Path) -> jcfg.JanusLayout:
    return jcfg.JanusLayout(lib_dir=tmp_path / "lib" / "janus", ws_port=18188)


def render(layout: jcfg.JanusLayout, folder: Path = Path("/srv/ruang/janus/conf"),
           sec: jcfg.JanusSecrets = SECRETS) -> dict[str, Config]:
    return {name: parse_jcfg(text) for name, text in jcfg.render(layout, sec, folder).items()}


# --- render -----------------------------------------------------------------------------------


def test_render_produces_the_four_files(layout: jcfg.JanusLayout) -> None:
    files = jcfg.render(layout, SECRETS, Path("/x"))
    assert set(files) == {"janus.jcfg", "janus.transport.websockets.jcfg",
                          "janus.plugin.audiobridge.jcfg", "janus.plugin.streaming.jcfg"}
    for text in files.values():
        assert text.endswith("}\n")


def test_render_is_pure(layout: jcfg.JanusLayout, tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    assert jcfg.render(layout, SECRETS, folder) == jcfg.render(layout, SECRETS, folder)
    assert not folder.exists()


def test_janus_general_section(layout: jcfg.JanusLayout) -> None:
    general = render(layout, Path("/srv/conf"))["janus.jcfg"]["general"]
    lib = layout.lib_dir
    assert general["configs_folder"] == "/srv/conf"
    assert general["plugins_folder"] == str(lib / "plugins")
    assert general["transports_folder"] == str(lib / "transports")
    assert general["events_folder"] == str(lib / "events")
    assert general["loggers_folder"] == str(lib / "loggers")
    assert general["api_secret"] == "api-SECRET"
    assert general["admin_secret"] == "admin-SECRET"
    assert general["token_auth"] is False
    assert general["debug_level"] == 4
    assert isinstance(general["session_timeout"], int)
    assert general["session_timeout"] > 0


def test_only_audiobridge_and_streaming_plugins_load(layout: jcfg.JanusLayout) -> None:
    cfg = render(layout)["janus.jcfg"]
    disabled = str(cfg["plugins"]["disable"]).split(",")
    for plugin in ("libjanus_videoroom.so", "libjanus_echotest.so", "libjanus_sip.so",
                   "libjanus_textroom.so", "libjanus_videocall.so", "libjanus_recordplay.so",
                   "libjanus_voicemail.so", "libjanus_nosip.so", "libjanus_lua.so",
                   "libjanus_duktape.so"):
        assert plugin in disabled
    assert "libjanus_audiobridge.so" not in disabled
    assert "libjanus_streaming.so" not in disabled
    assert all(name.startswith("libjanus_") and name.endswith(".so") for name in disabled)


def test_only_websocket_transport_loads(layout: jcfg.JanusLayout) -> None:
    cfg = render(layout)["janus.jcfg"]
    disabled = str(cfg["transports"]["disable"]).split(",")
    for transport in ("libjanus_http.so", "libjanus_mqtt.so", "libjanus_nanomsg.so",
                      "libjanus_pfunix.so", "libjanus_rabbitmq.so"):
        assert transport in disabled
    assert "libjanus_websockets.so" not in disabled
    assert cfg["events"]["broadcast"] is False
    assert cfg["loggers"]["disable"] == "libjanus_jsonlog.so"


def test_disabled_lists_match_what_janus_ships_here(layout: jcfg.JanusLayout) -> None:
    """Every plugin/transport installed on this machine is either used or disabled."""
    lib = jcfg.find_lib_dir()
    if lib is None:
        pytest.skip("Janus is not installed here")
    cfg = render(layout)["janus.jcfg"]
    for kind, keep in (("plugins", {"libjanus_audiobridge.so", "libjanus_streaming.so"}),
                       ("transports", {"libjanus_websockets.so"})):
        disabled = set(str(cfg[kind]["disable"]).split(","))
        installed = {p.name for p in (lib / kind).glob("libjanus_*.so")}
        assert installed - disabled <= keep, f"{kind} that would load: {installed - disabled}"


def test_websocket_transport_on_loopback(layout: jcfg.JanusLayout) -> None:
    ws = render(layout)["janus.transport.websockets.jcfg"]
    assert ws["general"]["ws"] is True
    assert ws["general"]["ws_port"] == 18188
    assert ws["general"]["ws_ip"] == "127.0.0.1"
    assert ws["general"]["wss"] is False
    assert ws["admin"] == {"admin_ws": False, "admin_wss": False}


def test_plugin_configs_carry_admin_keys_and_no_rooms(layout: jcfg.JanusLayout) -> None:
    cfg = render(layout)
    ab = cfg["janus.plugin.audiobridge.jcfg"]
    st = cfg["janus.plugin.streaming.jcfg"]
    assert set(ab) == {"general"}  # no demo rooms
    assert set(st) == {"general"}  # no demo mountpoints
    assert ab["general"]["admin_key"] == "ab-KEY"
    assert ab["general"]["lock_rtp_forward"] is True
    assert st["general"]["admin_key"] == "st-KEY"
    assert st["general"]["rtp_port_range"] == "41000-41999"


def test_port_ranges(tmp_path: Path) -> None:
    layout = jcfg.JanusLayout(lib_dir=tmp_path, ws_port=1, rtp_port_range="20000-20099",
                              streaming_port_range="30000-30009")
    cfg = render(layout)
    assert cfg["janus.jcfg"]["media"]["rtp_port_range"] == "20000-20099"
    assert cfg["janus.plugin.streaming.jcfg"]["general"]["rtp_port_range"] == "30000-30009"


def test_every_secret_is_in_the_output(layout: jcfg.JanusLayout) -> None:
    texts = jcfg.render(layout, SECRETS, Path("/x"))
    everything = "".join(texts.values())
    for value in (SECRETS.api_secret, SECRETS.admin_secret, SECRETS.audiobridge_admin_key,
                  SECRETS.streaming_admin_key):
        assert f'"{value}"' in everything


def test_nat_without_public_ip(layout: jcfg.JanusLayout) -> None:
    nat = render(layout)["janus.jcfg"]["nat"]
    assert "nat_1_1_mapping" not in nat
    assert "keep_private_host" not in nat
    assert "ice_enforce_list" not in nat
    assert nat["ipv6"] is False


def test_nat_with_public_ip_and_interfaces(tmp_path: Path) -> None:
    layout = jcfg.JanusLayout(lib_dir=tmp_path, ws_port=1, public_ip="203.0.113.7",
                              ice_enforce_list="eth0")
    nat = render(layout)["janus.jcfg"]["nat"]
    assert nat["nat_1_1_mapping"] == "203.0.113.7"
    assert nat["keep_private_host"] is True
    assert nat["ice_enforce_list"] == "eth0"


@pytest.mark.parametrize(("loops", "expected"), [(0, None), (-1, None), (1, 1), (8, 8)])
def test_event_loops_only_when_positive(tmp_path: Path, loops: int,
                                        expected: int | None) -> None:
    layout = jcfg.JanusLayout(lib_dir=tmp_path, ws_port=1, event_loops=loops)
    general = render(layout)["janus.jcfg"]["general"]
    assert general.get("event_loops") == expected


def test_debug_level(tmp_path: Path) -> None:
    layout = jcfg.JanusLayout(lib_dir=tmp_path, ws_port=1, debug_level=7)
    assert render(layout)["janus.jcfg"]["general"]["debug_level"] == 7


def test_values_with_quotes_and_backslashes_round_trip(tmp_path: Path) -> None:
    tricky = jcfg.JanusSecrets(api_secret='a"b', admin_secret="c\\d",
                               audiobridge_admin_key='\\"', streaming_admin_key='x\\\\"y"')
    folder = tmp_path / 'odd "dir" \\ name'
    layout = jcfg.JanusLayout(lib_dir=tmp_path, ws_port=1)
    texts = jcfg.render(layout, tricky, folder)
    assert '\tapi_secret = "a\\"b"' in texts["janus.jcfg"].splitlines()
    assert '\tadmin_secret = "c\\\\d"' in texts["janus.jcfg"].splitlines()
    cfg = {name: parse_jcfg(text) for name, text in texts.items()}
    general = cfg["janus.jcfg"]["general"]
    assert general["api_secret"] == 'a"b'
    assert general["admin_secret"] == "c\\d"
    assert general["configs_folder"] == str(folder)
    assert cfg["janus.plugin.audiobridge.jcfg"]["general"]["admin_key"] == '\\"'
    assert cfg["janus.plugin.streaming.jcfg"]["general"]["admin_key"] == 'x\\\\"y"'


def test_bool_is_not_rendered_as_int(tmp_path: Path) -> None:
    text = jcfg.render(jcfg.JanusLayout(lib_dir=tmp_path, ws_port=1), SECRETS,
                       tmp_path)["janus.jcfg"]
    assert "\ttoken_auth = false" in text.splitlines()
    assert "\tdebug_timestamps = true" in text.splitlines()


# --- secrets ----------------------------------------------------------------------------------


def test_generated_secrets_are_random_and_distinct() -> None:
    a, b = jcfg.JanusSecrets.generate(), jcfg.JanusSecrets.generate()
    assert a != b
    values = [a.api_secret, a.admin_secret, a.audiobridge_admin_key, a.streaming_admin_key]
    assert len(set(values)) == 4
    assert all(len(v) >= 32 for v in values)


def test_load_or_create_creates_private_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "janus" / "secrets.json"
    made = jcfg.JanusSecrets.load_or_create(path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "api_secret": made.api_secret, "admin_secret": made.admin_secret,
        "audiobridge_admin_key": made.audiobridge_admin_key,
        "streaming_admin_key": made.streaming_admin_key}
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_load_or_create_returns_same_secrets_second_time(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = jcfg.JanusSecrets.load_or_create(path)
    mtime = path.stat().st_mtime_ns
    second = jcfg.JanusSecrets.load_or_create(path)
    assert second == first
    assert path.stat().st_mtime_ns == mtime  # not rewritten


def test_load_or_create_reads_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"api_secret": "a", "admin_secret": "b",
                                "audiobridge_admin_key": "c", "streaming_admin_key": "d"}))
    assert jcfg.JanusSecrets.load_or_create(path) == jcfg.JanusSecrets("a", "b", "c", "d")


def test_load_or_create_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "secrets.json"
        jcfg.JanusSecrets.load_or_create(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- write ------------------------------------------------------------------------------------


def test_write_creates_private_folder_and_files(tmp_path: Path,
                                                layout: jcfg.JanusLayout) -> None:
    folder = tmp_path / "data" / "janus" / "conf"
    main = jcfg.write(layout, SECRETS, folder)
    assert main == folder / "janus.jcfg"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(jcfg.render(layout, SECRETS, folder))  # no .tmp files
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert parse_jcfg(main.read_text())["general"]["configs_folder"] == str(folder)
    for name, text in jcfg.render(layout, SECRETS, folder).items():
        assert (folder / name).read_text() == text


def test_write_tightens_existing_folder_and_overwrites(tmp_path: Path,
                                                       layout: jcfg.JanusLayout) -> None:
    folder = tmp_path / "conf"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    old = folder / "janus.transport.websockets.jcfg"
    old.write_text("stale")
    old.chmod(0o644)
    jcfg.write(layout, SECRETS, folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert parse_jcfg(old.read_text())["general"]["ws_port"] == 18188


# --- find_lib_dir -----------------------------------------------------------------------------


def test_find_lib_dir_picks_first_with_audiobridge(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "aarch64" / "janus"
    real = tmp_path / "x86_64" / "janus"
    (empty / "plugins").mkdir(parents=True)
    (real / "plugins").mkdir(parents=True)
    (real / "plugins" / "libjanus_audiobridge.so").write_bytes(b"")
    monkeypatch.setattr(glob, "glob", lambda pattern: [str(empty), str(real)])
    assert jcfg.find_lib_dir() == real


def test_find_lib_dir_on_this_machine() -> None:
    found = jcfg.find_lib_dir()
    if found is None:
        pytest.skip("Janus is not installed here")
    assert (found / "plugins" / "libjanus_audiobridge.so").exists()
