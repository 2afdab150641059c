"""``ruang bench web``: the web app in a real browser (Debian's chromium, driven by Playwright).

Two measures from issue 5, on a private network namespace (re-executing itself into one):

1. first load of the hallway on a cold cache: the JavaScript and CSS it transfers, compressed
   (the sum of Resource Timing ``encodedBodySize``: what came over the wire, without headers);
2. a listener's tap on a room card in the hallway to the first audible audio: the time from
   the click (the event's own timestamp) to the first moment the app's analyser on the
   received stream reads a level above a threshold, while a speaker (an aiortc client from the
   SDK) plays a continuous 440 Hz tone into the room. The listener then leaves and taps again:
   every sample is a new join with a new WebRTC negotiation.

A Ruang server (``ruang serve``: SQLite, its own Janus, the built web app) runs as a child
process. The last line printed is the JSON result.

The browser tests (tests/browser) use the same launch options, tone files and probes, from
this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ruang import netns
from ruang.bench import report

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Playwright

CHROMIUM_ENV = "RUANG_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Flags every browser gets (see shared/notes on headless Chromium as a real client).
BASE_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
AUTOPLAY_ARG = "--autoplay-policy=no-user-gesture-required"

# A level above this (RMS 0..1 of the received audio, the app's analyser) is "audible".
AUDIBLE = 0.01


def chromium_path() -> str | None:
    """Debian's chromium (or RUANG_CHROMIUM); None when it is not installed."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    return shutil.which("chromium")


def chromium_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = [p for p in out.split() if p[:1].isdigit()]
    return parts[0] if parts else None


def web_dist() -> Path:
    """The built web app (web/dist) of this checkout."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "web").is_dir():
            return parent / "web" / "dist"
    return Path.cwd() / "web" / "dist"


def chromium_args(*, microphone: Path | None = None, autoplay: bool = True) -> list[str]:
    """Command-line flags: a speaker's fake microphone plays ``microphone`` (a WAV, looped)."""
    args = list(BASE_ARGS)
    if autoplay:
        args.append(AUTOPLAY_ARG)
    if microphone is not None:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={microphone}"]
    return args


