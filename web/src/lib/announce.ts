// The shell's one polite live region: screens put a sentence here for screen readers.
import { signal } from "@preact/signals";

export const announce = signal("");
/** Notifications that arrived over the WebSocket since the list was last opened. */
export const unread = signal(0);

export function say(text: string): void {
  // The same sentence twice in a row must be announced twice: clear first.
  announce.value = "";
  setTimeout(() => (announce.value = text), 50);
}
