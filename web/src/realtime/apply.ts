// What each room event means: a port of src/ruang/events/models.py `apply`, the one
// definition the server, the SDK and this app share. Pure (no DOM), unit-tested in test/.
import type { MemberView, RoomEventEnvelope, RoomSnapshot } from "./types.js";

export class SequenceGap extends Error {}

const without = (list: MemberView[], id: number): MemberView[] => list.filter((m) => m.id !== id);

/** The snapshot after this event. Throws SequenceGap unless seq is the next one. */
export function apply(snap: RoomSnapshot, env: RoomEventEnvelope): RoomSnapshot {
  if (env.seq !== snap.seq + 1) {
    throw new SequenceGap(`event ${env.seq} does not follow snapshot ${snap.seq}`);
  }
  const ev = env.event;
  let { room, stage, hands, invited, audience_count: audience } = snap;
  switch (ev.type) {
    case "member_joined":
      stage = [...without(stage, ev.member.id), ev.member];
      break;
    case "member_left":
    case "member_removed":
      stage = without(stage, ev.member_id);
      hands = without(hands, ev.member_id);
      invited = without(invited, ev.member_id);
      break;
    case "presence_changed":
      stage = stage.map((m) => (m.id === ev.member_id ? { ...m, connected: ev.connected } : m));
      break;
    case "role_changed":
      hands = without(hands, ev.member.id);
      invited = without(invited, ev.member.id);
      if (ev.member.role === "listener") stage = without(stage, ev.member.id);
      else if (stage.some((m) => m.id === ev.member.id))
        stage = stage.map((m) => (m.id === ev.member.id ? ev.member : m));
      else stage = [...stage, ev.member];
      break;
    case "speak_invited":
      hands = without(hands, ev.member.id);
      invited = [...without(invited, ev.member.id), ev.member];
      break;
    case "invite_declined":
      invited = without(invited, ev.member_id);
      break;
    case "hand_raised":
      hands = [...without(hands, ev.member.id), ev.member];
      break;
    case "hand_lowered":
      hands = without(hands, ev.member_id);
      break;
    case "hands_changed":
      room = { ...room, hands_enabled: ev.enabled };
      if (!ev.enabled) hands = [];
      break;
    case "mute_changed":
      stage = stage.map((m) =>
        m.id === ev.member_id ? { ...m, self_muted: ev.self_muted, mod_muted: ev.mod_muted } : m,
      );
      break;
    case "audience_changed":
      audience = ev.count;
      break;
    case "chat_mode_changed":
      room = { ...room, chat_mode: ev.mode };
      break;
    case "room_started":
      room = { ...room, state: "live", started_at: env.at };
      break;
    case "room_ended":
      room = { ...room, state: "ended", ended_at: env.at };
      stage = [];
      hands = [];
      invited = [];
      audience = 0;
      break;
    // chat_message, chat_deleted and reaction are shown, not kept.
  }
  return { room, stage, hands, invited, audience_count: audience, seq: env.seq };
}

/** Events that change what the server lets me do (you.actions / member_actions): refetch. */
export function changesPermissions(type: string): boolean {
  return !["chat_message", "chat_deleted", "reaction", "audience_changed"].includes(type);
}
