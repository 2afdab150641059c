// One room as this tab sees it: snapshot + events applied in sequence order (never guessed),
// what the server lets me do (GET /rooms/{id} `you`, refetched after events that change it),
// who is speaking, chat and reactions, and the room's media. Reconnects resume with since_seq.
import { batch, computed, signal } from "@preact/signals";
import { ApiError, get } from "../lib/api";
import { mark, setHook } from "../lib/debug";
import { RoomMedia, type Offer } from "../media/peer";
import { apply, changesPermissions, SequenceGap } from "./apply";
import { realtime, WsError, type Msg } from "./socket";
import { currentRoom } from "./current";
import type { AuthorView, ChatLine, MemberView, RoomDetail, RoomEventEnvelope, RoomSnapshot, You } from "./types";

export interface ChatItem {
  message_id: number;
  author: AuthorView | null;
  text: string;
  at: string;
}

export interface Burst {
  key: number;
  emoji: string;
  member_id: number;
}

export type LeftReason = "" | "left" | "removed" | "ended" | "replaced" | "session_ended" | string;

let burstKey = 0;

export class RoomSession {
  readonly snapshot = signal<RoomSnapshot | null>(null);
  readonly you = signal<You | null>(null);
  readonly speaking = signal<ReadonlySet<number>>(new Set());
  readonly chat = signal<ChatItem[]>([]);
  readonly bursts = signal<Burst[]>([]);
  readonly left = signal<LeftReason>("");
  readonly error = signal<ApiError | WsError | null>(null);
  /** What to announce in the live region (speaker and role changes). */
  readonly announcement = signal("");
  readonly media: RoomMedia;
  private off: (() => void)[] = [];
  private youTimer: ReturnType<typeof setTimeout> | null = null;
  private joined = false;

  readonly me = computed<MemberView | null>(() => {
    const s = this.snapshot.value;
    const id = realtime.member?.id;
    if (!s || id === undefined) return null;
    return s.stage.find((m) => m.id === id) ?? s.hands.find((m) => m.id === id) ?? s.invited.find((m) => m.id === id) ?? null;
  });
  /** My role from the snapshot (a member not listed on stage is a listener). */
  readonly role = computed(() => {
    if (this.left.value || !this.snapshot.value || !this.joined) return "none";
    const m = this.me.value;
    return m && m.role !== "listener" && this.snapshot.value.stage.some((s) => s.id === m.id) ? m.role : "listener";
  });

  constructor(readonly roomId: number) {
    this.media = new RoomMedia(
      (msg) => realtime.request({ type: "", ...msg, room_id: roomId }),
      () => this.restartMedia(),
    );
    const mine = (fn: (m: Msg) => void) => (m: Msg) => {
      if (m.room_id === roomId || (m.type === "room.snapshot" && (m.snapshot as RoomSnapshot).room.id === roomId)) fn(m);
    };
    this.off.push(
      realtime.on("room.snapshot", mine((m) => this.setSnapshot(m.snapshot as RoomSnapshot))),
      realtime.on("room.event", mine((m) => this.onEvent(m as unknown as RoomEventEnvelope))),
      realtime.on("room.speaking", mine((m) => (this.speaking.value = new Set(m.speaking as number[])))),
      realtime.on("room.left", mine((m) => this.gone(String(m.reason)))),
      realtime.on("media.offer", mine((m) => void this.media.answer(m as unknown as Offer).catch((e) => console.warn("answer failed", e)))),
      realtime.on("media.state", mine((m) => this.media.serverState(m.media_id as string | null, String(m.state)))),
      realtime.onOpen(() => void this.join()),
    );
    setHook("speaking", () => [...this.speaking.value]);
    setHook("room", () => JSON.parse(JSON.stringify({ snapshot: this.snapshot.value, you: this.you.value, left: this.left.value })));
  }

  async start(): Promise<void> {
    // The join goes out at once (first audio is what a listener waits for); what I may do
    // (GET /rooms/{id}) and the chat history load meanwhile.
    realtime.start();
    void this.refreshYou();
    void this.loadChat();
  }

  /** Join (or, after a reconnect, resume from the last applied seq). */
  private async join(): Promise<void> {
    if (this.left.value) return;
    const msg: Msg = { type: "room.join", room_id: this.roomId, media: true };
    if (this.joined && this.snapshot.value) msg.since_seq = this.snapshot.value.seq;
    try {
      await realtime.request(msg);
      this.joined = true;
      this.error.value = null;
      void this.refreshYou();
    } catch (e) {
      if (e instanceof WsError && e.code !== "connection_lost" && e.code !== "timeout") {
        this.error.value = e;
        if (["removed_from_room", "room_ended", "blocked", "room_closed", "not_following", "room_not_found"].includes(e.code))
          this.gone(e.code === "room_ended" ? "ended" : e.code === "removed_from_room" ? "removed" : e.code);
      }
    }
  }

