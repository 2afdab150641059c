// Light / dark: follows the system (prefers-color-scheme) unless the member chose one.
import { signal } from "@preact/signals";

export type Theme = "auto" | "light" | "dark";
const KEY = "ruang.theme";
export const theme = signal<Theme>((localStorage.getItem(KEY) as Theme | null) ?? "auto");

export function applyTheme(): void {
  const v = theme.value;
  if (v === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = v;
}

export function setTheme(v: Theme): void {
  theme.value = v;
  if (v === "auto") localStorage.removeItem(KEY);
  else localStorage.setItem(KEY, v);
  applyTheme();
}
