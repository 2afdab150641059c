// The shell: skip link, top bar, the screen for the current route, the mini player of the
// room this tab is in, and one polite live region for announcements.
import { useEffect } from "preact/hooks";
import { announce, unread } from "./lib/announce";
import { t } from "./i18n";
import { focusScreen, loc, match } from "./lib/router";
import { me } from "./lib/session";
import { get } from "./lib/api";
import { realtime } from "./realtime/socket";
import { currentRoom } from "./realtime/current";
import { Avatar, lazyScreen } from "./components/ui";
import { Welcome, Login } from "./screens/auth";
import { WaitlistJoin, WaitlistStatus, Redeem, ResetRequest, ResetConfirm, Verify } from "./screens/onboarding";
import { HallwayScreen } from "./screens/hallway";
import { NotFound } from "./screens/notfound";

const RoomScreen = lazyScreen<{ id: number }>(() => import("./screens/room"));
const NewRoom = lazyScreen<Record<string, never>>(() => import("./screens/newroom"));
const EventScreen = lazyScreen<{ id: number }>(() => import("./screens/event"));
const Profile = lazyScreen<{ username: string }>(() => import("./screens/profile"));
const People = lazyScreen<Record<string, never>>(() => import("./screens/people"));
const Invites = lazyScreen<Record<string, never>>(() => import("./screens/invites"));
const Settings = lazyScreen<Record<string, never>>(() => import("./screens/settings"));
const Notifications = lazyScreen<Record<string, never>>(() => import("./screens/notifications"));


realtime.onSessionEnded = () => {
  me.value = null;
};
realtime.on("notification", () => {
  unread.value += 1;
});

function route(path: string, query: URLSearchParams) {
  const token = (base: string) => match(`${base}/:token`, path)?.token ?? (path === base ? query.get("token") : null);
  if (path === "/login") return <Login />;
  if (path === "/waitlist") return <WaitlistJoin />;
  const wl = match("/waitlist/:token", path);
  if (wl) return <WaitlistStatus token={wl.token === "status" ? query.get("token") ?? "" : wl.token!} />;
  const inv = token("/invite");
  if (inv !== null && (path.startsWith("/invite/") || path === "/invite")) return <Redeem token={inv} />;
  if (path === "/reset" && !query.get("token")) return <ResetRequest />;
  const rs = token("/reset");
  if (rs) return <ResetConfirm token={rs} />;
  const vf = token("/verify");
  if (vf !== null && (path.startsWith("/verify"))) return <Verify token={vf} />;

  const user = me.value;
  if (user === undefined) return <main id="main" class="screen" data-screen="loading" data-ready="false" />;
  if (user === null) return path === "/" ? <Welcome /> : <Login next={path + (location.search || "")} />;

  if (path === "/") return <HallwayScreen />;
  if (path === "/rooms/new") return <NewRoom />;
  const ev = match("/rooms/:id/event", path);
  if (ev && /^\d+$/.test(ev.id!)) return <EventScreen id={Number(ev.id)} />;
  const room = match("/rooms/:id", path);
  if (room && /^\d+$/.test(room.id!)) return <RoomScreen id={Number(room.id)} />;
  if (path.startsWith("/@") && path.length > 2 && !path.slice(2).includes("/"))
    return <Profile username={decodeURIComponent(path.slice(2))} />;
  if (path === "/people") return <People />;
  if (path === "/invites") return <Invites />;
  if (path === "/settings") return <Settings />;
  if (path === "/notifications") return <Notifications />;
  return <NotFound />;
}

function TopBar() {
  const user = me.value;
  const path = loc.value.path;
  const cur = (p: string) => (path === p ? "page" : undefined);
  return (
    <header class="topbar">
      <a class="brand" href="/" aria-label={t("nav.home")}>
        <img src="/icons/icon.svg" alt="" width={28} height={28} />
        <span>Ruang</span>
      </a>
      {user && (
        <nav aria-label={t("nav.main")}>
          <ul>
            <li>
              <a href="/" data-testid="nav-hallway" aria-current={cur("/")}>{t("nav.hallway")}</a>
            </li>
            <li>
              <a href="/people" data-testid="nav-people" aria-current={cur("/people")}>{t("nav.people")}</a>
            </li>
            <li>
              <a href="/invites" data-testid="nav-invites" aria-current={cur("/invites")}>{t("nav.invites")}</a>
            </li>
            <li>
              <a href="/notifications" data-testid="nav-notifications" aria-current={cur("/notifications")}>
                {t("nav.notifications")}
                {unread.value > 0 && <span class="badge">{t("nav.unread", { count: unread.value })}</span>}
              </a>
            </li>
            <li>
              <a href="/settings" data-testid="nav-settings" aria-current={cur("/settings")}>{t("nav.settings")}</a>
            </li>
            <li>
              <a href={`/@${user.username}`} data-testid="nav-profile" class="me-link" aria-label={t("nav.profile")}>
                <Avatar person={{ id: user.id, display_name: user.display_name, avatar_url: null }} size={32} />
              </a>
            </li>
          </ul>
        </nav>
      )}
    </header>
  );
}

/** The room this tab is in, while looking at another screen: back to it, or leave. */
function MiniPlayer() {
  const room = currentRoom.value;
  const path = loc.value.path;
  if (!room || room.left.value || path === `/rooms/${room.roomId}`) return null;
  const title = room.snapshot.value?.room.title ?? "";
  return (
    <aside class="miniplayer" aria-label={t("mini.label")} data-testid="mini-player">
      <a href={`/rooms/${room.roomId}`} class="mini-title">
        <span class="live-dot" aria-hidden="true" /> {title || t("mini.back")}
      </a>
      <button type="button" class="btn small" data-testid="mini-leave" onClick={() => { currentRoom.value = null; void room.leave(); }}>
        {t("room.leave")}
      </button>
    </aside>
  );
}

export function App() {
  const { path, query } = loc.value;
  useEffect(() => {
    focusScreen();
  }, [path]);
  useEffect(() => {
    if (me.value) {
      realtime.start();
      // The badge starts from what is unread; notification frames add to it.
      get<unknown[]>("/notifications?unread=true&limit=100").then((l) => (unread.value = l.length), () => {});
    } else if (me.value === null) realtime.stop();
  }, [me.value?.id]);
  const conn = realtime.state.value;
  return (
    <>
      <a class="skip" href="#main" data-native onClick={(e) => { e.preventDefault(); document.querySelector<HTMLElement>("main h1")?.focus(); }}>
        {t("nav.skip")}
      </a>
      <TopBar />
      {me.value && (conn === "reconnecting" || conn === "offline") && (
        <p class="conn-banner" role="status" data-testid="connection-banner">
          {conn === "offline" ? t("conn.offline") : t("conn.reconnecting")}
        </p>
      )}
      {route(path, query)}
      <MiniPlayer />
      <div class="sr-only" aria-live="polite" data-testid="announcer">
        {announce.value}
      </div>
    </>
  );
}
