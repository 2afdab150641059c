// A member's profile: follow, block, report; followers and following; your own profile is
// editable here (names, headline, bio, interests, avatar).
import { useState } from "preact/hooks";
import { fmtDate, fmtNumber, t } from "../i18n";
import { api, del, get, patch, post } from "../lib/api";
import { navigate } from "../lib/router";
import { loadMe } from "../lib/session";
import { Avatar, bind, ErrorBox, Field, Screen, TextArea, useLoad } from "../components/ui";
import { PersonList, type Card } from "./people";

export interface Profile {
  id: number;
  username: string;
  display_name: string;
  headline: string;
  avatar_url: string | null;
  bio: string;
  interests: string[];
  nominated_by: string | null;
  followers_count: number;
  following_count: number;
  joined_at: string;
  is_you: boolean;
  you_follow: boolean;
  follows_you: boolean;
  you_blocked: boolean;
}

export default function ProfileScreen({ username }: { username: string }) {
  const [p, error, loading, reload] = useLoad(() => get<Profile>(`/members/${encodeURIComponent(username)}`), [username]);
  const [editing, setEditing] = useState(false);
  const [list, setList] = useState<"" | "followers" | "following">("");
  const [actError, setActError] = useState<unknown>(null);
  const [reporting, setReporting] = useState(false);
  const [saved, setSaved] = useState(false);
  const run = async (fn: () => Promise<unknown>) => {
    setActError(null);
    try {
      await fn();
      reload();
    } catch (e) {
      setActError(e);
    }
  };
  const ref = encodeURIComponent(username);
  return (
    <Screen name="profile" title={p?.display_name ?? username} ready={!loading}>
      <ErrorBox error={error} />
      {p && (
        <article class="profile" data-testid="profile" data-username={p.username} data-following={String(p.you_follow)} data-blocked={String(p.you_blocked)}>
          <div class="row">
            <Avatar person={p} size={96} />
            <div>
              <h1>{p.display_name}</h1>
              <p class="muted">@{p.username}{p.follows_you && <> · <span class="chip">{t("profile.follows_you")}</span></>}</p>
            </div>
          </div>
          {p.headline && <p class="lead">{p.headline}</p>}
          {p.bio && <p class="bio">{p.bio}</p>}
          {p.interests.length > 0 && (
            <p class="topics">{p.interests.map((i) => <span class="chip" key={i}>{i}</span>)}</p>
          )}
          <p class="muted">
            {p.nominated_by && <>{t("profile.nominated_by", { name: p.nominated_by })} · </>}
            {t("profile.joined", { date: fmtDate(p.joined_at) })}
          </p>
          <div class="row wrap">
            <button type="button" class="link" aria-expanded={(list === "followers")} data-testid="followers-count"
              onClick={() => setList(list === "followers" ? "" : "followers")}>
              {t("profile.followers", { count: p.followers_count, n: fmtNumber(p.followers_count) })}
            </button>
            <button type="button" class="link" aria-expanded={(list === "following")} data-testid="following-count"
              onClick={() => setList(list === "following" ? "" : "following")}>
              {t("profile.following", { count: p.following_count, n: fmtNumber(p.following_count) })}
            </button>
          </div>
          <div class="row wrap">
            {p.is_you ? (
              <button type="button" class="btn" data-testid="edit-profile" aria-expanded={(editing)} onClick={() => { setSaved(false); setEditing(!editing); }}>
                {t("profile.edit")}
              </button>
            ) : (
              <>
                {!p.you_blocked && (
                  <button type="button" class={`btn${p.you_follow ? "" : " primary"}`} data-testid="follow" aria-pressed={(p.you_follow)}
                    onClick={() => run(() => (p.you_follow ? del(`/members/${ref}/follow`) : post(`/members/${ref}/follow`)))}>
                    {p.you_follow ? t("profile.unfollow") : t("profile.follow")}
                  </button>
                )}
                <button type="button" class="btn" data-testid="block" aria-pressed={(p.you_blocked)}
                  onClick={() => (p.you_blocked || confirm(t("profile.block_confirm", { name: p.display_name }))) &&
                    run(() => (p.you_blocked ? del(`/members/${ref}/block`) : post(`/members/${ref}/block`)))}>
                  {p.you_blocked ? t("profile.unblock") : t("profile.block")}
                </button>
                <button type="button" class="btn" data-testid="report" aria-expanded={(reporting)} onClick={() => setReporting(!reporting)}>
                  {t("profile.report")}
                </button>
              </>
            )}
          </div>
          <ErrorBox error={actError} />
          {saved && !editing && <p role="status" class="success" data-testid="profile-saved">{t("profile.saved")}</p>}
          {reporting && <Report username={p.username} onDone={() => setReporting(false)} />}
          {editing && p.is_you && <EditProfile p={p} onSaved={(np) => { setEditing(false); setSaved(true); void loadMe(); if (np.username !== username) navigate(`/@${np.username}`, { replace: true }); else reload(); }} />}
          {list && <FollowList username={p.username} kind={list} />}
        </article>
      )}
    </Screen>
  );
}

