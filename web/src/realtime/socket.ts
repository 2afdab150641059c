// One WebSocket per tab (docs/protocol.md): hello, then rooms, hallway and notifications.
// It reconnects by itself with backoff (network change, server restart) and tells its
// listeners to resume (rooms rejoin with since_seq). Close code 4401 means the session ended.
import { signal } from "@preact/signals";
import { get } from "../lib/api";
import { mark, setHook } from "../lib/debug";

export type SocketState = "idle" | "connecting" | "connected" | "reconnecting" | "offline" | "closed";
export type Msg = { type: string; [k: string]: unknown };

export class WsError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

type Handler = (msg: Msg) => void;

class Realtime {
  readonly state = signal<SocketState>("idle");
  member: { id: number; username: string; display_name: string } | null = null;
  private ws: WebSocket | null = null;
  private url: string | null = null;
  private wanted = false;
  private backoff = 250;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private ping: ReturnType<typeof setInterval> | null = null;
  private lastSeen = 0;
  private refs = 0;
  private pending = new Map<string, { resolve: (m: Msg) => void; reject: (e: Error) => void }>();
  private handlers = new Map<string, Set<Handler>>();
  /** Run after every (re)connection's welcome: rooms rejoin, the hallway resubscribes. */
  private openHooks = new Set<() => void>();
  onSessionEnded: () => void = () => {};

  constructor() {
    setHook("ws", () => this.ws);
    setHook("dropSocket", () => this.drop());
    addEventListener("online", () => this.kick());
    addEventListener("offline", () => {
      if (this.wanted) this.state.value = "offline";
    });
    // Back from the background (phone unlocked): check the line at once.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.ws?.readyState === WebSocket.OPEN) this.send({ type: "ping" });
    });
  }

  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    void this.open();
  }

  stop(): void {
    this.wanted = false;
    if (this.retry) clearTimeout(this.retry);
    this.ws?.close(1000);
    this.ws = null;
    this.state.value = "idle";
  }

  /** Reconnect now instead of waiting for the backoff (the network came back). */
  kick(): void {
    if (!this.wanted) return;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.send({ type: "ping" });
      return;
    }
    if (this.retry) clearTimeout(this.retry);
    this.backoff = 250;
    void this.open();
  }

  /** Tests: close the socket as a network failure would. */
  drop(): void {
    this.ws?.close(4000);
  }

  on(type: string, fn: Handler): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  onOpen(fn: () => void): () => void {
    this.openHooks.add(fn);
    if (this.state.value === "connected") fn();
    return () => this.openHooks.delete(fn);
  }

  send(msg: Msg): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN || this.state.value !== "connected") return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Send with a ref and wait for the answer (ack, room.snapshot, room.left or error). */
  request(msg: Msg, timeoutMs = 15000): Promise<Msg> {
    const ref = `w${++this.refs}`;
    return new Promise<Msg>((resolve, reject) => {
      if (!this.send({ ...msg, ref })) {
        reject(new WsError("connection_lost", "not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new WsError("timeout", "no answer"));
      }, timeoutMs);
      this.pending.set(ref, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  private async open(): Promise<void> {
    if (!this.wanted) return;
    this.state.value = this.state.value === "idle" || this.state.value === "connecting" ? "connecting" : "reconnecting";
    try {
      // Asked every time: it also tells us the server is back after a restart.
      this.url = (await get<{ url: string }>("/realtime")).url;
    } catch {
      this.scheduleRetry();
      return;
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, "ruang.v1");
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      mark("ws-open");
      ws.send(JSON.stringify({ type: "hello", protocol: 1, client: "ruang-web/1" }));
    };
    ws.onmessage = (e) => this.dispatch(ws, JSON.parse(String(e.data)) as Msg);
    ws.onclose = (e) => this.closed(ws, e.code);
  }

  private scheduleRetry(): void {
    if (!this.wanted) return;
    if (this.state.value !== "offline") this.state.value = "reconnecting";
    const wait = this.backoff * (0.75 + Math.random() / 2);
    this.backoff = Math.min(this.backoff * 2, 5000);
    this.retry = setTimeout(() => void this.open(), wait);
  }

  private closed(ws: WebSocket, code: number): void {
    if (ws !== this.ws) return;
    this.ws = null;
    if (this.ping) clearInterval(this.ping);
    for (const p of this.pending.values()) p.reject(new WsError("connection_lost", "connection lost"));
    this.pending.clear();
    if (code === 4401) {
      // The session ended (logout elsewhere, password reset, ban): do not come back.
      this.wanted = false;
      this.state.value = "closed";
      this.onSessionEnded();
      return;
    }
    this.scheduleRetry();
  }

  private dispatch(ws: WebSocket, msg: Msg): void {
    this.lastSeen = Date.now();
    if (msg.type === "welcome") {
      this.member = msg.member as Realtime["member"];
      this.state.value = "connected";
      this.backoff = 250;
      this.startPing(ws);
      for (const fn of this.openHooks) fn();
    }
    const ref = typeof msg.ref === "string" ? msg.ref : null;
    if (ref && this.pending.has(ref)) {
      const p = this.pending.get(ref)!;
      this.pending.delete(ref);
      if (msg.type === "error") p.reject(new WsError(String(msg.code), String(msg.message)));
      else p.resolve(msg);
    }
    if (msg.type === "error" && msg.code === "not_authenticated" && this.state.value !== "connected") {
      this.wanted = false;
      this.state.value = "closed";
      this.onSessionEnded();
    }
    for (const fn of this.handlers.get(msg.type) ?? []) fn(msg);
  }

  // The server pings at the WebSocket level, which a page cannot see; an application ping
  // lets us notice a dead line (a phone that changed networks) within ~25 s and reconnect.
  private startPing(ws: WebSocket): void {
    if (this.ping) clearInterval(this.ping);
    this.ping = setInterval(() => {
      if (ws !== this.ws) return;
      if (Date.now() - this.lastSeen > 25000) {
        ws.close(4000);
        this.closed(ws, 4000);
        return;
      }
      if (Date.now() - this.lastSeen > 10000) ws.send(JSON.stringify({ type: "ping" }));
    }, 5000);
  }
}

export const realtime = new Realtime();
