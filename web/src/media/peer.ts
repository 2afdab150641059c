// One room's audio: the RTCPeerConnection Ruang's server offers (Janus behind it; no Janus
// library here), the microphone on stage, the remote stream into an <audio> element (which
// keeps playing with the screen locked) and into a WebAudio analyser (levels for the UI and
// tests), and a connection-quality hint from getStats.
import { signal } from "@preact/signals";
import { mark, setHook } from "../lib/debug";

export type MediaState = "idle" | "negotiating" | "connected" | "failed" | "waiting";
export type Quality = "good" | "fair" | "poor" | "";

export interface Offer {
  media_id: string;
  mode: "listen" | "speak";
  sdp: string;
  ice_servers?: RTCIceServer[];
}

const MIC_KEY = "ruang.mic";
export const micDevice = signal<string>(localStorage.getItem(MIC_KEY) ?? "");
export function setMicDevice(id: string): void {
  micDevice.value = id;
  if (id) localStorage.setItem(MIC_KEY, id);
  else localStorage.removeItem(MIC_KEY);
}

export class MicError extends Error {}

/** The shared <audio> element: one per tab, outside any screen, so audio survives navigation. */
let audioEl: HTMLAudioElement | null = null;
function audioElement(): HTMLAudioElement {
  if (!audioEl) {
    audioEl = document.createElement("audio");
    audioEl.autoplay = true;
    audioEl.setAttribute("playsinline", "");
    audioEl.dataset.testid = "room-audio";
    document.body.appendChild(audioEl);
  }
  return audioEl;
}

let ctx: AudioContext | null = null;
function audioContext(): AudioContext {
  ctx ??= new AudioContext({ latencyHint: "interactive" });
  return ctx;
}

function rms(an: AnalyserNode | null, buf: Float32Array<ArrayBuffer>): number {
  if (!an) return 0;
  const view = buf.subarray(0, an.fftSize);
  an.getFloatTimeDomainData(view);
  let sum = 0;
  for (const v of view) sum += v * v;
  return Math.sqrt(sum / view.length);
}

export class RoomMedia {
  readonly state = signal<MediaState>("idle");
  readonly mode = signal<"listen" | "speak" | "">("");
  readonly audioBlocked = signal(false);
  readonly quality = signal<Quality>("");
  readonly micError = signal<string>("");
  private pc: RTCPeerConnection | null = null;
  private mediaId = "";
  private mic: MediaStream | null = null;
  private remote: AnalyserNode | null = null;
  private local: AnalyserNode | null = null;
  private buf = new Float32Array(8192);
  private freq = new Float32Array(4096);
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private lastStats = { lost: 0, received: 0 };
  private heard = false;
  private muted = true;
  private closed = false;

  constructor(
    private send: (msg: Record<string, unknown>) => Promise<unknown>,
    private onFailed: () => void,
  ) {
    setHook("audioLevel", () => rms(this.remote, this.buf));
    setHook("micLevel", () => (this.muted ? 0 : rms(this.local, this.buf)));
    setHook("stats", () => this.stats());
    setHook("pc", () => this.pc);
    setHook("audio", () => ({
      context: ctx?.state ?? "none",
      element: audioEl ? { paused: audioEl.paused, hasStream: !!audioEl.srcObject } : null,
      micMuted: this.muted,
      mic: this.mic?.getAudioTracks().map((t) => ({ enabled: t.enabled, state: t.readyState, label: t.label })) ?? [],
    }));
    setHook("peakHz", () => this.peakHz());
  }

  /** Answer the server's offer; a new offer replaces the previous PeerConnection. */
  async answer(offer: Offer): Promise<void> {
    if (this.closed) return;
    mark("offer");
    this.teardownPc();
    this.mediaId = offer.media_id;
    this.mode.value = offer.mode;
    this.state.value = "negotiating";
    this.heard = false;
    const pc = new RTCPeerConnection({ iceServers: offer.ice_servers ?? [], bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.ontrack = (e) => this.attachRemote(e.streams[0] ?? new MediaStream([e.track]));
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === "connected") mark("ice-connected");
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "connected") this.state.value = "connected";
      if (pc.connectionState === "failed") {
        this.state.value = "failed";
        this.onFailed();
      }
    };
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    if (offer.mode === "speak") {
      const track = await this.microphone();
      const tr = pc.getTransceivers().find((t) => t.receiver.track.kind === "audio");
      if (track && tr) {
        tr.direction = "sendrecv";
        await tr.sender.replaceTrack(track);
      } else if (track) pc.addTrack(track, this.mic!);
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.gathered(pc);
    if (pc !== this.pc) return; // replaced meanwhile
    await this.send({ type: "media.answer", media_id: offer.media_id, sdp: pc.localDescription!.sdp });
    mark("answer-sent");
    this.watchStats();
  }

  /** The server's view of the link (media.state). */
  serverState(mediaId: string | null, state: string): void {
    if (mediaId && mediaId !== this.mediaId && state !== "waiting") return;
    if (state === "connected") {
      mark("media-connected");
      this.state.value = "connected";
    } else if (state === "failed") {
      this.state.value = "failed";
      this.onFailed();
    } else if (state === "waiting") this.state.value = "waiting";
  }

  /** Self-mute: the server is told (media.mute); the track is also disabled here at once. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    for (const t of this.mic?.getAudioTracks() ?? []) t.enabled = !muted;
  }

  /** The one obvious tap when the browser refused to autoplay. */
  async tapToListen(): Promise<void> {
    await audioContext().resume().catch(() => {});
    try {
      await audioElement().play();
      this.audioBlocked.value = false;
    } catch {
      this.audioBlocked.value = true;
    }
  }