async def launch(pw: Playwright, *, microphone: Path | None = None,
                 autoplay: bool = True, slow_mo: float | None = None) -> Browser:
    """A fresh headless chromium (its own temporary profile) that really plays audio.

    Playwright adds ``--mute-audio`` by default, which zeroes the inbound audio levels that
    WebRTC statistics report: it is left out."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    return await pw.chromium.launch(
        executable_path=path, headless=True,
        args=chromium_args(microphone=microphone, autoplay=autoplay),
        ignore_default_args=["--mute-audio"], slow_mo=slow_mo, timeout=30_000)


def write_tone(path: Path, freq: float, *, seconds: float = 4.0, amplitude: float = 0.3,
               rate: int = 48_000) -> Path:
    """A mono 16-bit WAV of a sine wave; a whole number of periods per file, so the fake
    microphone's loop has no click."""
    periods = max(1, round(freq * seconds))
    n = round(periods * rate / freq)
    t = np.arange(n, dtype=np.float64) / rate
    samples = (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


# --- what a page hears ------------------------------------------------------------------------

# One reading: the app's analyser (level, strongest frequency) and the WebRTC statistics of
# the current PeerConnection (inbound-rtp audio: energy, level, packets).
PROBE_JS = """
async () => {
  const r = window.__ruang;
  const out = {level: 0, peak: 0, energy: null, stats_level: null, packets: null,
               t: performance.now()};
  if (!r) return out;
  out.level = typeof r.audioLevel === "function" ? r.audioLevel() : 0;
  out.peak = typeof r.peakHz === "function" ? r.peakHz() : 0;
  const pc = typeof r.pc === "function" ? r.pc() : null;
  if (pc) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.energy = (out.energy || 0) + (s.totalAudioEnergy || 0);
        out.stats_level = Math.max(out.stats_level || 0, s.audioLevel || 0);
        out.packets = (out.packets || 0) + (s.packetsReceived || 0);
      }
    });
  }
  return out;
}
"""


@dataclass
class Heard:
    """What a page received over a stretch of time (readings every ~100 ms)."""

    levels: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    energy_start: float | None = None
    energy_end: float | None = None
    packets_start: int | None = None
    packets_end: int | None = None
    seconds: float = 0.0

    @property
    def level(self) -> float:
        """The median analyser level."""
        return statistics.median(self.levels) if self.levels else 0.0

    @property
    def energy_per_second(self) -> float | None:
        """Inbound totalAudioEnergy gained per second (WebRTC statistics), or None."""
        if self.energy_start is None or self.energy_end is None or self.seconds <= 0:
            return None
        return (self.energy_end - self.energy_start) / self.seconds

    @property
    def packets(self) -> int | None:
        if self.packets_start is None or self.packets_end is None:
            return None
        return self.packets_end - self.packets_start

    def share_near(self, freq: float, tolerance: float = 15.0) -> float:
        """Share of the readings whose strongest frequency is within ``tolerance`` Hz."""
        if not self.peaks:
            return 0.0
        return sum(1 for p in self.peaks if abs(p - freq) <= tolerance) / len(self.peaks)

    def tone(self, freq: float) -> bool:
        """This tone is what the page hears: audible, and the strongest frequency most of
        the time."""
        return self.level > AUDIBLE and self.share_near(freq) >= 0.6

    def silent(self) -> bool:
        return self.level < AUDIBLE / 2

    def describe(self) -> str:
        peaks = sorted(round(p) for p in self.peaks)
        mid = peaks[len(peaks) // 2] if peaks else None
        return (f"level median {self.level:.4f} (max {max(self.levels, default=0):.4f}), "
                f"peak median {mid} Hz, energy/s {self.energy_per_second}, "
                f"packets {self.packets}")


async def probe(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(PROBE_JS)
    return result


async def listen(page: Page, seconds: float = 1.5, interval: float = 0.1) -> Heard:
    """Read what the page hears for ``seconds``."""
    heard = Heard()
    t0 = time.monotonic()
    first = await probe(page)
    heard.energy_start, heard.packets_start = first["energy"], first["packets"]
    last = first
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(interval)
        last = await probe(page)
        heard.levels.append(float(last["level"] or 0))
        if last["level"] and last["level"] > AUDIBLE / 2:
            heard.peaks.append(float(last["peak"] or 0))
    heard.energy_end, heard.packets_end = last["energy"], last["packets"]
    heard.seconds = time.monotonic() - t0
    return heard


async def wait_hearing(page: Page, freq: float | None, timeout: float = 15.0,
                       window: float = 1.0) -> Heard:
    """Wait until the page hears ``freq`` (or anything audible when None) over a window."""
    deadline = time.monotonic() + timeout
    while True:
        heard = await listen(page, window)
        if (heard.tone(freq) if freq is not None else heard.level > AUDIBLE):
            return heard
        if time.monotonic() > deadline:
            raise AssertionError(f"did not hear {freq or 'audio'} within {timeout} s: "
                                 f"{heard.describe()}")


async def wait_silent(page: Page, timeout: float = 10.0, window: float = 1.0) -> Heard:
    deadline = time.monotonic() + timeout
    while True:
        heard = await listen(page, window)
        if heard.silent():
            return heard
        if time.monotonic() > deadline:
            raise AssertionError(f"still audible after {timeout} s: {heard.describe()}")


# --- tap to first audio -----------------------------------------------------------------------

# Installed before the tap: remembers the timestamp of the next click (in the capture phase,
# before the app reacts) and polls the analyser every 5 ms until the level is audible.
ARM_JS = """
(threshold) => {
  const w = window;
  w.__w2 = {tap: null, audible: null};
  document.addEventListener("click", (e) => {
    if (w.__w2.tap !== null) return;
    w.__w2.tap = e.timeStamp;
    const poll = () => {
      const level = w.__ruang && w.__ruang.audioLevel ? w.__ruang.audioLevel() : 0;
      if (level > threshold) { w.__w2.audible = performance.now(); return; }
      setTimeout(poll, 5);
    };
    poll();
  }, {capture: true, once: true});
}
"""

TIMELINE_JS = "() => (window.__ruang && window.__ruang.timeline) || []"


async def arm(page: Page) -> None:
    await page.evaluate(ARM_JS, AUDIBLE)


async def tap_to_audio_ms(page: Page, timeout: float = 15.0) -> tuple[float, dict[str, float]]:
    """After :func:`arm` and a click: milliseconds from the click to audible audio, and the
    app's own timeline marks after the click (ms after the click, first of each name)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await page.evaluate("() => window.__w2")
        if got and got["tap"] is not None and got["audible"] is not None:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no audible audio {timeout} s after the tap ({got})")
        await asyncio.sleep(0.05)
    tap = float(got["tap"])
    marks: dict[str, float] = {}
    for m in await page.evaluate(TIMELINE_JS):
        if m["t"] >= tap - 50 and m["name"] not in marks:
            marks[m["name"]] = round(m["t"] - tap, 1)
    return float(got["audible"]) - tap, marks


# --- cold load of the hallway -----------------------------------------------------------------

RESOURCES_JS = """
() => performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
  .map((e) => ({name: e.name, type: e.initiatorType, encoded: e.encodedBodySize,
                decoded: e.decodedBodySize, transfer: e.transferSize}))
"""


@dataclass
class Bundle:
    js_encoded: int
    css_encoded: int
    js_decoded: int
    css_decoded: int
    files: list[dict[str, Any]]
    encodings: dict[str, str]

    @property
    def encoded(self) -> int:
        return self.js_encoded + self.css_encoded

    def as_dict(self) -> dict[str, Any]:
        return {"js_css_kb": round(self.encoded / 1000, 1),
                "js_kb": round(self.js_encoded / 1000, 1),
                "css_kb": round(self.css_encoded / 1000, 1),
                "js_css_uncompressed_kb": round((self.js_decoded + self.css_decoded) / 1000, 1),
                "files": len(self.files), "encodings": sorted(set(self.encodings.values()))}


def _kind(url: str) -> str | None:
    path = url.split("?", 1)[0].split("#", 1)[0]
    if path.endswith((".js", ".mjs")):
        return "js"
    if path.endswith(".css"):
        return "css"
    return None


async def cold_load(browser: Browser, url: str, *, settle: float = 1.0,
                    ready_selector: str = "main[data-ready=true]") -> Bundle:
    """Open ``url`` in a new context (empty cache, no service worker) and sum what its
    JavaScript and CSS transferred."""
    context = await browser.new_context(service_workers="block")
    try:
        page = await context.new_page()
        encodings: dict[str, str] = {}

        async def on_response(resp: Any) -> None:
            if _kind(resp.url):
                headers = await resp.all_headers()
                encodings[resp.url] = headers.get("content-encoding", "identity")

        page.on("response", on_response)
        await page.goto(url, wait_until="networkidle", timeout=30_000)
        await page.wait_for_selector(ready_selector, timeout=15_000)
        await asyncio.sleep(settle)  # lazily loaded chunks of the first screen
        entries = await page.evaluate(RESOURCES_JS)
    finally:
        await context.close()
    files = [e for e in entries if _kind(e["name"])]
    js = [e for e in files if _kind(e["name"]) == "js"]
    css = [e for e in files if _kind(e["name"]) == "css"]
    return Bundle(js_encoded=sum(e["encoded"] for e in js),
                  css_encoded=sum(e["encoded"] for e in css),
                  js_decoded=sum(e["decoded"] for e in js),
                  css_decoded=sum(e["decoded"] for e in css), files=files,
                  encodings=encodings)


# --- logging a browser in ---------------------------------------------------------------------


async def log_in(context: BrowserContext, server: str, username: str, password: str) -> None:
    """Log a browser context in over the API: the answer's cookies land in the context."""
    resp = await context.request.post(f"{server}/api/v1/auth/login",
                                      data={"username": username, "password": password})
    if not resp.ok:
        raise RuntimeError(f"login of {username} failed: {resp.status} {await resp.text()}")


async def use_token(context: BrowserContext, server: str, token: str) -> None:
    """Give a browser context a session from a token (the cookies a login would set)."""
    from ruang.actions.members import csrf_token
    from ruang.api.deps import COOKIE, CSRF_COOKIE

    await context.add_cookies([
        {"name": COOKIE, "value": token, "url": server, "httpOnly": True, "sameSite": "Strict"},
        {"name": CSRF_COOKIE, "value": csrf_token(token), "url": server,
         "sameSite": "Strict"}])


# --- the benchmark ----------------------------------------------------------------------------


@dataclass
class Samples:
    taps_ms: list[float] = field(default_factory=list)
    marks: list[dict[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def _speaker(server: str, token: str, room_id: int, freq: float
                   ) -> AsyncIterator[Any]:
    from ruang.client.api import RuangClient
    from ruang.client.audio import ToneSource
    from ruang.client.participant import Participant

    p = Participant(RuangClient(server, token=token), source=ToneSource(freq), record=False)
    try:
        await p.join(room_id)
        yield p
    finally:
        await p.close()


async def run(taps: int, cold_loads: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from ruang.bench import setup

    machine = report.machine()
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    if not (web_dist() / "index.html").exists():
        raise SystemExit(f"the web app is not built ({web_dist()}): run scripts/run once, "
                         "or cd web && npm ci && npm run build")
    tmp = Path(tempfile.mkdtemp(prefix="ruang-bench-web-"))
    db_url = f"sqlite+aiosqlite:///{tmp / 'ruang.db'}"
    tokens, room_id = await setup.seed(db_url, ["host", "listener"], room_title="Bench room")
    server, url, _health = await setup.start_server(
        tmp, {"RUANG_DATABASE_URL": db_url, "RUANG_MEDIA": "true"},
        ready=lambda h: h["media"].get("janus") == "up")
    samples = Samples()
    bundles: list[Bundle] = []
    try:
        async with _speaker(url, tokens["host"], room_id, 440.0), async_playwright() as pw:
            browser = await launch(pw)
            try:
                for _ in range(cold_loads):
                    bundles.append(await cold_load(browser, url + "/"))
                context = await browser.new_context(locale="en-US",
                                                    viewport={"width": 1280, "height": 800})
                await use_token(context, url, tokens["listener"])
                page = await context.new_page()
                await page.goto(url + "/", timeout=30_000)
                for i in range(taps):
                    card = page.locator(f'[data-testid=room-card][data-room-id="{room_id}"]')
                    try:
                        await card.wait_for(timeout=15_000)
                        await page.wait_for_timeout(300)
                        await arm(page)
                        await card.click()
                        ms, marks = await tap_to_audio_ms(page)
                        samples.taps_ms.append(ms)
                        samples.marks.append(marks)
                        await page.wait_for_timeout(500)
                    except Exception as e:  # a failed sample is reported, not fatal
                        samples.failures.append(f"tap {i}: {e}".splitlines()[0][:200])
                    # Back to the hallway: a full leave, so the next tap joins afresh.
                    leave = page.get_by_test_id("leave-room")
                    if await leave.count():
                        await leave.click()
                    await page.goto(url + "/", timeout=30_000)
            finally:
                await browser.close()
    finally:
        setup.stop_server(server)

    def pct(values: list[float], p: float) -> float | None:
        v = report.percentile(values, p)
        return None if v is None else round(v, 1)

    breakdown: dict[str, float | None] = {}
    names = {n for m in samples.marks for n in m}
    for n in sorted(names, key=lambda n: statistics.median(
            [m[n] for m in samples.marks if n in m])):
        breakdown[n] = pct([m[n] for m in samples.marks if n in m], 50)
    bundle = bundles[0] if bundles else None
    return {
        "benchmark": "web",
        "chromium": chromium_version(chromium),
        "bundle": bundle.as_dict() if bundle else None,
        "bundle_files": [{"name": f["name"].rsplit("/", 1)[-1], "encoded": f["encoded"],
                          "decoded": f["decoded"]} for f in (bundle.files if bundle else [])],
        "taps": taps,
        "tap_to_audio_ms": [round(x, 1) for x in samples.taps_ms],
        "tap_to_audio_ms_p50": pct(samples.taps_ms, 50),
        "tap_to_audio_ms_p95": pct(samples.taps_ms, 95),
        "tap_to_audio_ms_min": round(min(samples.taps_ms), 1) if samples.taps_ms else None,
        "timeline_ms_p50": breakdown,
        "failures": samples.failures,
        "machine": machine,
    }


def markdown(result: dict[str, Any], command: str) -> str:
    b = result["bundle"] or {}
    rows: list[tuple[str, Any]] = [
        ("hallway cold load: JS + CSS transferred, compressed (kB)",
         f"{b.get('js_css_kb')} (JS {b.get('js_kb')}, CSS {b.get('css_kb')}; "
         f"{b.get('js_css_uncompressed_kb')} uncompressed; {b.get('files')} files, "
         f"{', '.join(b.get('encodings', []))})"),
        ("tap on a room to first audible audio p50 / p95 (ms)",
         f"{result['tap_to_audio_ms_p50']} / {result['tap_to_audio_ms_p95']} "
         f"({len(result['tap_to_audio_ms'])} taps, min {result['tap_to_audio_ms_min']})"),
    ]
    marks = result.get("timeline_ms_p50") or {}
    if marks:
        rows.append(("where the time goes, p50 ms after the tap (the app's marks)",
                     ", ".join(f"{k} {v}" for k, v in marks.items())))
    if result["failures"]:
        rows.append(("failed samples", "; ".join(result["failures"])))
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    m = result["machine"]
    return (f"## Web app in a browser: `ruang bench web`\n\n"
            f"Latest run: {report.today()}, `{command}`\n\n"
            f"Machine: {report.machine_line(m)}, Chromium {result['chromium']} (headless)\n\n"
            "Targets (issue 5): the hallway's first load on a cold cache transfers <= 200 kB "
            "of JavaScript and CSS compressed; a listener's tap on a room to first audible "
            "audio p50 <= 700 ms.\n\n"
            "The bundle is the sum of Resource Timing `encodedBodySize` of every JS and CSS "
            "file a fresh browser context loads for `/` (logged out: the first screen a new "
            "visitor gets). Tap to audio: one listener in headless Chromium taps the room's "
            "card in the hallway while an SDK speaker plays 440 Hz; from the click event's "
            "timestamp to the first reading of the app's analyser above "
            f"{AUDIBLE} RMS (polled every 5 ms); after each sample the listener leaves and "
            "goes back to the hallway, so each tap is a new join and a new WebRTC "
            f"negotiation.\n\n| measure | value |\n|---|---|\n{table}\n")


def main(*, taps: int = 15, cold_loads: int = 1, as_json: bool = False,
         write_docs: bool = False) -> int:
    argv = ["--taps", str(taps), "--cold-loads", str(cold_loads)]
    if not netns.inside():
        extra = (["--json"] if as_json else []) + (["--write-docs"] if write_docs else [])
        return netns.run([sys.executable, "-m", "ruang.bench.web", *argv, *extra])
    result = asyncio.run(run(taps, cold_loads))
    if write_docs:
        path = report.write_section("web", markdown(result, "ruang bench web " +
                                                    " ".join(argv)))
        if not as_json:
            print(f"results written to {path}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["tap_to_audio_ms"] and result["bundle"] else 1


def _cli(args: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="the web app in a browser: bundle size and "
                                             "tap-to-audio")
    ap.add_argument("--taps", type=int, default=15)
    ap.add_argument("--cold-loads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-docs", action="store_true")
    a = ap.parse_args(args)
    return main(taps=a.taps, cold_loads=a.cold_loads, as_json=a.json, write_docs=a.write_docs)


if __name__ == "__main__":
    raise SystemExit(_cli())
