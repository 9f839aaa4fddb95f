// Types of the API's answers that several views read, and small shared pieces.

import { h, link, Child } from "../dom";

export type Bucket = { start: number; count: number; errors: number; p50_ns: number; p99_ns: number };
export type RedService = {
  name: string;
  requests: number;
  errors: number;
  error_rate: number;
  rate_per_s: number;
  p50_ns: number;
  p99_ns: number;
  buckets: Bucket[];
};
export type Red = { from: number; to: number; step_ns: number; services: RedService[]; total: Bucket[] };

export type Change = {
  id: string;
  at?: string;
  time_unix_nano?: number;
  service?: string;
  kind?: string;
  version?: string;
  description?: string;
};

export type TraceSummary = {
  trace_id: string;
  root_service: string;
  root_name: string;
  start_unix_nano: number;
  duration_ns: number;
  span_count: number;
  error_count: number;
  services: string[];
};

/// Query parameters every view passes on: the time range.
export function range(q: URLSearchParams): { from?: string; to?: string } {
  return { from: q.get("from") ?? undefined, to: q.get("to") ?? undefined };
}

/// A trace id as a link to its waterfall; a change id to the changes view; other text as is.
export function refLink(r: string): Child {
  if (/^[0-9a-f]{32}$/.test(r)) return link(`/trace/${r}`, r.slice(0, 12) + "…");
  if (r.startsWith("metric?")) {
    const name = new URLSearchParams(r.slice("metric?".length)).get("name") ?? "metric";
    return link(`/${r}`, `${name} series`);
  }
  return link(`/changes?id=${encodeURIComponent(r)}`, r);
}

export function table(headers: string[], rows: Child[][], cls = ""): HTMLTableElement {
  return h(
    "table",
    { class: cls },
    h("thead", null, h("tr", null, ...headers.map((x) => h("th", null, x)))),
    h("tbody", null, ...rows.map((r) => h("tr", null, ...r.map((c) => h("td", null, c))))),
  );
}

/// Colour class of an error rate: healthy, degraded, failing.
export function health(errorRate: number): string {
  return errorRate >= 0.05 ? "bad" : errorRate >= 0.01 ? "warn" : "ok";
}

export function loading(what: string): HTMLElement {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner" }), what);
}

export function changeTime(c: Change): number {
  if (c.time_unix_nano) return c.time_unix_nano;
  return c.at ? Date.parse(c.at) * 1e6 : 0;
}