  /** Switch microphone while on stage (device picker). */
  async switchMic(): Promise<void> {
    if (this.mode.value !== "speak" || !this.pc) return;
    const old = this.mic;
    this.mic = null;
    const track = await this.microphone();
    const sender = this.pc.getSenders().find((s) => s.track?.kind === "audio" || s.track === null);
    if (track && sender) await sender.replaceTrack(track);
    for (const t of old?.getTracks() ?? []) t.stop();
  }

  /** The frequency of the strongest bin of the received audio (0 when silent). */
  peakHz(): number {
    const an = this.remote;
    if (!an || rms(an, this.buf) < 0.003) return 0;
    an.getFloatFrequencyData(this.freq);
    let best = 1;
    for (let i = 2; i < an.frequencyBinCount; i++) if (this.freq[i]! > this.freq[best]!) best = i;
    return (best * an.context.sampleRate) / an.fftSize;
  }

  close(): void {
    this.closed = true;
    this.teardownPc();
    this.stopMic();
    const el = audioEl;
    if (el) {
      el.pause();
      el.srcObject = null;
    }
    this.remote = null;
    this.state.value = "idle";
    this.mode.value = "";
    setHook("audioLevel", () => 0);
    setHook("micLevel", () => 0);
    setHook("peakHz", () => 0);
    setHook("pc", () => null);
  }

  async stats(): Promise<Record<string, number> | null> {
    const pc = this.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    let lost = 0, received = 0, jitter = 0, rtt = 0, bytes = 0;
    report.forEach((s: Record<string, unknown>) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        lost += Number(s.packetsLost ?? 0);
        received += Number(s.packetsReceived ?? 0);
        jitter = Math.max(jitter, Number(s.jitter ?? 0));
        bytes += Number(s.bytesReceived ?? 0);
      }
      if (s.type === "remote-inbound-rtp") rtt = Math.max(rtt, Number(s.roundTripTime ?? 0));
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined)
        rtt = Math.max(rtt, Number(s.currentRoundTripTime));
    });
    const dl = lost - this.lastStats.lost;
    const dr = received - this.lastStats.received;
    this.lastStats = { lost, received };
    const packetLoss = dl + dr > 0 ? Math.max(0, dl) / (dl + dr) : 0;
    return { packetLoss, jitter, rtt, bytesReceived: bytes, packetsReceived: received };
  }

  // --- inside ---------------------------------------------------------------------------

  private async microphone(): Promise<MediaStreamTrack | null> {
    if (this.mic) return this.mic.getAudioTracks()[0] ?? null;
    const audio: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (micDevice.value) audio.deviceId = { ideal: micDevice.value };
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({ audio });
      this.micError.value = "";
    } catch (e) {
      // Without a microphone we still answer (receive only): the room goes on for us.
      this.micError.value = e instanceof DOMException ? e.name : "error";
      return null;
    }
    const track = this.mic.getAudioTracks()[0] ?? null;
    if (track) track.enabled = !this.muted;
    try {
      const c = audioContext();
      const an = c.createAnalyser();
      an.fftSize = 1024;
      c.createMediaStreamSource(this.mic).connect(an);
      this.local = an;
    } catch {
      this.local = null;
    }
    return track;
  }

  private stopMic(): void {
    for (const t of this.mic?.getTracks() ?? []) t.stop();
    this.mic = null;
    this.local = null;
  }

  private attachRemote(stream: MediaStream): void {
    const el = audioElement();
    el.srcObject = stream;
    el.play().then(
      () => (this.audioBlocked.value = false),
      (e: unknown) => {
        // NotAllowedError: the browser wants a tap first (autoplay rules).
        if (e instanceof DOMException && e.name === "NotAllowedError") this.audioBlocked.value = true;
      },
    );
    try {
      const c = audioContext();
      if (c.state === "suspended") void c.resume().catch(() => {});
      const an = c.createAnalyser();
      // 8192 points at 48 kHz: 5.9 Hz bins, so tests can tell a 440 Hz tone from 660 Hz.
      an.fftSize = 8192;
      an.smoothingTimeConstant = 0.2;
      // Not connected to the speakers: the <audio> element plays; this only measures.
      c.createMediaStreamSource(stream).connect(an);
      this.remote = an;
    } catch {
      this.remote = null;
    }
    this.watchFirstAudio();
  }

  private watchFirstAudio(): void {
    const start = performance.now();
    const tick = () => {
      if (this.closed || this.heard || performance.now() - start > 60000) return;
      if (rms(this.remote, this.buf) > 0.01) {
        this.heard = true;
        mark("first-audio");
        return;
      }
      setTimeout(tick, 10);
    };
    tick();
  }

  private gathered(pc: RTCPeerConnection): Promise<void> {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      // Host candidates come at once; waiting longer for others only delays first audio.
      const timer = setTimeout(resolve, 1500);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  private watchStats(): void {
    if (this.statsTimer) return;
    this.statsTimer = setInterval(async () => {
      const s = await this.stats().catch(() => null);
      if (!s) return;
      const loss = s.packetLoss ?? 0, rtt = s.rtt ?? 0, jitter = s.jitter ?? 0;
      this.quality.value =
        loss > 0.08 || rtt > 0.8 || jitter > 0.08 ? "poor" : loss > 0.02 || rtt > 0.3 || jitter > 0.03 ? "fair" : "good";
    }, 3000);
  }

  private teardownPc(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.lastStats = { lost: 0, received: 0 };
    if (this.pc) {
      this.pc.ontrack = null;
      this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    this.pc = null;
    if (this.mode.value === "speak") this.stopMic();
  }
}
