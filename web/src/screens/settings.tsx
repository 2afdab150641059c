// Settings: language, theme, microphone; email address; sessions, API keys, blocks; log out.
import { useEffect, useState } from "preact/hooks";
import { fmtDate, savedLang, setLang, t, type Lang } from "../i18n";
import { del, get, post } from "../lib/api";
import { navigate } from "../lib/router";
import { logout, me } from "../lib/session";
import { setTheme, theme, type Theme } from "../lib/theme";
import { micDevice, setMicDevice } from "../media/peer";
import { bind, ErrorBox, Field, Screen, useLoad } from "../components/ui";
import { PersonList, type Card } from "./people";

interface SessionView {
  id: number;
  kind: string;
  name: string | null;
  user_agent: string | null;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  current: boolean;
}

export default function Settings() {
  const [error, setError] = useState<unknown>(null);
  return (
    <Screen name="settings" title={t("settings.title")}>
      <h1>{t("settings.title")}</h1>
      <ErrorBox error={error} />
      <Preferences />
      <EmailBox />
      <Sessions onError={setError} />
      <ApiKeys onError={setError} />
      <Blocks />
      <section class="card" aria-labelledby="h-out">
        <h2 id="h-out">{t("settings.account")}</h2>
        <div class="row wrap">
          <button type="button" class="btn" data-testid="logout" onClick={async () => { await logout(); navigate("/"); }}>
            {t("settings.logout")}
          </button>
          <button type="button" class="btn danger" data-testid="logout-everywhere"
            onClick={async () => {
              if (!confirm(t("settings.logout_everywhere_confirm"))) return;
              try { await post("/auth/logout-everywhere"); me.value = null; navigate("/"); } catch (e) { setError(e); }
            }}>
            {t("settings.logout_everywhere")}
          </button>
        </div>
      </section>
    </Screen>
  );
}

function Preferences() {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [l, setL] = useState<Lang | "auto">(savedLang());
  useEffect(() => {
    navigator.mediaDevices?.enumerateDevices().then((d) => setDevices(d.filter((x) => x.kind === "audioinput")), () => {});
  }, []);
  return (
    <section class="card form" aria-labelledby="h-pref">
      <h2 id="h-pref">{t("settings.preferences")}</h2>
      <div class="field">
        <label for="lang">{t("settings.language")}</label>
        <select id="lang" data-testid="language" value={l} onChange={(e) => {
          const v = (e.currentTarget as HTMLSelectElement).value as Lang | "auto";
          setL(v);
          setLang(v);
        }}>
          <option value="auto">{t("settings.lang_auto")}</option>
          <option value="en">English</option>
          <option value="id">Bahasa Indonesia</option>
        </select>
      </div>
      <div class="field">
        <label for="theme">{t("settings.theme")}</label>
        <select id="theme" data-testid="theme" value={theme.value} onChange={(e) => setTheme((e.currentTarget as HTMLSelectElement).value as Theme)}>
          <option value="auto">{t("settings.theme_auto")}</option>
          <option value="light">{t("settings.theme_light")}</option>
          <option value="dark">{t("settings.theme_dark")}</option>
        </select>
      </div>
      <div class="field">
        <label for="mic-pref">{t("settings.microphone")}</label>
        <select id="mic-pref" data-testid="device-picker" value={micDevice.value} onChange={(e) => setMicDevice((e.currentTarget as HTMLSelectElement).value)}>
          <option value="">{t("settings.mic_default")}</option>
          {devices.map((d, i) => <option key={d.deviceId} value={d.deviceId}>{d.label || t("settings.mic_n", { n: i + 1 })}</option>)}
        </select>
        <small class="hint">{t("settings.mic_hint")}</small>
      </div>
    </section>
  );
}

function EmailBox() {
  const [email, setEmail] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState(false);
  const user = me.value;
  return (
    <form class="card form" aria-labelledby="h-email" onSubmit={async (e) => {
      e.preventDefault();
      setError(null);
      try { await post("/me/email", { email: email.trim() }); setSent(true); } catch (err) { setError(err); }
    }}>
      <h2 id="h-email">{t("settings.email")}</h2>
      {user?.email && (
        <p data-testid="current-email">
          {user.email} {user.email_verified ? <span class="chip">{t("settings.verified")}</span> : <span class="chip">{t("settings.unverified")}</span>}
        </p>
      )}
      <Field label={t("settings.new_email")} testid="new-email" type="email" value={email} onInput={bind(setEmail)} required />
      <ErrorBox error={error} />
      {sent && <p role="status" class="success" data-testid="email-sent">{t("settings.email_sent")}</p>}
      <button type="submit" class="btn">{t("settings.change_email")}</button>
    </form>
  );
}