  private setSnapshot(s: RoomSnapshot): void {
    mark("snapshot");
    this.snapshot.value = s;
    this.joined = true;
  }

  private onEvent(env: RoomEventEnvelope): void {
    const snap = this.snapshot.value;
    if (!snap || env.seq <= snap.seq) return;
    let next: RoomSnapshot;
    try {
      next = apply(snap, env);
    } catch (e) {
      if (e instanceof SequenceGap) realtime.send({ type: "room.sync", room_id: this.roomId, since_seq: snap.seq });
      return;
    }
    const ev = env.event;
    const myId = realtime.member?.id;
    batch(() => {
      this.snapshot.value = next;
      if (ev.type === "chat_message")
        this.chat.value = [...this.chat.value.slice(-199), { message_id: ev.message_id, author: ev.author, text: ev.text, at: env.at }];
      else if (ev.type === "chat_deleted") this.chat.value = this.chat.value.filter((c) => c.message_id !== ev.message_id);
      else if (ev.type === "reaction") this.burst(ev.emoji, ev.member_id);
    });
    if ((ev.type === "member_removed" && ev.member_id === myId)) this.gone("removed");
    if (ev.type === "room_ended") this.gone("ended");
    if (changesPermissions(ev.type)) this.scheduleYou();
  }

  private burst(emoji: string, member_id: number): void {
    const b = { key: ++burstKey, emoji, member_id };
    this.bursts.value = [...this.bursts.value.slice(-20), b];
    setTimeout(() => (this.bursts.value = this.bursts.value.filter((x) => x.key !== b.key)), 2500);
  }

  private scheduleYou(): void {
    if (this.youTimer) clearTimeout(this.youTimer);
    this.youTimer = setTimeout(() => void this.refreshYou(), 80);
  }

  async refreshYou(): Promise<void> {
    try {
      const d = await get<RoomDetail>(`/rooms/${this.roomId}`);
      this.you.value = d.you;
      // Before the WebSocket's snapshot arrives, show the REST one (same shape, same rules).
      if (!this.snapshot.value) this.snapshot.value = d.snapshot;
      this.error.value = null;
    } catch (e) {
      if (e instanceof ApiError) this.error.value = e;
    }
  }

  private async loadChat(): Promise<void> {
    try {
      const page = await get<{ messages: ChatLine[] }>(`/rooms/${this.roomId}/chat?limit=50`);
      const seen = new Set(this.chat.value.map((c) => c.message_id));
      const older = page.messages.filter((m) => !seen.has(m.message_id)).map((m) => ({ ...m }));
      this.chat.value = [...older, ...this.chat.value].sort((a, b) => a.message_id - b.message_id);
    } catch {
      /* chat history is a nicety; live messages still arrive */
    }
  }

  private restartMedia(): void {
    setTimeout(() => {
      if (!this.left.value) realtime.send({ type: "media.restart", room_id: this.roomId });
    }, 500);
  }

  private gone(reason: string): void {
    if (this.left.value) return;
    this.left.value = reason;
    this.media.close();
    void this.refreshYou();
  }

  /** A message to the room (the reply's errors are the server's: muted_by_moderator, ...). */
  async act(msg: Msg): Promise<Msg> {
    return realtime.request({ ...msg, room_id: this.roomId });
  }

  async leave(): Promise<void> {
    if (!this.left.value) {
      await this.act({ type: "room.leave" }).catch(() => {});
      this.gone("left");
    }
    this.dispose();
  }

  dispose(): void {
    for (const f of this.off) f();
    this.off = [];
    this.media.close();
    if (this.youTimer) clearTimeout(this.youTimer);
  }
}


export function enterRoom(id: number): RoomSession {
  const cur = currentRoom.value;
  if (cur && cur.roomId === id && !cur.left.value) return cur;
  if (cur) void cur.leave();
  mark("room-open");
  const s = new RoomSession(id);
  currentRoom.value = s;
  void s.start();
  return s;
}

export async function leaveRoom(): Promise<void> {
  const cur = currentRoom.value;
  currentRoom.value = null;
  if (cur) await cur.leave();
}
