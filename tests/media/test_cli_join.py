"""`ruang join` from terminals: a host speaks a WAV file, a listener records it to WAV."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from ruang.client.audio import dominant_frequency, read_wav, tone_wav
from tests.conftest import LiveServer


async def test_join_play_and_record_wav(media_live: LiveServer, tmp_path: Path) -> None:
    host = await media_live.member("host")
    await (await media_live.member("bob")).close()
    room = await host.create_room("Terminals")
    await host.close()
    tone_wav(tmp_path / "tone.wav", 523.25, 3.0)
    env = {**os.environ, "RUANG_SERVER": media_live.url}

    async def join(*args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ruang.cli", "join", str(room["id"]), *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    speaker = await join("--user", "host", "--password", "tambourine-42", "--play",
                         str(tmp_path / "tone.wav"), "--duration", "9")
    await asyncio.sleep(1.0)
    listener = await join("--user", "bob", "--password", "tambourine-42", "--record",
                          str(tmp_path / "bob.wav"), "--duration", "5")
    out_l, err_l = await listener.communicate()
    out_s, err_s = await speaker.communicate()
    assert listener.returncode == 0, err_l.decode()
    assert speaker.returncode == 0, err_s.decode()
    said = out_l.decode()
    assert "joined room" in said
    assert "as listener" in said
    assert "audio connected" in said
    assert "left the room" in said
    assert "as moderator" in out_s.decode()
    heard = read_wav(tmp_path / "bob.wav")
    assert len(heard) > 3 * 48000
    assert abs(dominant_frequency(heard[48000:3 * 48000]) - 523.25) < 2
