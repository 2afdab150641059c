// Who is logged in: GET /me once at start; null when logged out.
import { signal } from "@preact/signals";
import { get, post, setUnauthenticatedHandler } from "./api";

export interface Me {
  id: number;
  username: string;
  display_name: string;
  is_admin: boolean;
  email: string | null;
  email_verified: boolean;
  invites_left: number;
}

/** undefined while loading, null when logged out. */
export const me = signal<Me | null | undefined>(undefined);

export async function loadMe(): Promise<void> {
  try {
    me.value = await get<Me>("/me");
  } catch {
    me.value = null;
  }
}

export async function logout(): Promise<void> {
  try {
    await post("/auth/logout");
  } finally {
    me.value = null;
  }
}

setUnauthenticatedHandler(() => {
  if (me.value) me.value = null;
});
