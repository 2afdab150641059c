// The hallway: live rooms (ranked for you by the server) and upcoming ones, kept live by the
// WebSocket's hallway frames; the REST answer paints the first screen without waiting.
import { useEffect, useState } from "preact/hooks";
import { fmtDate, fmtNumber, t } from "../i18n";
import { get } from "../lib/api";
import { mark } from "../lib/debug";
import { realtime, type Msg } from "../realtime/socket";
import type { Hallway, RoomCard } from "../realtime/types";
import { Avatar, ErrorBox, Screen } from "../components/ui";

export function HallwayScreen() {
  const [hall, setHall] = useState<Hallway | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    get<Hallway>("/hallway").then(
      (h) => live && setHall((cur) => cur ?? h),
      (e) => live && setError(e),
    );
    const off = realtime.on("hallway", (m: Msg) => {
      setHall({ live: m.live as RoomCard[], upcoming: m.upcoming as RoomCard[] });
      setError(null);
    });
    const offOpen = realtime.onOpen(() => realtime.send({ type: "hallway.subscribe", subscribe: true }));
    // Fetch the room screen's code once the hallway is idle: a tap on a room then waits for
    // nothing but the network to the room (the chunk stays out of the first load).
    const prefetch = setTimeout(() => void import("./room").catch(() => {}), 1500);
    return () => {
      live = false;
      clearTimeout(prefetch);
      off();
      offOpen();
      realtime.send({ type: "hallway.subscribe", subscribe: false });
    };
  }, []);
  return (
    <Screen name="hallway" title={t("hallway.title")} ready={hall !== null || error !== null}>
      <div class="row between">
        <h1>{t("hallway.title")}</h1>
        <a class="btn primary" href="/rooms/new" data-testid="start-room">
          {t("hallway.start")}
        </a>
      </div>
      <ErrorBox error={error} />
      {hall && (
        <>
          <section aria-labelledby="h-live">
            <h2 id="h-live">{t("hallway.live")}</h2>
            {hall.live.length === 0 ? (
              <p class="empty" data-testid="hallway-empty">{t("hallway.no_live")}</p>
            ) : (
              <ul class="cards" data-testid="hallway-live">
                {hall.live.map((r) => (
                  <Card key={r.id} room={r} />
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="h-up">
            <h2 id="h-up">{t("hallway.upcoming")}</h2>
            {hall.upcoming.length === 0 ? (
              <p class="empty">{t("hallway.no_upcoming")}</p>
            ) : (
              <ul class="cards" data-testid="hallway-upcoming">
                {hall.upcoming.map((r) => (
                  <Card key={r.id} room={r} />
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </Screen>
  );
}

function Card({ room }: { room: RoomCard }) {
  const live = room.state === "live";
  const href = live ? `/rooms/${room.id}` : `/rooms/${room.id}/event`;
  return (
    <li class="card room-card" data-testid="room-card" data-room-id={room.id} data-state={room.state}>
      <a href={href} class="card-link" onClick={() => live && mark("join-tap")}>
        <span class="card-title">{room.title}</span>
      </a>
      {room.topics.length > 0 && (
        <p class="topics">
          {room.topics.map((tp) => (
            <span class="chip" key={tp}>{tp}</span>
          ))}
        </p>
      )}
      <div class="faces" aria-hidden="true">
        {room.stage.slice(0, 6).map((p) => (
          <Avatar key={p.id} person={p} size={36} />
        ))}
      </div>
      <p class="meta">
        {live ? (
          <>
            <span class="live-dot" aria-hidden="true" /> {t("hallway.on_stage", { count: room.stage_count })} ·{" "}
            {t("hallway.listening", { count: room.audience_count, n: fmtNumber(room.audience_count) })}
          </>
        ) : (
          <>
            {fmtDate(room.scheduled_for)} · {t("hallway.rsvps", { count: room.rsvp_count })}
          </>
        )}
      </p>
      {room.followed_on_stage.length > 0 && (
        <p class="meta muted">{t("hallway.followed", { names: room.followed_on_stage.join(", ") })}</p>
      )}
      <p class="meta muted">{t("hallway.host", { name: room.host.display_name })}</p>
    </li>
  );
}