function Sessions({ onError }: { onError: (e: unknown) => void }) {
  const [list, error, , reload] = useLoad(() => get<SessionView[]>("/sessions"), []);
  return (
    <section class="card" aria-labelledby="h-sess" data-testid="sessions">
      <h2 id="h-sess">{t("settings.sessions")}</h2>
      <ErrorBox error={error} />
      <ul class="list">
        {list?.map((s) => (
          <li key={s.id} class="row between" data-testid="session" data-current={String(s.current)}>
            <span>
              <b>{s.user_agent ? shortAgent(s.user_agent) : t("settings.unknown_device")}</b>
              {s.current && <span class="chip">{t("settings.this_device")}</span>}
              <small class="block muted">{t("settings.last_used", { date: fmtDate(s.last_used_at) })}</small>
            </span>
            {!s.current && (
              <button type="button" class="btn small" data-testid="session-revoke"
                onClick={() => del(`/sessions/${s.id}`).then(reload, onError)}>{t("settings.revoke")}</button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

function shortAgent(ua: string): string {
  const browser = /Firefox\/\d+/.exec(ua)?.[0] ?? /Edg\/\d+/.exec(ua)?.[0] ?? /Chrom(e|ium)\/\d+/.exec(ua)?.[0] ?? /Safari\/\d+/.exec(ua)?.[0];
  const os = /Android|iPhone|iPad|Windows|Mac OS X|Linux/.exec(ua)?.[0];
  return [browser, os].filter(Boolean).join(" · ") || ua.slice(0, 60);
}

function ApiKeys({ onError }: { onError: (e: unknown) => void }) {
  const [list, error, , reload] = useLoad(() => get<SessionView[]>("/api-keys"), []);
  const [name, setName] = useState("");
  const [token, setToken] = useState("");
  return (
    <section class="card" aria-labelledby="h-keys" data-testid="api-keys">
      <h2 id="h-keys">{t("settings.api_keys")}</h2>
      <p class="muted">{t("settings.api_keys_hint")}</p>
      <ErrorBox error={error} />
      <form class="row" onSubmit={async (e) => {
        e.preventDefault();
        try {
          const k = await post<{ token: string }>("/api-keys", { name: name.trim() });
          setToken(k.token);
          setName("");
          reload();
        } catch (err) { onError(err); }
      }}>
        <label for="key-name" class="sr-only">{t("settings.key_name")}</label>
        <input id="key-name" data-testid="api-key-name" placeholder={t("settings.key_name")} value={name} onInput={bind(setName)} required maxLength={64} />
        <button type="submit" class="btn">{t("settings.create_key")}</button>
      </form>
      {token && (
        <p class="card success" role="status">
          {t("settings.key_once")} <code data-testid="api-key-token">{token}</code>
        </p>
      )}
      <ul class="list">
        {list?.map((k) => (
          <li key={k.id} class="row between" data-testid="api-key">
            <span><b>{k.name}</b><small class="block muted">{t("settings.last_used", { date: fmtDate(k.last_used_at) })}</small></span>
            <button type="button" class="btn small" data-testid="api-key-revoke" onClick={() => del(`/api-keys/${k.id}`).then(reload, onError)}>
              {t("settings.revoke")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Blocks() {
  const [list, error] = useLoad(() => get<Card[]>("/me/blocks"), []);
  return (
    <section class="card" aria-labelledby="h-blocks" data-testid="blocks">
      <h2 id="h-blocks">{t("settings.blocks")}</h2>
      <ErrorBox error={error} />
      {list && list.length === 0 && <p class="empty">{t("settings.no_blocks")}</p>}
      {list && <PersonList people={list} />}
      {list && list.length > 0 && <p class="muted">{t("settings.blocks_hint")}</p>}
    </section>
  );
}