function FollowList({ username, kind }: { username: string; kind: "followers" | "following" }) {
  const [items, setItems] = useState<Card[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [, error, loading] = useLoad(async () => {
    const page = await get<{ items: Card[]; next_cursor: string | null }>(`/members/${encodeURIComponent(username)}/${kind}?limit=50`);
    setItems(page.items);
    setCursor(page.next_cursor);
    return page;
  }, [username, kind]);
  const more = async () => {
    if (!cursor) return;
    const page = await get<{ items: Card[]; next_cursor: string | null }>(`/members/${encodeURIComponent(username)}/${kind}?limit=50&cursor=${encodeURIComponent(cursor)}`);
    setItems([...items, ...page.items]);
    setCursor(page.next_cursor);
  };
  return (
    <section aria-labelledby="h-fl" data-testid={`${kind}-list`}>
      <h2 id="h-fl">{t(`profile.${kind}_title`)}</h2>
      <ErrorBox error={error} />
      {!loading && items.length === 0 && <p class="empty">{t("profile.nobody")}</p>}
      <PersonList people={items} />
      {cursor && <button type="button" class="btn" onClick={() => void more()}>{t("common.more")}</button>}
    </section>
  );
}

function Report({ username, onDone }: { username: string; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState(false);
  if (sent) return <p class="card success" role="status" data-testid="report-sent">{t("profile.report_sent")}</p>;
  return (
    <form class="card form" onSubmit={async (e) => {
      e.preventDefault();
      try {
        await post("/reports", { member: `@${username}`, reason });
        setSent(true);
        setTimeout(onDone, 3000);
      } catch (err) {
        setError(err);
      }
    }}>
      <TextArea label={t("profile.report_reason")} testid="report-reason" value={reason} onInput={bind(setReason)} required maxLength={2000} rows={3} />
      <ErrorBox error={error} />
      <button type="submit" class="btn primary" data-testid="report-submit">{t("profile.report_send")}</button>
    </form>
  );
}

function EditProfile({ p, onSaved }: { p: Profile; onSaved: (p: Profile) => void }) {
  const [topics] = useLoad(() => get<string[]>("/topics"), []);
  const [display, setDisplay] = useState(p.display_name);
  const [username, setUsername] = useState(p.username);
  const [headline, setHeadline] = useState(p.headline);
  const [bio, setBio] = useState(p.bio);
  const [interests, setInterests] = useState<string[]>(p.interests);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSaved(await patch<Profile>("/me/profile", { display_name: display, username: username.replace(/^@/, ""), headline, bio, interests }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const upload = async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (!file) return;
    const fd = new FormData();
    fd.append("file", file);
    setError(null);
    try {
      onSaved(await api<Profile>("PUT", "/me/avatar", fd));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card form" onSubmit={save} data-testid="profile-form">
      <h2>{t("profile.edit")}</h2>
      <div class="field">
        <label for="avatar-file">{t("profile.avatar")}</label>
        <input id="avatar-file" type="file" accept="image/png,image/jpeg,image/webp" data-testid="avatar-file" onChange={upload} />
        {p.avatar_url && (
          <button type="button" class="btn small" data-testid="avatar-remove" onClick={async () => {
            try { await del("/me/avatar"); onSaved({ ...p, avatar_url: null }); } catch (err) { setError(err); }
          }}>{t("profile.avatar_remove")}</button>
        )}
      </div>
      <Field label={t("profile.display_name")} testid="profile-display-name" value={display} onInput={bind(setDisplay)} maxLength={64} required />
      <Field label={t("profile.username")} testid="profile-username" value={username} onInput={bind(setUsername)} autoCapitalize="none" maxLength={32} required />
      <Field label={t("profile.headline")} testid="profile-headline" value={headline} onInput={bind(setHeadline)} maxLength={400} />
      <TextArea label={t("profile.bio")} testid="profile-bio" value={bio} onInput={bind(setBio)} maxLength={4000} rows={4} />
      {topics && (
        <fieldset>
          <legend>{t("profile.interests")}</legend>
          <div class="chips">
            {topics.map((tp) => (
              <label class="chip-check" key={tp}>
                <input type="checkbox" checked={interests.includes(tp)}
                  onChange={() => setInterests(interests.includes(tp) ? interests.filter((x) => x !== tp) : [...interests, tp])} />
                <span>{tp}</span>
              </label>
            ))}
          </div>
        </fieldset>
      )}
      <ErrorBox error={error} />
      <button type="submit" class="btn primary" data-testid="profile-save" disabled={busy}>{t("common.save")}</button>
    </form>
  );
}
