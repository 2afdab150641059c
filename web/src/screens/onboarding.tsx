// Getting in: the waitlist and its status, redeeming an invitation, password reset, and
// confirming an address. The tokens come from the links in Ruang's emails.
import { useState } from "preact/hooks";
import { t, fmtDate } from "../i18n";
import { get, post } from "../lib/api";
import { navigate } from "../lib/router";
import { loadMe } from "../lib/session";
import { bind, ErrorBox, Field, Screen, TextArea, useLoad } from "../components/ui";

function useSubmit<T>(fn: () => Promise<T>, done: (r: T) => void) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      done(await fn());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, submit };
}

export function WaitlistJoin() {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [username, setUsername] = useState("");
  const [vouchers, setVouchers] = useState("");
  const [note, setNote] = useState("");
  const [done, setDone] = useState(false);
  const { error, busy, submit } = useSubmit(
    () =>
      post("/waitlist", {
        name: name.trim(),
        email: email.trim(),
        username: username.trim().replace(/^@/, ""),
        vouchers: vouchers.split(/[\s,]+/).map((v) => v.replace(/^@/, "")).filter(Boolean).slice(0, 5),
        note,
      }),
    () => setDone(true),
  );
  return (
    <Screen name="waitlist" title={t("waitlist.title")}>
      <h1>{t("waitlist.title")}</h1>
      {done ? (
        <p class="card success" role="status" data-testid="wl-done">
          {t("waitlist.done")}
        </p>
      ) : (
        <form class="card form" onSubmit={submit}>
          <p class="muted">{t("waitlist.intro")}</p>
          <Field label={t("waitlist.name")} testid="wl-name" value={name} onInput={bind(setName)} autoComplete="name" required maxLength={64} />
          <Field label={t("waitlist.email")} testid="wl-email" type="email" value={email} onInput={bind(setEmail)} autoComplete="email" required />
          <Field label={t("waitlist.username")} testid="wl-username" value={username} onInput={bind(setUsername)} autoCapitalize="none" required maxLength={32} />
          <Field label={t("waitlist.vouchers")} testid="wl-vouchers" value={vouchers} onInput={bind(setVouchers)} autoCapitalize="none" hint={t("waitlist.vouchers_hint")} />
          <TextArea label={t("waitlist.note")} testid="wl-note" value={note} onInput={bind(setNote)} maxLength={500} rows={3} />
          <ErrorBox error={error} />
          <button class="btn primary" type="submit" data-testid="wl-submit" disabled={busy}>
            {t("waitlist.join")}
          </button>
        </form>
      )}
      <p class="links">
        <a href="/login">{t("login.have_account")}</a>
      </p>
    </Screen>
  );
}

interface WlStatus {
  name: string;
  username: string;
  status: string;
  position: number | null;
}

export function WaitlistStatus(props: { token: string }) {
  const [data, error, loading] = useLoad(() => get<WlStatus>(`/waitlist/status?token=${encodeURIComponent(props.token)}`), [props.token]);
  return (
    <Screen name="waitlist-status" title={t("wlstatus.title")} ready={!loading}>
      <h1>{t("wlstatus.title")}</h1>
      <ErrorBox error={error} />
      {data && (
        <div class="card" data-testid="wl-status" data-status={data.status}>
          <p>{t("wlstatus.hello", { name: data.name, username: data.username })}</p>
          <p class="big">{t(`wlstatus.${data.status}`)}</p>
          {data.position !== null && (
            <p data-testid="wl-position" data-position={data.position}>
              {t("wlstatus.position", { position: data.position })}
            </p>
          )}
        </div>
      )}
    </Screen>
  );
}

interface InviteInfo {
  inviter: string | null;
  email: string;
  username: string | null;
  expires_at: string;
}

