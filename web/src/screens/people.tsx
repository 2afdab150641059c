// People search (word prefixes of names, usernames and headlines; the server ranks).
import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { get, q } from "../lib/api";
import { loc, navigate } from "../lib/router";
import { Avatar, ErrorBox, Screen } from "../components/ui";

export interface Card {
  id: number;
  username: string;
  display_name: string;
  headline: string;
  avatar_url: string | null;
}

export function PersonList({ people }: { people: Card[] }) {
  return (
    <ul class="people" data-testid="people-list">
      {people.map((p) => (
        <li key={p.id} data-testid="person" data-username={p.username}>
          <a href={`/@${p.username}`} class="person">
            <Avatar person={p} size={44} />
            <span>
              <b>{p.display_name}</b> <span class="muted">@{p.username}</span>
              {p.headline && <small class="block muted">{p.headline}</small>}
            </span>
          </a>
        </li>
      ))}
    </ul>
  );
}

export default function People() {
  const initial = loc.value.query.get("q") ?? "";
  const [text, setText] = useState(initial);
  const [results, setResults] = useState<Card[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const v = text.trim();
    if (!v) {
      setResults(null);
      return;
    }
    // Search as you type, but not on every keystroke.
    const timer = setTimeout(() => {
      navigate(`/people${q({ q: v })}`, { replace: true });
      get<Card[]>(`/members${q({ q: v, limit: 30 })}`).then((r) => (setResults(r), setError(null)), setError);
    }, 200);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <Screen name="people" title={t("people.title")} ready={results !== null || !text}>
      <h1>{t("people.title")}</h1>
      <form role="search" class="search" onSubmit={(e) => e.preventDefault()}>
        <label for="people-q">{t("people.search")}</label>
        <input id="people-q" type="search" data-testid="people-search" value={text} autoComplete="off" autoCapitalize="none"
          onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)} />
      </form>
      <ErrorBox error={error} />
      <div aria-live="polite" class="sr-only">{results ? t("people.results", { count: results.length }) : ""}</div>
      {results && results.length === 0 && <p class="empty" data-testid="people-empty">{t("people.none")}</p>}
      {results && <PersonList people={results} />}
    </Screen>
  );
}
