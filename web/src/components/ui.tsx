// Small shared pieces: the screen frame, avatars, errors, form fields, a lazy loader.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../lib/api";
import { t } from "../i18n";

export function Screen(props: { name: string; ready?: boolean; title: string; children?: ComponentChildren; wide?: boolean }) {
  useEffect(() => {
    document.title = `${props.title} · Ruang`;
  }, [props.title]);
  return (
    <main id="main" class={props.wide ? "screen wide" : "screen"} data-screen={props.name} data-ready={String(props.ready ?? true)}>
      {props.children}
    </main>
  );
}

const PALETTE = ["#0f766e", "#7c3aed", "#b45309", "#be123c", "#1d4ed8", "#4d7c0f", "#a21caf", "#0e7490"];

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[parts.length - 1]![0] : "")).toUpperCase();
}

export function Avatar(props: { person: { id: number; display_name: string; avatar_url: string | null }; size?: number }) {
  const size = props.size ?? 48;
  const p = props.person;
  if (p.avatar_url)
    return <img class="avatar" src={p.avatar_url} alt="" width={size} height={size} loading="lazy" decoding="async" />;
  return (
    <span class="avatar initials" aria-hidden="true" style={{ width: `${size}px`, height: `${size}px`, fontSize: `${size * 0.38}px`, background: PALETTE[p.id % PALETTE.length] }}>
      {initials(p.display_name)}
    </span>
  );
}

/** The translated message for an error code, falling back to the server's own message. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError || (e instanceof Error && "code" in e)) {
    const err = e as ApiError;
    if (err.code === "rate_limited" && err.retryAfter)
      return t("err.rate_limited_wait", { count: Math.max(1, Math.ceil(err.retryAfter / 60)), seconds: err.retryAfter });
    const key = `err.${err.code}`;
    const msg = t(key);
    const details = err.details?.length ? ` (${err.details.map((d) => `${d.field}: ${d.problem}`).join("; ")})` : "";
    // invalid_input covers many rules (title length, a date too far ahead): the server's own
    // sentence says which, so it follows the translated one.
    const why = !details && err.code === "invalid_input" && err.message && err.message !== "the request is not valid" ? ` (${err.message})` : "";
    if (msg !== key) return msg + details + why;
    if (err.details?.length) return `${err.message}: ${err.details.map((d) => `${d.field} ${d.problem}`).join("; ")}`;
    return err.message || t("err.unknown");
  }
  return t("err.unknown");
}

export function ErrorBox(props: { error: unknown }) {
  if (!props.error) return null;
  const code = (props.error as { code?: string }).code ?? "unknown";
  return (
    <p class="error" role="alert" data-testid="error" data-code={code}>
      {errorText(props.error)}
    </p>
  );
}

export function Field(
  props: { label: string; testid: string; hint?: string } & JSX.IntrinsicElements["input"] & { value?: string },
) {
  const { label, testid, hint, ...rest } = props;
  const id = `f-${testid}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} data-testid={testid} aria-describedby={hint ? `${id}-hint` : undefined} {...rest} />
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

export function TextArea(props: { label: string; testid: string } & JSX.IntrinsicElements["textarea"] & { value?: string }) {
  const { label, testid, ...rest } = props;
  const id = `f-${testid}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <textarea id={id} data-testid={testid} {...rest} />
    </div>
  );
}

/** Input handler helper: (setter) => onInput. */
export const bind = (set: (v: string) => void) => (e: Event) => set((e.currentTarget as HTMLInputElement).value);

/** Load a screen's code on first use (keeps the hallway's first load small). */
export function lazyScreen<P>(load: () => Promise<{ default: (p: P) => JSX.Element | null }>) {
  let Loaded: ((p: P) => JSX.Element | null) | null = null;
  let promise: Promise<unknown> | null = null;
  return function Lazy(props: P & JSX.IntrinsicAttributes) {
    const [, force] = useState(0);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      if (Loaded) return;
      promise ??= load().then((m) => (Loaded = m.default));
      promise.then(() => force((n) => n + 1), () => { promise = null; setFailed(true); });
    }, []);
    if (Loaded) return <Loaded {...props} />;
    return (
      <main id="main" class="screen" data-screen="loading" data-ready="false">
        {failed ? <ErrorBox error={new ApiError(0, "network_error", "")} /> : <p class="muted">{t("common.loading")}</p>}
      </main>
    );
  };
}

/** Run an async loader when deps change; gives [data, error, loading, reload]. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): [T | undefined, unknown, boolean, () => void] {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    fn().then(
      (d) => live && (setData(d), setError(null), setLoading(false)),
      (e) => live && (setError(e), setLoading(false)),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [data, error, loading, () => setN((x) => x + 1)];
}
