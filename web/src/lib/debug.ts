// window.__ruang: read-only hooks for browser tests and the benchmark (web-contract.md).
// Nothing here changes state except dropSocket, which simulates a network failure.

export interface Mark {
  name: string;
  t: number;
}

interface Hooks {
  timeline: Mark[];
  audioLevel: () => number;
  level: () => number;
  peakHz: () => number;
  micLevel: () => number;
  pc: () => RTCPeerConnection | null;
  audio: () => unknown;
  speaking: () => number[];
  ws: () => WebSocket | null;
  stats: () => Promise<unknown>;
  room: () => unknown;
  dropSocket: () => void;
}

const hooks: Hooks = {
  timeline: [],
  audioLevel: () => 0,
  level: () => hooks.audioLevel(),
  peakHz: () => 0,
  micLevel: () => 0,
  pc: () => null,
  audio: () => null,
  speaking: () => [],
  ws: () => null,
  stats: async () => null,
  room: () => null,
  dropSocket: () => {},
};
(window as unknown as { __ruang: Hooks }).__ruang = hooks;

export function mark(name: string): void {
  if (hooks.timeline.length > 500) hooks.timeline.splice(0, 100);
  hooks.timeline.push({ name, t: performance.now() });
  performance.mark(`ruang:${name}`);
}

export function setHook<K extends keyof Hooks>(name: K, fn: Hooks[K]): void {
  hooks[name] = fn;
}
