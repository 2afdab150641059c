// Invitations: send one by email, see what you sent, take back an unused one, and wave in
// people on the waitlist who named you.
import { useState } from "preact/hooks";
import { fmtDate, t } from "../i18n";
import { del, get, post } from "../lib/api";
import { bind, ErrorBox, Field, Screen, useLoad } from "../components/ui";

interface Invite {
  id: number;
  email: string;
  status: string;
  created_at: string;
  expires_at: string;
  redeemed_by: string | null;
}
interface Entry {
  id: number;
  name: string;
  username: string;
  note: string;
  created_at: string;
}

export default function Invites() {
  const [mine, error, loading, reload] = useLoad(() => get<{ invites_left: number; invites: Invite[] }>("/invites"), []);
  const [named, , , reloadNamed] = useLoad(() => get<Entry[]>("/waitlist/named-me"), []);
  const [email, setEmail] = useState("");
  const [actError, setActError] = useState<unknown>(null);
  const [sent, setSent] = useState("");
  const run = async (fn: () => Promise<unknown>, after?: () => void) => {
    setActError(null);
    try {
      await fn();
      after?.();
      reload();
      reloadNamed();
    } catch (e) {
      setActError(e);
    }
  };
  return (
    <Screen name="invites" title={t("invites.title")} ready={!loading}>
      <h1>{t("invites.title")}</h1>
      <ErrorBox error={error} />
      {mine && (
        <p class="big" data-testid="invites-left" data-count={mine.invites_left}>
          {t("invites.left", { count: mine.invites_left })}
        </p>
      )}
      <form class="card form" onSubmit={(e) => {
        e.preventDefault();
        const addr = email.trim();
        void run(() => post("/invites", { email: addr }), () => { setSent(addr); setEmail(""); });
      }}>
        <Field label={t("invites.email")} testid="invite-email" type="email" value={email} onInput={bind(setEmail)} required />
        <button type="submit" class="btn primary" data-testid="invite-send" disabled={mine?.invites_left === 0}>{t("invites.send")}</button>
        {sent && <p role="status" class="success" data-testid="invite-sent">{t("invites.sent", { email: sent })}</p>}
      </form>
      <ErrorBox error={actError} />
      {named && named.length > 0 && (
        <section aria-labelledby="h-named" data-testid="named-me">
          <h2 id="h-named">{t("invites.named_me")}</h2>
          <ul class="list">
            {named.map((e) => (
              <li key={e.id} class="row between" data-testid="named-entry" data-username={e.username}>
                <span><b>{e.name}</b> <span class="muted">@{e.username}</span>{e.note && <small class="block">{e.note}</small>}</span>
                <button type="button" class="btn small primary" data-testid="wave-in" onClick={() => run(() => post(`/waitlist/${e.id}/wave-in`))}>
                  {t("invites.wave_in")}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {mine && (
        <section aria-labelledby="h-sent">
          <h2 id="h-sent">{t("invites.sent_list")}</h2>
          {mine.invites.length === 0 && <p class="empty">{t("invites.none")}</p>}
          <ul class="list" data-testid="invite-list">
            {mine.invites.map((i) => (
              <li key={i.id} class="row between" data-testid="invite" data-status={i.status}>
                <span>
                  <b>{i.email}</b> <span class="chip">{t(`invites.status_${i.status}`)}</span>
                  <small class="block muted">
                    {i.redeemed_by ? t("invites.joined_as", { name: i.redeemed_by }) : t("invites.expires", { date: fmtDate(i.expires_at) })}
                  </small>
                </span>
                {i.status === "pending" && (
                  <button type="button" class="btn small" data-testid="invite-revoke" onClick={() => run(() => del(`/invites/${i.id}`))}>
                    {t("invites.revoke")}
                  </button>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
    </Screen>
  );
}
