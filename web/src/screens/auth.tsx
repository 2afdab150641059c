import { useState } from "preact/hooks";
import { t } from "../i18n";
import { post } from "../lib/api";
import { navigate } from "../lib/router";
import { loadMe } from "../lib/session";
import { bind, ErrorBox, Field, Screen } from "../components/ui";

export function Welcome() {
  return (
    <Screen name="welcome" title={t("welcome.title")}>
      <section class="hero">
        <img src="/icons/icon.svg" alt="" width={96} height={96} />
        <h1>{t("welcome.title")}</h1>
        <p class="lead">{t("welcome.lead")}</p>
        <div class="actions">
          <a class="btn primary" href="/login" data-testid="welcome-login">
            {t("login.submit")}
          </a>
          <a class="btn" href="/waitlist" data-testid="welcome-waitlist">
            {t("waitlist.join")}
          </a>
        </div>
        <p class="muted">{t("welcome.invite_only")}</p>
      </section>
    </Screen>
  );
}

export function Login(props: { next?: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post("/auth/login", { username: username.trim().replace(/^@/, ""), password });
      await loadMe();
      navigate(props.next && props.next !== "/login" ? props.next : "/", { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Screen name="login" title={t("login.title")}>
      <h1>{t("login.title")}</h1>
      <form class="card form" onSubmit={submit}>
        <Field label={t("login.username")} testid="login-username" value={username} onInput={bind(setUsername)} autoComplete="username" autoCapitalize="none" required />
        <Field label={t("login.password")} testid="login-password" type="password" value={password} onInput={bind(setPassword)} autoComplete="current-password" required />
        <ErrorBox error={error} />
        <button class="btn primary" type="submit" data-testid="login-submit" disabled={busy}>
          {t("login.submit")}
        </button>
      </form>
      <p class="links">
        <a href="/reset">{t("login.forgot")}</a> · <a href="/waitlist">{t("waitlist.join")}</a>
      </p>
    </Screen>
  );
}
