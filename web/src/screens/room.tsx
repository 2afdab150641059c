// The room: stage and audience as avatar grids with speaking rings, my state in words
// ("You are listening / on stage / muted by a moderator"), the controls the server allows
// (you.actions), the moderator's member sheet (you.member_actions), chat and reactions.
import { useEffect, useRef, useState } from "preact/hooks";
import { fmtNumber, t } from "../i18n";
import { get, post } from "../lib/api";
import { say } from "../lib/announce";
import { me as meSignal } from "../lib/session";
import { enterRoom, type RoomSession } from "../realtime/room";
import { currentRoom } from "../realtime/current";
import { realtime } from "../realtime/socket";
import type { MemberView } from "../realtime/types";
import { micDevice, setMicDevice } from "../media/peer";
import { Avatar, ErrorBox, Screen } from "../components/ui";

const EMOJI = ["👏", "❤️", "😂", "🎉", "👍", "🔥", "🙏", "💯", "🤔", "😮", "👋", "🙌"];
const STAGE_ACTIONS = ["invite_to_speak", "move_to_audience", "mute", "unmute", "make_moderator", "lower_hand", "remove"];

export default function RoomScreen({ id }: { id: number }) {
  const [session, setSession] = useState<RoomSession | null>(null);
  useEffect(() => {
    const s = enterRoom(id);
    setSession(s);
  }, [id]);
  if (!session || session.roomId !== id) return <Screen name="room" title={t("room.title")} ready={false} />;
  return <Room s={session} />;
}

function statusText(role: string, me: MemberView | null, left: string, state: string): string {
  if (left) return t(`room.left_${left}`) !== `room.left_${left}` ? t(`room.left_${left}`) : t("room.left_left");
  if (state === "scheduled") return t("room.not_started");
  if (role === "none") return t("room.joining");
  if (role === "listener") return t("room.you_listen");
  if (me?.mod_muted) return t("room.you_mod_muted");
  if (me?.self_muted) return t("room.you_on_stage_muted");
  return t("room.you_on_stage");
}

