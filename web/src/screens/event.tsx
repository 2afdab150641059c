// A scheduled room's event page: when, who hosts, RSVP, the calendar file; hosts start it.
import { useState } from "preact/hooks";
import { fmtDate, t } from "../i18n";
import { del, get, post } from "../lib/api";
import { mark } from "../lib/debug";
import { navigate } from "../lib/router";
import { me } from "../lib/session";
import type { AuthorView, RoomView } from "../realtime/types";
import { Avatar, ErrorBox, Screen, useLoad } from "../components/ui";

interface EventPage {
  room: RoomView;
  hosts: AuthorView[];
  rsvp_count: number;
  you_rsvped: boolean;
  calendar_url: string;
}

export default function EventScreen({ id }: { id: number }) {
  const [page, error, loading, reload] = useLoad(() => get<EventPage>(`/rooms/${id}/event`), [id]);
  const [actError, setActError] = useState<unknown>(null);
  const run = async (fn: () => Promise<unknown>) => {
    setActError(null);
    try {
      await fn();
      reload();
    } catch (e) {
      setActError(e);
    }
  };
  const room = page?.room;
  const isHost = !!room && !!me.value && (room.host_id === me.value.id || room.cohost_ids.includes(me.value.id));
  return (
    <Screen name="event" title={room?.title ?? t("event.title")} ready={!loading}>
      <ErrorBox error={error} />
      {page && room && (
        <article class="card event" data-testid="event" data-state={room.state} data-rsvped={String(page.you_rsvped)}>
          <p class="muted">{t(`kind.${room.kind}`)} · {t(`state.${room.state}`)}</p>
          <h1>{room.title}</h1>
          {room.description && <p>{room.description}</p>}
          <p class="big" data-testid="event-when">{fmtDate(room.scheduled_for ?? room.started_at)}</p>
          <ul class="hosts" aria-label={t("event.hosts")}>
            {page.hosts.map((h) => (
              <li key={h.id}>
                <a href={`/@${h.username}`} class="row">
                  <Avatar person={h} size={36} /> <span>{h.display_name}</span>
                </a>
              </li>
            ))}
          </ul>
          <p data-testid="rsvp-count">{t("hallway.rsvps", { count: page.rsvp_count })}</p>
          <div class="row wrap">
            {room.state === "scheduled" && (
              <button type="button" class={`btn${page.you_rsvped ? "" : " primary"}`} data-testid="rsvp" aria-pressed={(page.you_rsvped)}
                onClick={() => run(() => (page.you_rsvped ? del(`/rooms/${id}/rsvp`) : post(`/rooms/${id}/rsvp`)))}>
                {page.you_rsvped ? t("event.unrsvp") : t("event.rsvp")}
              </button>
            )}
            <a class="btn" href={`/api/v1/rooms/${id}/event.ics`} download={`ruang-room-${id}.ics`} data-testid="ics">
              {t("event.calendar")}
            </a>
            {room.state === "scheduled" && isHost && (
              <button type="button" class="btn primary" data-testid="start-scheduled"
                onClick={() => run(async () => { await post(`/rooms/${id}/start`); mark("join-tap"); navigate(`/rooms/${id}`); })}>
                {t("event.start")}
              </button>
            )}
            {room.state === "scheduled" && isHost && (
              <button type="button" class="btn danger" data-testid="cancel-scheduled"
                onClick={() => confirm(t("event.cancel_confirm")) && run(() => post(`/rooms/${id}/end`))}>
                {t("event.cancel")}
              </button>
            )}
            {room.state === "live" && (
              <a class="btn primary" href={`/rooms/${id}`}>{t("event.join")}</a>
            )}
          </div>
          <ErrorBox error={actError} />
        </article>
      )}
    </Screen>
  );
}
