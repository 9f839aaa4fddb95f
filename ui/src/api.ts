// The HTTP API, as every view reads it: nothing the UI shows is computed only in the browser.

export class ApiError extends Error {}

export type Params = Record<string, string | number | undefined | null>;

export function url(path: string, params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/// Where the UI keeps the access token of a server that asks for one (`faultline serve` with
/// tokens): this browser's storage for this origin, sent only to it.
const TOKEN_KEY = "faultline-token";

export function token(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(t: string | null): void {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

function headers(accept: string): Record<string, string> {
  const h: Record<string, string> = { Accept: accept };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/// Fetches a file from the API and saves it (exports), with the token when there is one.
export async function download(path: string, params: Params, name: string): Promise<void> {
  const res = await fetch(url(path, params), { headers: headers("*/*") });
  if (!res.ok) throw new ApiError(`${res.status}: ${await res.text()}`);
  const href = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

export async function get<T>(path: string, params: Params = {}): Promise<T> {
  const res = await fetch(url(path, params), { headers: headers("application/json") });
  const text = await res.text();
  if (res.status === 401) {
    throw new ApiError("401: this server asks for an access token: set it with the key button at the top right");
  }
  if (!res.ok) {
    let msg = text;
    try {
      const v = JSON.parse(text);
      msg = typeof v.error === "string" ? v.error : (v.error?.message ?? text);
    } catch {
      // not JSON: the text is the message
    }
    throw new ApiError(`${res.status}: ${msg}`);
  }
  return JSON.parse(text) as T;
}
