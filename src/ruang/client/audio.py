"""Audio for SDK participants: sources that speak, a recorder that listens, and analysis.

Everything runs at 48 kHz in 20 ms frames (960 samples), Opus's and AudioBridge's frame.
A source keeps one continuous timeline across peer connections, so a member promoted to the
stage continues their file where the clock is, rather than from the start.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 48000
FRAME = 960  # 20 ms
TIME_BASE = fractions.Fraction(1, RATE)

Samples = npt.NDArray[np.int16]


class AudioSource:
    """Produces mono int16 frames on demand; subclasses fill :meth:`render`."""

    def __init__(self) -> None:
        self.position = 0  # samples produced so far (across all tracks)
        # Called with (sample index, monotonic time) when a frame leaves the source; used to
        # timestamp tone onsets for latency measurements.
        self.on_frame: Callable[[int, float], None] | None = None

    def render(self, start: int, count: int) -> Samples:
        raise NotImplementedError

    def next_frame(self) -> Samples:
        chunk = self.render(self.position, FRAME)
        if self.on_frame is not None:
            self.on_frame(self.position, time.monotonic())
        self.position += FRAME
        return chunk


class ToneSource(AudioSource):
    """A sine tone, optionally gated on and off by a schedule function."""

    def __init__(self, freq: float, amplitude: float = 0.3,
                 gate: Callable[[int], bool] | None = None) -> None:
        super().__init__()
        self.freq = freq
        self.amplitude = amplitude
        self.gate = gate

    def render(self, start: int, count: int) -> Samples:
        if self.gate is not None and not self.gate(start):
            return np.zeros(count, dtype=np.int16)
        t = (np.arange(start, start + count, dtype=np.float64)) / RATE
        wave_ = np.sin(2 * math.pi * self.freq * t) * self.amplitude * 32767
        return wave_.astype(np.int16)


class SilenceSource(AudioSource):
    def render(self, start: int, count: int) -> Samples:
        return np.zeros(count, dtype=np.int16)


class WavSource(AudioSource):
    """Plays a WAV file (any rate and channel count; converted to 48 kHz mono)."""

    def __init__(self, path: Path, *, loop: bool = False) -> None:
        super().__init__()
        self.samples = read_wav(path)
        self.loop = loop

    @property
    def duration(self) -> float:
        return len(self.samples) / RATE

    def render(self, start: int, count: int) -> Samples:
        n = len(self.samples)
        if n == 0:
            return np.zeros(count, dtype=np.int16)
        if self.loop:
            idx = (np.arange(start, start + count)) % n
            return self.samples[idx]
        out = np.zeros(count, dtype=np.int16)
        if start < n:
            part = self.samples[start:start + count]
            out[:len(part)] = part
        return out

    def finished(self) -> bool:
        return not self.loop and self.position >= len(self.samples)


class WavFormatError(ValueError):
    """The file is not a PCM WAV file this SDK can read."""


def read_wav(path: Path) -> Samples:
    """Read a PCM WAV file as 48 kHz mono int16 (resampling linearly when needed)."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{path}: not a PCM WAV file ({exc})") from exc
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) * 256
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536
    else:
        raise WavFormatError(f"{path}: unsupported sample width {width * 8} bits")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    if rate != RATE and len(data) > 1:
        n_out = round(len(data) * RATE / rate)
        data = np.interp(np.linspace(0, len(data) - 1, n_out), np.arange(len(data)), data)
    return np.clip(data, -32768, 32767).astype(np.int16)


def write_wav(path: Path, samples: Samples, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def tone_wav(path: Path, freq: float, seconds: float, amplitude: float = 0.3) -> None:
    src = ToneSource(freq, amplitude)
    write_wav(path, src.render(0, int(seconds * RATE)))


@dataclass
class Recorder:
    """Collects what a participant hears: 48 kHz mono int16, with arrival times per frame."""

    chunks: list[Samples] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each chunk
    frames: int = 0
    first_audio_at: float | None = None  # first chunk whose level passes the threshold
    threshold: int = 500
    on_chunk: Callable[[Samples, float], None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, samples: Samples, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self.chunks.append(samples)
        self.arrivals.append(at)
        self.frames += 1
        if self.first_audio_at is None and samples.size and int(np.abs(samples).max()) > \
                self.threshold:
            self.first_audio_at = at
        if self.on_chunk is not None:
            self.on_chunk(samples, at)

    def samples(self, last_seconds: float | None = None) -> Samples:
        if not self.chunks:
            return np.zeros(0, dtype=np.int16)
        data = np.concatenate(self.chunks)
        if last_seconds is not None:
            data = data[-int(last_seconds * RATE):]
        return data

    def clear(self) -> None:
        self.chunks.clear()
        self.arrivals.clear()

    def save(self, path: Path) -> None:
        write_wav(path, self.samples())


def frame_to_mono(frame: Any) -> Samples:
    """An av.AudioFrame (s16, any layout) as mono int16."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if arr.ndim == 2 and arr.shape[0] == 1 and channels > 1:
        # packed (interleaved) stereo comes as shape (1, samples*channels)
        arr = arr.reshape(-1, channels).mean(axis=1)
    elif arr.ndim == 2 and arr.shape[0] > 1:
        arr = arr.mean(axis=0)
    else:
        arr = arr.reshape(-1)
    return np.asarray(arr).astype(np.int16)


# --- analysis ---------------------------------------------------------------------------


def rms(samples: Samples) -> float:
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def spectrum(samples: Samples, rate: int = RATE) -> tuple[npt.NDArray[np.float64],
                                                           npt.NDArray[np.float64]]:
    data = samples.astype(np.float64)
    data = data - data.mean()
    win = np.hanning(len(data))
    mag = np.abs(np.fft.rfft(data * win)).astype(np.float64)
    freqs = np.fft.rfftfreq(len(data), 1 / rate).astype(np.float64)
    return freqs, mag


def dominant_frequency(samples: Samples, rate: int = RATE) -> float:
    """The strongest frequency, refined by parabolic interpolation (sub-bin accuracy)."""
    if samples.size < 64:
        return 0.0
    freqs, mag = spectrum(samples, rate)
    k = int(np.argmax(mag[1:]) + 1)
    if 1 <= k < len(mag) - 1:
        a, b, c = np.log(mag[k - 1] + 1e-12), np.log(mag[k] + 1e-12), np.log(mag[k + 1] + 1e-12)
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        shift = 0.0
    return float(freqs[k] + shift * (freqs[1] - freqs[0]))


def band_energy_ratio(samples: Samples, freq: float, width: float = 20.0,
                      rate: int = RATE) -> float:
    """Share of the signal's energy within ``freq`` +- ``width`` Hz (1.0 = a pure tone)."""
    if samples.size < 64:
        return 0.0
    freqs, mag = spectrum(samples, rate)
    power = mag ** 2
    total = float(power[1:].sum())
    if total <= 0:
        return 0.0
    band = (freqs >= freq - width) & (freqs <= freq + width)
    return float(power[band].sum() / total)


def tone_present(samples: Samples, freq: float, width: float = 20.0,
                 min_share: float = 0.05) -> bool:
    return band_energy_ratio(samples, freq, width) >= min_share and rms(samples) > 100


def onset_index(samples: Samples, threshold: int = 1000) -> int | None:
    """Index of the first sample whose magnitude passes the threshold."""
    hits = np.nonzero(np.abs(samples.astype(np.int32)) > threshold)[0]
    return int(hits[0]) if hits.size else None
