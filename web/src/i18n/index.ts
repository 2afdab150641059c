// Every visible string goes through t(). The language comes from the browser
// (navigator.languages) unless the member picked one in settings (localStorage).
import { signal } from "@preact/signals";
import en from "./en.json";
import id from "./id.json";
import { lookup, type Catalog, type Params } from "../lib/plural";

export const LANGS = { en: en as Catalog, id: id as Catalog } as const;
export type Lang = keyof typeof LANGS;
const KEY = "ruang.lang";

function detect(): Lang {
  const saved = localStorage.getItem(KEY);
  if (saved === "en" || saved === "id") return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "id" || base === "in" || base === "ms") return "id";
    if (base === "en") return "en";
  }
  return "en";
}

export const lang = signal<Lang>(detect());

export function setLang(l: Lang | "auto"): void {
  if (l === "auto") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, l);
  lang.value = l === "auto" ? detect() : l;
  document.documentElement.lang = lang.value;
}

export function savedLang(): Lang | "auto" {
  const saved = localStorage.getItem(KEY);
  return saved === "en" || saved === "id" ? saved : "auto";
}

export function t(key: string, params?: Params): string {
  const l = lang.value; // reading the signal re-renders components when it changes
  return lookup(LANGS[l], LANGS.en, l, key, params);
}

const locale = () => (lang.value === "id" ? "id-ID" : "en-GB");

export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function fmtNumber(n: number): string {
  return new Intl.NumberFormat(locale(), { notation: n >= 10000 ? "compact" : "standard" }).format(n);
}

export function fmtRelative(iso: string): string {
  const diff = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  const abs = Math.abs(diff);
  if (abs < 60) return rtf.format(Math.round(diff), "second");
  if (abs < 3600) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), "hour");
  return rtf.format(Math.round(diff / 86400), "day");
}
