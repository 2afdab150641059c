// Wire types of the Ruang API and WebSocket protocol (docs/protocol.md,
// src/ruang/events/models.py, the OpenAPI schemas). Only what the app reads.

export type Role = "moderator" | "speaker" | "listener";
export type RoomKind = "open" | "social" | "closed";
export type RoomState = "scheduled" | "live" | "ended";
export type ChatMode = "open" | "speakers" | "off";

export interface MemberView {
  id: number;
  username: string;
  display_name: string;
  avatar_url: string | null;
  role: Role;
  self_muted: boolean;
  mod_muted: boolean;
  connected: boolean;
}

export interface AuthorView {
  id: number;
  username: string;
  display_name: string;
  avatar_url: string | null;
}

export interface RoomView {
  id: number;
  title: string;
  description: string;
  kind: RoomKind;
  topics: string[];
  state: RoomState;
  host_id: number;
  cohost_ids: number[];
  created_at: string;
  scheduled_for: string | null;
  started_at: string | null;
  ended_at: string | null;
  chat_mode: ChatMode;
  hands_enabled: boolean;
}

export interface RoomSnapshot {
  room: RoomView;
  stage: MemberView[];
  hands: MemberView[];
  invited: MemberView[];
  audience_count: number;
  seq: number;
}

export type RoomEvent =
  | { type: "member_joined"; member: MemberView }
  | { type: "member_left"; member_id: number; reason: string }
  | { type: "member_removed"; member_id: number; by: number }
  | { type: "presence_changed"; member_id: number; connected: boolean }
  | { type: "role_changed"; member: MemberView; by: number | null }
  | { type: "speak_invited"; member: MemberView; by: number }
  | { type: "invite_declined"; member_id: number }
  | { type: "hand_raised"; member: MemberView }
  | { type: "hand_lowered"; member_id: number; by: number | null }
  | { type: "hands_changed"; enabled: boolean; by: number }
  | { type: "mute_changed"; member_id: number; self_muted: boolean; mod_muted: boolean; by: number | null }
  | { type: "audience_changed"; count: number }
  | { type: "chat_message"; message_id: number; author: AuthorView; text: string }
  | { type: "chat_deleted"; message_id: number; by: number }
  | { type: "chat_mode_changed"; mode: ChatMode; by: number }
  | { type: "reaction"; member_id: number; emoji: string }
  | { type: "room_started"; by: number }
  | { type: "room_ended"; by: number | null; reason: string };

export interface RoomEventEnvelope {
  room_id: number;
  seq: number;
  at: string;
  event: RoomEvent;
}

export interface You {
  in_room: boolean;
  role: Role | null;
  hand_raised: boolean;
  invited: boolean;
  actions: string[];
  member_actions: Record<string, string[]>;
}

export interface RoomDetail {
  snapshot: RoomSnapshot;
  you: You;
}

export interface Person {
  id: number;
  username: string;
  display_name: string;
  avatar_url: string | null;
}

export interface RoomCard {
  id: number;
  title: string;
  description: string;
  kind: RoomKind;
  topics: string[];
  state: RoomState;
  scheduled_for: string | null;
  started_at: string | null;
  host: Person;
  stage: Person[];
  stage_count: number;
  audience_count: number;
  followed_on_stage: string[];
  rsvp_count: number;
  you_rsvped: boolean;
}

export interface Hallway {
  live: RoomCard[];
  upcoming: RoomCard[];
}

export interface NotificationView {
  id: number;
  kind: string;
  room_id: number | null;
  room_title: string | null;
  actor: Person | null;
  created_at: string;
  read: boolean;
}

export interface ChatLine {
  message_id: number;
  seq: number;
  author: AuthorView | null;
  text: string;
  at: string;
}
