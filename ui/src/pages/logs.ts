// Logs: search, live tail, the template view (counts per service and instance, before and
// after), and a jump from a log line to its trace.

import { h, link, section, message, go, clear } from "../dom";
import { get, url } from "../api";
import { fmtTime, fmtRate, iso } from "../time";
import { range, table, loading } from "./common";

type Log = {
  time_unix_nano: number;
  severity_text: string;
  severity_number: number;
  body: unknown;
  trace_id: string | null;
  span_id: string | null;
  service_name: string;
  instance: string | null;
};
type Template = { id: string; template: string; count: number; baseline: number; error_share: number; services: Record<string, number>; instances: Record<string, number>; example_trace: string | null };

/// How often the live tail asks for newer lines (ms): a second is what people read at.
const TAIL_EVERY_MS = 2000;

export async function logs(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const r = range(q);
  const view = q.get("view") === "templates" ? "templates" : "search";
  const tabs = h(
    "div",
    { class: "toggle", role: "tablist" },
    link(url("/logs", { ...r, view: "search", text: q.get("text") ?? undefined }), "Search"),
    link(url("/logs", { ...r, view: "templates" }), "Templates"),
  );
  tabs.children[view === "templates" ? 1 : 0].setAttribute("aria-current", "true");
  root.append(tabs);
  if (view === "templates") return templates(root, q);
  const text = h("input", { type: "search", name: "text", value: q.get("text") ?? "", placeholder: "text in the message", "aria-label": "text" });
  const service = h("input", { type: "text", name: "service", value: q.get("service") ?? "", placeholder: "service", "aria-label": "service" });
  const severity = h("select", { name: "severity", "aria-label": "lowest severity" }, ...["", "debug", "info", "warn", "error", "fatal"].map((s) => h("option", { value: s }, s ? `${s} and above` : "any level")));
  severity.value = q.get("severity") ?? "";
  const filter = h("input", { type: "text", name: "filter", value: q.get("filter") ?? "", placeholder: "filter: severity >= warn and body ~ timeout", "aria-label": "filter", class: "wide" });
  const tail = h("input", { type: "checkbox", name: "tail", "aria-label": "live tail", checked: q.get("tail") === "1" });
  const form = h(
    "form",
    {
      class: "card search",
      onsubmit: (e) => {
        e.preventDefault();
        go(url("/logs", { ...r, text: text.value.trim(), service: service.value.trim(), severity: severity.value, filter: filter.value.trim(), tail: tail.checked ? "1" : undefined }));
      },
    },
    text,
    service,
    severity,
    filter,
    h("label", null, tail, " live tail"),
    h("button", { type: "submit" }, "Search"),
  );
  const out = h("div", null, loading("Searching logs…"));
  root.append(form, out);
  const ask = { ...r, text: q.get("text") ?? undefined, service: q.get("service") ?? undefined, severity: q.get("severity") ?? undefined, filter: q.get("filter") ?? undefined };
  let found: { logs: Log[]; total?: number };
  try {
    found = await get<{ logs: Log[]; total?: number }>("/api/v1/logs", { ...ask, limit: 500 });
  } catch (e) {
    out.replaceChildren(message("error", (e as Error).message));
    return;
  }
  const tbody = h("tbody");
  const addRows = (ls: Log[], atTop: boolean) => {
    const frag = document.createDocumentFragment();
    for (const l of ls) frag.appendChild(logRow(l));
    if (atTop) tbody.insertBefore(frag, tbody.firstChild);
    else tbody.appendChild(frag);
  };
  addRows(found.logs, false);
  clear(out);
  out.append(
    section(
      `${found.total ?? found.logs.length} lines${found.logs.length < (found.total ?? 0) ? ` (newest ${found.logs.length} shown)` : ""}`,
      h("table", { class: "logs", "data-testid": "log-list" }, h("thead", null, h("tr", null, ...["time", "service", "level", "message", "trace"].map((x) => h("th", null, x)))), tbody),
    ),
  );
  if (q.get("tail") === "1") {
    let newest = found.logs.reduce((m, l) => Math.max(m, l.time_unix_nano), 0);
    const timer = setInterval(async () => {
      if (!document.body.contains(tbody)) return clearInterval(timer);
      try {
        const more = await get<{ logs: Log[] }>("/api/v1/logs", { ...ask, from: newest ? iso(newest + 1) : "-1m", to: undefined, limit: 500 });
        const fresh = more.logs.filter((l) => l.time_unix_nano > newest);
        if (fresh.length) {
          newest = fresh.reduce((m, l) => Math.max(m, l.time_unix_nano), newest);
          addRows(fresh, true);
        }
      } catch {
        // the next tick tries again
      }
    }, TAIL_EVERY_MS);
  }
}

function logRow(l: Log): HTMLElement {
  const body = typeof l.body === "string" ? l.body : JSON.stringify(l.body);
  const lvl = l.severity_number >= 17 ? "bad" : l.severity_number >= 13 ? "warn" : "";
  return h(
    "tr",
    null,
    h("td", { class: "nowrap" }, fmtTime(l.time_unix_nano)),
    h("td", null, l.service_name + (l.instance ? ` (${l.instance})` : "")),
    h("td", { class: lvl }, l.severity_text || String(l.severity_number || "")),
    h("td", { class: "log-body" }, body),
    h("td", null, l.trace_id ? link(`/trace/${l.trace_id}`, "trace →") : ""),
  );
}

async function templates(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const r = range(q);
  const out = h("div", null, loading("Mining templates…"));
  root.append(out);
  try {
    // The API compares the window with the baseline asked for, or as long a stretch before it.
    const t = await get<{ templates: Template[]; total: number }>("/api/v1/templates", { ...r, baseline: q.get("baseline") ?? undefined, service: q.get("service") ?? undefined });
    out.replaceChildren(
      section(
        `${t.total} templates (count in the window, and in as long a baseline before it)`,
        table(
          ["template", "window", "baseline", "change", "errors", "services", "instances", "example"],
          t.templates.map((x) => [
            h("code", null, x.template),
            String(x.count),
            String(x.baseline),
            x.baseline === 0 ? (x.count ? "new" : "") : `${(x.count / x.baseline).toFixed(1)}×`,
            fmtRate(x.error_share),
            Object.entries(x.services).map(([k, v]) => `${k}: ${v}`).join(", "),
            Object.entries(x.instances).slice(0, 5).map(([k, v]) => `${k}: ${v}`).join(", "),
            x.example_trace ? link(`/trace/${x.example_trace}`, "trace →") : "",
          ]),
          "templates",
        ),
      ),
    );
  } catch (e) {
    out.replaceChildren(message("error", (e as Error).message));
  }
}
