// Start a room now or schedule one (open, social or closed; topics, co-hosts, invitees).
import { useState } from "preact/hooks";
import { t } from "../i18n";
import { get, post } from "../lib/api";
import { mark } from "../lib/debug";
import { navigate } from "../lib/router";
import type { RoomKind, RoomView } from "../realtime/types";
import { bind, ErrorBox, Field, Screen, TextArea, useLoad } from "../components/ui";

// The value format of <input type="datetime-local"> in local time: 2026-12-02T10:30.
const localInput = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

const names = (s: string) => s.split(/[\s,]+/).map((x) => x.replace(/^@/, "")).filter(Boolean);

export default function NewRoom() {
  const [topics] = useLoad(() => get<string[]>("/topics"), []);
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [kind, setKind] = useState<RoomKind>("open");
  const [picked, setPicked] = useState<string[]>([]);
  const [cohosts, setCohosts] = useState("");
  const [invitees, setInvitees] = useState("");
  const [later, setLater] = useState(false);
  const [when, setWhen] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const room = await post<RoomView>("/rooms", {
        title: title.trim(),
        description,
        kind,
        topics: picked,
        cohosts: names(cohosts),
        invitees: kind === "closed" ? names(invitees) : [],
        scheduled_for: later && when ? new Date(when).toISOString() : null,
      });
      if (room.state === "live") mark("join-tap");
      navigate(room.state === "live" ? `/rooms/${room.id}` : `/rooms/${room.id}/event`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const toggle = (tp: string) => setPicked(picked.includes(tp) ? picked.filter((x) => x !== tp) : [...picked, tp].slice(0, 10));
  return (
    <Screen name="new-room" title={t("newroom.title")}>
      <h1>{t("newroom.title")}</h1>
      <form class="card form" onSubmit={submit}>
        <Field label={t("newroom.room_title")} testid="room-title" value={title} onInput={bind(setTitle)} required maxLength={200} />
        <TextArea label={t("newroom.description")} testid="room-description" value={description} onInput={bind(setDescription)} maxLength={2000} rows={3} />
        <fieldset>
          <legend>{t("newroom.kind")}</legend>
          {(["open", "social", "closed"] as const).map((k) => (
            <label class="radio" key={k}>
              <input type="radio" name="kind" value={k} checked={kind === k} data-testid={`room-kind-${k}`} onChange={() => setKind(k)} />
              <span>
                <b>{t(`kind.${k}`)}</b> <small class="muted">{t(`kind.${k}_hint`)}</small>
              </span>
            </label>
          ))}
        </fieldset>
        {topics && topics.length > 0 && (
          <fieldset>
            <legend>{t("newroom.topics")}</legend>
            <div class="chips">
              {topics.map((tp) => (
                <label class="chip-check" key={tp}>
                  <input type="checkbox" checked={picked.includes(tp)} onChange={() => toggle(tp)} data-testid="room-topic" value={tp} />
                  <span>{tp}</span>
                </label>
              ))}
            </div>
          </fieldset>
        )}
        <Field label={t("newroom.cohosts")} testid="room-cohosts" value={cohosts} onInput={bind(setCohosts)} autoCapitalize="none" hint={t("newroom.names_hint")} />
        {kind === "closed" && (
          <Field label={t("newroom.invitees")} testid="room-invitees" value={invitees} onInput={bind(setInvitees)} autoCapitalize="none" hint={t("newroom.names_hint")} />
        )}
        <label class="check">
          <input type="checkbox" checked={later} data-testid="room-schedule" onChange={(e) => setLater((e.currentTarget as HTMLInputElement).checked)} />
          {t("newroom.later")}
        </label>
        {later && (
          <Field label={t("newroom.when")} testid="room-when" type="datetime-local" value={when} onInput={bind(setWhen)} required
            min={localInput(new Date(Date.now() + 60_000))} max={localInput(new Date(Date.now() + 364 * 86400_000))} hint={t("newroom.when_hint")} />
        )}
        <ErrorBox error={error} />
        <button class="btn primary" type="submit" data-testid="room-create" disabled={busy}>
          {later ? t("newroom.schedule") : t("newroom.start")}
        </button>
      </form>
    </Screen>
  );
}