function Room({ s }: { s: RoomSession }) {
  const snap = s.snapshot.value;
  const you = s.you.value;
  const role = s.role.value;
  const me = s.me.value;
  const left = s.left.value;
  const speaking = s.speaking.value;
  const [sheet, setSheet] = useState<MemberView | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const actions = new Set(you?.actions ?? []);
  const isMod = role === "moderator";
  const onStage = role === "moderator" || role === "speaker";
  const muted = onStage ? !!(me?.self_muted || me?.mod_muted) : true;
  const modMuted = onStage && !!me?.mod_muted;
  const handUp = !!snap?.hands.some((m) => m.id === realtime.member?.id);
  const invited = !!snap?.invited.some((m) => m.id === realtime.member?.id);
  const status = statusText(role, me, left, snap?.room.state ?? "live");

  // Keep the microphone track in step with the mute flags the server holds.
  useEffect(() => s.media.setMuted(muted), [muted]);

  // Announce my role and mute changes, and new speakers, in the live region.
  const prevStatus = useRef("");
  useEffect(() => {
    if (role !== "none" && prevStatus.current && prevStatus.current !== status) say(status);
    prevStatus.current = status;
  }, [status]);
  const prevSpeakers = useRef<Set<number>>(new Set());
  useEffect(() => {
    const fresh = [...speaking].filter((i) => !prevSpeakers.current.has(i));
    prevSpeakers.current = new Set(speaking);
    const names = fresh.map((i) => snap?.stage.find((m) => m.id === i)?.display_name).filter(Boolean);
    if (names.length) say(t("room.speaking_now", { names: names.join(", ") }));
  }, [speaking]);

  // Lock-screen controls and the room's name in the system's media notification.
  useEffect(() => {
    if (!("mediaSession" in navigator) || !snap) return;
    navigator.mediaSession.metadata = new MediaMetadata({
      title: snap.room.title,
      artist: "Ruang",
      artwork: [{ src: "/icons/icon-512.png", sizes: "512x512", type: "image/png" }],
    });
    navigator.mediaSession.setActionHandler("play", () => void s.media.tapToListen());
    navigator.mediaSession.setActionHandler("pause", () => document.querySelector<HTMLAudioElement>("audio")?.pause());
    navigator.mediaSession.setActionHandler("stop", () => void leave());
  }, [snap?.room.title]);

  const act = async (msg: Record<string, unknown> & { type: string }) => {
    setActionError(null);
    try {
      await s.act(msg);
    } catch (e) {
      setActionError(e);
    }
  };
  const rest = async (path: string, body: unknown) => {
    setActionError(null);
    try {
      await post(`/rooms/${s.roomId}${path}`, body);
    } catch (e) {
      setActionError(e);
    }
  };
  const leave = async () => {
    currentRoom.value = null;
    await s.leave();
  };

  const media = s.media;
  const conn = realtime.state.value;
  const canChat = actions.has("chat");
  return (
    <Screen name="room" title={snap?.room.title ?? t("room.title")} ready={!!snap || !!s.error.value} wide>
      <section
        class="room"
        data-testid="room"
        data-room-id={s.roomId}
        data-seq={snap?.seq ?? ""}
        data-room-state={snap?.room.state ?? ""}
        data-role={role}
        data-connection={conn === "idle" ? "connecting" : conn}
        data-media={media.state.value}
        data-media-mode={media.mode.value}
        data-muted={String(muted)}
        data-muted-by-moderator={String(modMuted)}
        data-hand-raised={String(handUp)}
        data-invited={String(invited)}
        data-audio-blocked={String(media.audioBlocked.value)}
        data-left={left}
        data-quality={media.quality.value}
        aria-labelledby="room-title"
      >
        <header class="room-head">
          <h1 id="room-title">{snap?.room.title ?? t("room.title")}</h1>
          {snap?.room.description && <p class="muted">{snap.room.description}</p>}
          <p class={`status status-${modMuted ? "modmuted" : role}`} data-testid="room-status" role="status">
            {status}
          </p>
          <p class="quality" data-testid="quality">
            {media.quality.value && <span class={`q q-${media.quality.value}`}>{t(`room.quality_${media.quality.value}`)}</span>}
            {(conn === "reconnecting" || conn === "offline") && <span class="q q-poor">{t("conn.reconnecting")}</span>}
            {media.state.value === "waiting" && <span class="q q-fair">{t("room.media_waiting")}</span>}
            {media.micError.value && <span class="q q-poor" data-testid="mic-error" data-error={media.micError.value}>
              {window.isSecureContext ? t("room.mic_error") : t("room.mic_insecure")}</span>}
          </p>
        </header>
        <ErrorBox error={s.error.value} />
        {media.audioBlocked.value && !left && (
          <button type="button" class="btn primary huge" data-testid="tap-to-listen" onClick={() => void media.tapToListen()}>
            {t("room.tap_to_listen")}
          </button>
        )}
        {snap?.room.state === "scheduled" && (
          <p>
            <a class="btn" href={`/rooms/${s.roomId}/event`}>{t("room.event_page")}</a>
          </p>
        )}
        {left ? (
          <div class="card" data-testid="room-left">
            <p>{status}</p>
            <a class="btn primary" href="/" onClick={() => (currentRoom.value = null)}>{t("nav.hallway")}</a>
          </div>
        ) : (
          snap && (
            <>
              <section aria-labelledby="h-stage">
                <h2 id="h-stage">{t("room.stage")}</h2>
                <Grid testid="stage" label={t("room.stage")} members={snap.stage} speaking={speaking} s={s} onOpen={setSheet} />
              </section>
              {snap.invited.length > 0 && (
                <section aria-labelledby="h-invited">
                  <h2 id="h-invited">{t("room.invited")}</h2>
                  <Grid testid="invited" label={t("room.invited")} members={snap.invited} speaking={speaking} s={s} onOpen={setSheet} />
                </section>
              )}
              {snap.hands.length > 0 && (
                <section aria-labelledby="h-hands">
                  <h2 id="h-hands">{t("room.hands")}</h2>
                  <Grid testid="hands" label={t("room.hands")} members={snap.hands} speaking={speaking} s={s} onOpen={setSheet} />
                </section>
              )}
              <Audience s={s} count={snap.audience_count} />
            </>
          )
        )}

        {!left && invited && (
          <div class="card invite-card" role="alertdialog" aria-labelledby="inv-t" data-testid="invite-prompt">
            <p id="inv-t">{t("room.invited_you")}</p>
            <div class="row">
              {actions.has("accept_invite") && (
                <button type="button" class="btn primary" data-testid="accept-invite" onClick={() => act({ type: "stage.answer", accept: true })}>
                  {t("room.accept")}
                </button>
              )}
              {actions.has("decline_invite") && (
                <button type="button" class="btn" data-testid="decline-invite" onClick={() => act({ type: "stage.answer", accept: false })}>
                  {t("room.decline")}
                </button>
              )}
            </div>
          </div>
        )}

        <ErrorBox error={actionError} />

        {!left && snap && (
          <div class="controls" role="toolbar" aria-label={t("room.controls")}>
            {onStage && (modMuted && !actions.has("self_unmute") ? (
              <button type="button" class="btn ctl muted" data-testid="mute-toggle" aria-pressed="true" aria-disabled="true"
                onClick={() => say(t("room.you_mod_muted"))}>
                {t("room.muted_by_mod_short")}
              </button>
            ) : (actions.has(muted ? "self_unmute" : "self_mute") && (
              <button type="button" class={`btn ctl ${muted ? "muted" : "live"}`} data-testid="mute-toggle" aria-pressed={(muted)}
                onClick={() => act({ type: "media.mute", muted: !muted })}>
                {muted ? t("room.unmute") : t("room.mute")}
              </button>
            )))}
            {!onStage && (actions.has("raise_hand") || actions.has("lower_own_hand")) && (
              <button type="button" class="btn ctl" data-testid="raise-hand" aria-pressed={(handUp)}
                onClick={() => act({ type: "hand", raised: !handUp })}>
                {handUp ? t("room.lower_hand") : t("room.raise_hand")}
              </button>
            )}
            {actions.has("leave_stage") && (
              <button type="button" class="btn ctl" data-testid="leave-stage" onClick={() => act({ type: "stage.leave" })}>
                {t("room.leave_stage")}
              </button>
            )}
            <button type="button" class="btn ctl" data-testid="leave-room" onClick={() => void leave()}>
              {t("room.leave")}
            </button>
            {actions.has("end_room") && (
              <button type="button" class="btn ctl danger" data-testid="end-room"
                onClick={() => confirm(t("room.end_confirm")) && void rest("/end", {})}>
                {t("room.end")}
              </button>
            )}
          </div>
        )}

        {!left && snap && (isMod || onStage) && (
          <details class="card settings-box">
            <summary>{t("room.settings")}</summary>
            {onStage && <DevicePicker s={s} />}
            {actions.has("set_hands") && (
              <label class="check">
                <input type="checkbox" data-testid="hands-toggle" checked={snap.room.hands_enabled}
                  onChange={(e) => void rest("/hands", { enabled: (e.currentTarget as HTMLInputElement).checked })} />
                {t("room.hands_enabled")}
              </label>
            )}
            {actions.has("set_chat_mode") && (
              <div class="field">
                <label for="chat-mode">{t("room.chat_mode")}</label>
                <select id="chat-mode" data-testid="chat-mode" value={snap.room.chat_mode}
                  onChange={(e) => void rest("/chat-mode", { mode: (e.currentTarget as HTMLSelectElement).value })}>
                  <option value="open">{t("room.chat_open")}</option>
                  <option value="speakers">{t("room.chat_speakers")}</option>
                  <option value="off">{t("room.chat_off")}</option>
                </select>
              </div>
            )}
          </details>
        )}

        {!left && snap && <Reactions s={s} enabled={actions.has("react")} onError={setActionError} />}
        {!left && snap && <Chat s={s} canChat={canChat} mode={snap.room.chat_mode} canDeleteAny={actions.has("delete_any_chat")} />}
      </section>
      {sheet && <MemberSheet s={s} member={sheet} onClose={() => setSheet(null)} />}
    </Screen>
  );
}

