// The REST client: JSON in and out, the CSRF header on every change, errors as ApiError
// carrying the server's stable code (docs/errors.md).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
    readonly details: { field: string; problem: string }[] = [],
  ) {
    super(message);
  }
}

export function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

/** Called when the server says the session is gone (401): the app shows the login page. */
export let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(fn: () => void): void {
  onUnauthenticated = fn;
}

type Body = unknown;

export async function api<T>(method: string, path: string, body?: Body): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") {
    // The session cookie is SameSite=Strict and HttpOnly; this header proves the request
    // comes from our own page (the server compares it with the ruang_csrf cookie).
    const csrf = cookie("ruang_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, "network_error", "network error");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; details?: [] } } | null)?.error;
    const retry = res.headers.get("Retry-After");
    const e = new ApiError(
      res.status,
      err?.code ?? `http_${res.status}`,
      err?.message ?? res.statusText,
      retry ? Number(retry) : null,
      err?.details ?? [],
    );
    if (res.status === 401 && e.code === "not_authenticated" && !path.startsWith("/auth/")) onUnauthenticated();
    throw e;
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: Body) => api<T>("POST", path, body ?? {});
export const del = <T>(path: string) => api<T>("DELETE", path);
export const patch = <T>(path: string, body: Body) => api<T>("PATCH", path, body);
export const put = <T>(path: string, body: Body) => api<T>("PUT", path, body);

export const q = (params: Record<string, string | number | undefined>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") s.set(k, String(v));
  const str = s.toString();
  return str ? `?${str}` : "";
};
