// The TypeScript port of events/models.py `apply` (compiled to .test-build by `npm test`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { apply, SequenceGap } from "../.test-build/realtime/apply.js";
import { lookup } from "../.test-build/lib/plural.js";

const m = (id, role = "speaker", extra = {}) => ({ id, username: `u${id}`, display_name: `U ${id}`, avatar_url: null, role, self_muted: false, mod_muted: false, connected: true, ...extra });
const room = { id: 1, title: "r", description: "", kind: "open", topics: [], state: "live", host_id: 1, cohost_ids: [], created_at: "2026-01-01T00:00:00Z", scheduled_for: null, started_at: null, ended_at: null, chat_mode: "open", hands_enabled: true };
const snap = { room, stage: [m(1, "moderator")], hands: [], invited: [], audience_count: 3, seq: 10 };
const ev = (seq, event) => ({ room_id: 1, seq, at: "2026-01-01T01:00:00Z", event });

test("a gap in seq is refused", () => {
  assert.throws(() => apply(snap, ev(12, { type: "audience_changed", count: 1 })), SequenceGap);
});

test("hand raised, invited, promoted, muted, demoted, left", () => {
  let s = apply(snap, ev(11, { type: "hand_raised", member: m(2, "listener") }));
  assert.deepEqual(s.hands.map((x) => x.id), [2]);
  s = apply(s, ev(12, { type: "speak_invited", member: m(2, "listener"), by: 1 }));
  assert.deepEqual([s.hands.length, s.invited.map((x) => x.id)], [0, [2]]);
  s = apply(s, ev(13, { type: "role_changed", member: m(2, "speaker"), by: null }));
  assert.deepEqual([s.invited.length, s.stage.map((x) => x.id)], [0, [1, 2]]);
  s = apply(s, ev(14, { type: "mute_changed", member_id: 2, self_muted: false, mod_muted: true, by: 1 }));
  assert.equal(s.stage[1].mod_muted, true);
  s = apply(s, ev(15, { type: "role_changed", member: m(2, "listener"), by: 1 }));
  assert.deepEqual(s.stage.map((x) => x.id), [1]);
  s = apply(s, ev(16, { type: "member_left", member_id: 1, reason: "left" }));
  assert.deepEqual([s.stage.length, s.seq], [0, 16]);
});

test("room settings, audience, start and end", () => {
  let s = apply(snap, ev(11, { type: "hand_raised", member: m(3, "listener") }));
  s = apply(s, ev(12, { type: "hands_changed", enabled: false, by: 1 }));
  assert.deepEqual([s.room.hands_enabled, s.hands.length], [false, 0]);
  s = apply(s, ev(13, { type: "chat_mode_changed", mode: "off", by: 1 }));
  s = apply(s, ev(14, { type: "audience_changed", count: 42 }));
  s = apply(s, ev(15, { type: "chat_message", message_id: 1, author: m(1), text: "hi" }));
  assert.deepEqual([s.room.chat_mode, s.audience_count, s.seq], ["off", 42, 15]);
  s = apply(s, ev(16, { type: "room_ended", by: 1, reason: "ended" }));
  assert.deepEqual([s.room.state, s.room.ended_at, s.stage.length, s.audience_count], ["ended", "2026-01-01T01:00:00Z", 0, 0]);
});

test("plural forms and placeholders", () => {
  const cat = { "x_one": "{count} room", "x_other": "{count} rooms", y: "hi {name}" };
  assert.equal(lookup(cat, cat, "en", "x", { count: 1 }), "1 room");
  assert.equal(lookup(cat, cat, "en", "x", { count: 3 }), "3 rooms");
  assert.equal(lookup(cat, cat, "id", "x", { count: 1 }), "1 rooms");
  assert.equal(lookup(cat, cat, "en", "y", { name: "Ani" }), "hi Ani");
  assert.equal(lookup(cat, cat, "en", "missing"), "missing");
});