function Grid(props: { testid: string; label: string; members: MemberView[]; speaking: ReadonlySet<number>; s: RoomSession; onOpen: (m: MemberView) => void }) {
  const you = props.s.you.value;
  const myId = meSignal.value?.id;
  return (
    <ul class="grid" data-testid={props.testid} aria-label={props.label}>
      {props.members.map((m) => {
        const acts = you?.member_actions[String(m.id)] ?? [];
        const talking = props.speaking.has(m.id) && !m.self_muted && !m.mod_muted;
        // Visible name first, then the states for screen readers (the accessible name then
        // starts with the visible text, as WCAG's "label in name" asks).
        const states = [
          m.id === myId ? t("room.you") : "",
          talking ? t("room.speaking") : "",
          m.mod_muted ? t("room.mod_muted") : m.self_muted ? t("room.muted") : "",
          m.connected ? "" : t("room.disconnected"),
        ].filter(Boolean).join(", ");
        const body = (
          <>
            <span class={`ring${talking ? " talking" : ""}`}>
              <Avatar person={m} size={64} />
              {(m.self_muted || m.mod_muted) && <span class="mute-badge" aria-hidden="true">🔇</span>}
            </span>
            <span class="name">{m.display_name}</span>
            {m.role === "moderator" && <span class="role-tag">{t("role.moderator")}</span>}
            {states && <span class="sr-only">, {states}</span>}
          </>
        );
        return (
          <li key={m.id} data-testid="member" data-member-id={m.id} data-username={m.username} data-role={m.role}
            data-speaking={String(talking)} data-muted={String(m.self_muted || m.mod_muted)} data-mod-muted={String(m.mod_muted)}
            data-connected={String(m.connected)} class={m.connected ? "" : "away"}>
            <button type="button" class="member" aria-haspopup={acts.length ? "dialog" : undefined} onClick={() => props.onOpen(m)}>
              {body}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

function Audience({ s, count }: { s: RoomSession; count: number }) {
  const [open, setOpen] = useState(false);
  const [people, setPeople] = useState<MemberView[] | null>(null);
  useEffect(() => {
    if (!open) return;
    get<{ members: MemberView[] }>(`/rooms/${s.roomId}/audience?limit=100`).then((p) => setPeople(p.members), () => setPeople([]));
  }, [open, count]);
  return (
    <section aria-labelledby="h-aud" data-testid="audience" data-count={count}>
      <h2 id="h-aud">{t("room.audience", { count, n: fmtNumber(count) })}</h2>
      <button type="button" class="btn small" aria-expanded={(open)} onClick={() => setOpen(!open)}>
        {open ? t("room.hide_audience") : t("room.show_audience")}
      </button>
      {open && people && (
        <ul class="grid small" aria-label={t("room.audience_list")}>
          {people.map((m) => (
            <li key={m.id} data-testid="listener" data-username={m.username}>
              <a class="member" href={`/@${m.username}`}>
                <Avatar person={m} size={44} />
                <span class="name">{m.display_name}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function MemberSheet({ s, member, onClose }: { s: RoomSession; member: MemberView; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState<unknown>(null);
  const acts = s.you.value?.member_actions[String(member.id)] ?? [];
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const run = async (a: string) => {
    setError(null);
    try {
      const path = a === "invite_to_speak" ? "invite" : a.replace(/_/g, "-");
      await post(`/rooms/${s.roomId}/stage/${path}`, { member: `@${member.username}` });
      onClose();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <dialog ref={ref} class="sheet" data-testid="member-sheet" aria-labelledby="sheet-t" onClose={onClose}>
      <div class="row">
        <Avatar person={member} size={56} />
        <div>
          <h2 id="sheet-t">{member.display_name}</h2>
          <p class="muted">@{member.username} · {t(`role.${member.role}`)}</p>
        </div>
      </div>
      <div class="sheet-actions">
        {STAGE_ACTIONS.filter((a) => acts.includes(a)).map((a) => (
          <button key={a} type="button" class={`btn${a === "remove" ? " danger" : ""}`} data-action={a} onClick={() => void run(a)}>
            {t(`action.${a}`)}
          </button>
        ))}
        <a class="btn" href={`/@${member.username}`} onClick={onClose}>{t("room.view_profile")}</a>
        <button type="button" class="btn" data-testid="sheet-close" onClick={onClose}>{t("common.close")}</button>
      </div>
      <ErrorBox error={error} />
    </dialog>
  );
}

function DevicePicker({ s }: { s: RoomSession }) {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    navigator.mediaDevices?.enumerateDevices().then((d) => setDevices(d.filter((x) => x.kind === "audioinput")), () => {});
  }, [s.media.mode.value]);
  if (devices.length === 0) return null;
  return (
    <div class="field">
      <label for="mic">{t("settings.microphone")}</label>
      <select id="mic" data-testid="device-picker" value={micDevice.value}
        onChange={(e) => {
          setMicDevice((e.currentTarget as HTMLSelectElement).value);
          void s.media.switchMic();
        }}>
        <option value="">{t("settings.mic_default")}</option>
        {devices.map((d, i) => (
          <option key={d.deviceId} value={d.deviceId}>{d.label || t("settings.mic_n", { n: i + 1 })}</option>
        ))}
      </select>
    </div>
  );
}

function Reactions({ s, enabled, onError }: { s: RoomSession; enabled: boolean; onError: (e: unknown) => void }) {
  const bursts = s.bursts.value;
  return (
    <section class="reactions" aria-label={t("room.reactions")}>
      {enabled && (
        <div class="emoji-row">
          {EMOJI.map((e) => (
            <button key={e} type="button" class="emoji" data-testid="react" data-emoji={e} aria-label={t("room.react_with", { emoji: e })}
              onClick={() => s.act({ type: "react", emoji: e }).catch(onError)}>
              {e}
            </button>
          ))}
        </div>
      )}
      <div class="bursts" aria-hidden="true">
        {bursts.map((b) => (
          <span key={b.key} class="burst" data-testid="reaction-burst" data-emoji={b.emoji}>{b.emoji}</span>
        ))}
      </div>
    </section>
  );
}

function Chat({ s, canChat, mode, canDeleteAny }: { s: RoomSession; canChat: boolean; mode: string; canDeleteAny: boolean }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const list = useRef<HTMLDivElement>(null);
  const msgs = s.chat.value;
  const myId = meSignal.value?.id;
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [msgs.length]);
  const send = async (e: Event) => {
    e.preventDefault();
    const v = text.trim();
    if (!v) return;
    setError(null);
    try {
      await s.act({ type: "chat.send", text: v });
      setText("");
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section class="chat card" aria-labelledby="h-chat">
      <h2 id="h-chat">{t("room.chat")}</h2>
      <div class="chat-list" role="log" aria-label={t("room.chat")} data-testid="chat-list" ref={list}>
      <ol>
        {msgs.map((m) => (
          <li key={m.message_id} data-testid="chat-message" data-message-id={m.message_id}>
            <b>{m.author?.display_name ?? t("room.someone")}</b> <span>{m.text}</span>
            {(canDeleteAny || m.author?.id === myId) && (
              <button type="button" class="link small" aria-label={t("room.delete_message")}
                onClick={() => s.act({ type: "chat.delete", message_id: m.message_id }).catch(setError)}>
                ✕
              </button>
            )}
          </li>
        ))}
      </ol>
      </div>
      {mode === "off" && <p class="muted">{t("room.chat_is_off")}</p>}
      {mode === "speakers" && !canChat && <p class="muted">{t("room.chat_is_speakers")}</p>}
      {canChat && (
        <form class="row" onSubmit={send}>
          <label for="chat-input" class="sr-only">{t("room.message")}</label>
          <input id="chat-input" data-testid="chat-input" value={text} maxLength={500} autoComplete="off"
            placeholder={t("room.message")} onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} />
          <button type="submit" class="btn primary" data-testid="chat-send">{t("room.send")}</button>
        </form>
      )}
      <ErrorBox error={error} />
    </section>
  );
}
