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

export async function get<T>(path: string, params: Params = {}): Promise<T> {
  const res = await fetch(url(path, params), { headers: { Accept: "application/json" } });
  const text = await res.text();
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
