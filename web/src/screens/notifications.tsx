// Notifications (rooms starting that you follow or RSVPed): read here, marked as read.
import { useEffect } from "preact/hooks";
import { fmtRelative, t } from "../i18n";
import { get, post } from "../lib/api";
import { unread } from "../lib/announce";
import { realtime } from "../realtime/socket";
import type { NotificationView } from "../realtime/types";
import { ErrorBox, Screen, useLoad } from "../components/ui";

export default function Notifications() {
  const [items, error, loading, reload] = useLoad(() => get<NotificationView[]>("/notifications?limit=100"), []);
  useEffect(() => realtime.on("notification", () => reload()), []);
  useEffect(() => {
    unread.value = 0;
  }, [items]);
  const markAll = async () => {
    await post("/notifications/read", { ids: null }).catch(() => {});
    reload();
  };
  return (
    <Screen name="notifications" title={t("notif.title")} ready={!loading}>
      <div class="row between">
        <h1>{t("notif.title")}</h1>
        {items?.some((n) => !n.read) && (
          <button type="button" class="btn small" data-testid="mark-read" onClick={() => void markAll()}>{t("notif.mark_read")}</button>
        )}
      </div>
      <ErrorBox error={error} />
      {items && items.length === 0 && <p class="empty">{t("notif.none")}</p>}
      <ul class="list" data-testid="notification-list">
        {items?.map((n) => (
          <li key={n.id} class={n.read ? "" : "unread"} data-testid="notification" data-kind={n.kind} data-read={String(n.read)}>
            {n.room_id ? (
              <a href={`/rooms/${n.room_id}`}>
                {t(`notif.${n.kind}`, { name: n.actor?.display_name ?? "", room: n.room_title ?? "" })}
              </a>
            ) : (
              <span>{t(`notif.${n.kind}`, { name: n.actor?.display_name ?? "", room: n.room_title ?? "" })}</span>
            )}
            <small class="block muted">{fmtRelative(n.created_at)}</small>
          </li>
        ))}
      </ul>
    </Screen>
  );
}