export function Redeem(props: { token: string }) {
  const [info, infoError, loading] = useLoad(() => get<InviteInfo>(`/invites/lookup?token=${encodeURIComponent(props.token)}`), [props.token]);
  const [username, setUsername] = useState<string | null>(null);
  const [display, setDisplay] = useState("");
  const [password, setPassword] = useState("");
  const uname = username ?? info?.username ?? "";
  const { error, busy, submit } = useSubmit(
    () =>
      post("/invites/redeem", {
        token: props.token,
        password,
        username: uname.trim().replace(/^@/, "") || null,
        display_name: display.trim() || null,
      }),
    async () => {
      await loadMe();
      navigate("/", { replace: true });
    },
  );
  return (
    <Screen name="redeem" title={t("redeem.title")} ready={!loading}>
      <h1>{t("redeem.title")}</h1>
      <ErrorBox error={infoError} />
      {info && (
        <form class="card form" onSubmit={submit}>
          <p data-testid="redeem-info">
            {info.inviter ? t("redeem.invited_by", { inviter: info.inviter, email: info.email }) : t("redeem.invited", { email: info.email })}
            {" "}
            <span class="muted">{t("redeem.expires", { date: fmtDate(info.expires_at) })}</span>
          </p>
          <Field label={t("redeem.username")} testid="redeem-username" value={uname} onInput={bind(setUsername)} autoCapitalize="none" autoComplete="username" required maxLength={32} />
          <Field label={t("redeem.display_name")} testid="redeem-display-name" value={display} onInput={bind(setDisplay)} autoComplete="name" maxLength={64} />
          <Field label={t("redeem.password")} testid="redeem-password" type="password" value={password} onInput={bind(setPassword)} autoComplete="new-password" required minLength={10} hint={t("password.hint")} />
          <ErrorBox error={error} />
          <button class="btn primary" type="submit" data-testid="redeem-submit" disabled={busy}>
            {t("redeem.submit")}
          </button>
        </form>
      )}
    </Screen>
  );
}

export function ResetRequest() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const { error, busy, submit } = useSubmit(() => post("/auth/password-reset", { email: email.trim() }), () => setSent(true));
  return (
    <Screen name="reset-request" title={t("reset.title")}>
      <h1>{t("reset.title")}</h1>
      {sent ? (
        <p class="card success" role="status" data-testid="reset-sent">
          {t("reset.sent")}
        </p>
      ) : (
        <form class="card form" onSubmit={submit}>
          <Field label={t("reset.email")} testid="reset-email" type="email" value={email} onInput={bind(setEmail)} autoComplete="email" required />
          <ErrorBox error={error} />
          <button class="btn primary" type="submit" data-testid="reset-submit" disabled={busy}>
            {t("reset.submit")}
          </button>
        </form>
      )}
      <p class="links">
        <a href="/login">{t("login.title")}</a>
      </p>
    </Screen>
  );
}

export function ResetConfirm(props: { token: string }) {
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const { error, busy, submit } = useSubmit(() => post("/auth/password-reset/confirm", { token: props.token, password }), () => setDone(true));
  return (
    <Screen name="reset-confirm" title={t("reset.confirm_title")}>
      <h1>{t("reset.confirm_title")}</h1>
      {done ? (
        <div class="card success" role="status" data-testid="reset-done">
          <p>{t("reset.done")}</p>
          <a class="btn primary" href="/login">
            {t("login.submit")}
          </a>
        </div>
      ) : (
        <form class="card form" onSubmit={submit}>
          <Field label={t("reset.new_password")} testid="reset-password" type="password" value={password} onInput={bind(setPassword)} autoComplete="new-password" required minLength={10} hint={t("password.hint")} />
          <ErrorBox error={error} />
          <button class="btn primary" type="submit" data-testid="reset-confirm-submit" disabled={busy}>
            {t("reset.confirm_submit")}
          </button>
        </form>
      )}
    </Screen>
  );
}

export function Verify(props: { token: string }) {
  const [data, error, loading] = useLoad(() => post<{ username: string }>("/auth/verify-email", { token: props.token }), [props.token]);
  return (
    <Screen name="verify" title={t("verify.title")} ready={!loading}>
      <h1>{t("verify.title")}</h1>
      <ErrorBox error={error} />
      {!loading && (
        <p class="card" data-testid="verify-result" data-ok={String(!!data)}>
          {data ? t("verify.ok") : t("verify.failed")}
        </p>
      )}
      <p class="links">
        <a href="/">{t("nav.hallway")}</a>
      </p>
    </Screen>
  );
}
