// One trace as a waterfall, as Jaeger draws it: collapsible spans, the critical path highlighted,
// clock-skew corrections shown and explained, a span's details (attributes, events, links), and
// the trace's logs inline. Rows are built once into a fragment: a 10,000-span trace stays fast.

import { h, link, section, message, clear } from "../dom";
import { get } from "../api";
import { fmtDuration, fmtTime } from "../time";
import { loading, table } from "./common";

export type TSpan = {
  depth: number;
  orphan: boolean;
  critical: boolean;
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: string;
  start_unix_nano: number;
  end_unix_nano: number;
  status_code: string;
  status_message: string;
  attributes: Record<string, unknown>;
  events: { name: string; time_unix_nano: number; attributes?: Record<string, unknown> }[];
  links: { trace_id: string; span_id: string; attributes?: Record<string, unknown> }[];
  service_name: string;
  instance: string | null;
  resource_attributes: Record<string, unknown>;
};
export type Tree = {
  trace_id: string;
  spans: TSpan[];
  clock_corrections?: { service: string; instance: string; offset_ns: number; ci_ns: number; pairs: number }[];
};
type Log = { time_unix_nano: number; severity_text: string; severity_number: number; body: unknown; span_id: string | null; service_name: string; instance: string | null };

export async function trace(root: HTMLElement, _q: URLSearchParams, path: string): Promise<void> {
  const id = decodeURIComponent(path.slice("/trace/".length));
  root.append(loading(`Loading trace ${id}…`));
  let t: Tree;
  try {
    t = await get<Tree>(`/api/v1/traces/${encodeURIComponent(id)}`, { correct_skew: "true" });
  } catch (e) {
    root.replaceChildren(message("error", (e as Error).message));
    return;
  }
  clear(root);
  const details = h("div", { class: "panel span-details", "data-testid": "span-details" }, h("p", { class: "muted" }, "Click a span for its attributes, events and links."));
  root.append(waterfall(t, details), details);
  const logBox = section("Logs of this trace", loading("Loading logs…"));
  root.append(logBox);
  try {
    const l = await get<{ logs: Log[] }>("/api/v1/logs", { trace_id: id, limit: 1000 });
    const logs = l.logs.sort((a, b) => a.time_unix_nano - b.time_unix_nano);
    logBox.replaceChildren(
      h("h2", null, `Logs of this trace (${logs.length})`),
      logs.length
        ? table(
            ["time", "service", "level", "message"],
            logs.map((x) => [fmtTime(x.time_unix_nano), x.service_name + (x.instance ? ` (${x.instance})` : ""), x.severity_text, h("span", { class: "log-body" }, typeof x.body === "string" ? x.body : JSON.stringify(x.body))]),
            "logs",
          )
        : h("p", { class: "muted" }, "No logs carry this trace's id."),
    );
  } catch (e) {
    logBox.replaceChildren(message("error", (e as Error).message));
  }
}

export function waterfall(t: Tree, details: HTMLElement | null): HTMLElement {
  const spans = t.spans;
  const start = Math.min(...spans.map((s) => s.start_unix_nano));
  const end = Math.max(...spans.map((s) => s.end_unix_nano));
  const total = Math.max(1, end - start);
  const services = new Set(spans.map((s) => s.service_name));
  const errors = spans.filter((s) => s.status_code === "error").length;
  const head = h(
    "div",
    { class: "card" },
    h("h2", null, `Trace ${t.trace_id}`),
    h("p", null, `${fmtTime(start)} · ${fmtDuration(total)} · ${spans.length} spans · ${services.size} services${errors ? ` · ${errors} errors` : ""}`),
    h("p", { class: "muted" }, "The critical path (what the root waited on) is outlined in yellow."),
    t.clock_corrections?.length
      ? h(
          "div",
          { class: "msg info", "data-testid": "clock-corrections" },
          h("strong", null, "Clock skew corrected. "),
          ...t.clock_corrections.map((c) => `${c.instance} (${c.service}) runs ${fmtDuration(Math.abs(c.offset_ns))} ${c.offset_ns > 0 ? "ahead" : "behind"} (±${fmtDuration(c.ci_ns)}, from ${c.pairs} span pairs across its calls); its spans are shifted back by that much. `),
        )
      : null,
  );
  // Children per span, to collapse a subtree.
  const index = new Map(spans.map((s, i) => [s.span_id, i]));
  const hasChildren = new Set(spans.filter((s) => s.parent_span_id && index.has(s.parent_span_id)).map((s) => s.parent_span_id!));
  const rows: HTMLElement[] = [];
  const collapsed = new Set<number>();
  const frag = document.createDocumentFragment();
  // One pass: a row is hidden when a collapsed span above it is its ancestor.
  const refresh = () => {
    let hideDeeperThan = Infinity;
    spans.forEach((sp, k) => {
      const hide = sp.depth > hideDeeperThan;
      if (rows[k].hidden !== hide) rows[k].hidden = hide;
      if (!hide) hideDeeperThan = collapsed.has(k) ? sp.depth : Infinity;
    });
  };
  spans.forEach((s, i) => {
    const bar = h("div", { class: `wf-bar${s.status_code === "error" ? " err" : ""}${s.critical ? " crit" : ""}` });
    bar.style.left = `${((s.start_unix_nano - start) / total) * 100}%`;
    bar.style.width = `${Math.max(0.2, ((s.end_unix_nano - s.start_unix_nano) / total) * 100)}%`;
    const toggle = hasChildren.has(s.span_id)
      ? h("button", { class: "wf-toggle", "aria-expanded": "true", "aria-label": "collapse", onclick: (e) => {
          e.stopPropagation();
          const open = !collapsed.has(i);
          if (open) collapsed.add(i);
          else collapsed.delete(i);
          (e.currentTarget as HTMLElement).setAttribute("aria-expanded", String(!open));
          (e.currentTarget as HTMLElement).textContent = open ? "▸" : "▾";
          refresh();
        } }, "▾")
      : h("span", { class: "wf-toggle-space" });
    const label = h("div", { class: "wf-label" }, toggle, h("span", { class: "wf-svc" }, s.service_name), " ", h("span", { class: "wf-op" }, s.name));
    label.style.paddingLeft = `${s.depth * 14}px`;
    const row = h(
      "div",
      { class: "wf-row", tabindex: 0, role: "button", "data-id": s.span_id, onclick: () => details && showSpan(details, s, start), onkeydown: (e) => {
        if ((e as KeyboardEvent).key === "Enter" && details) showSpan(details, s, start);
      } },
      label,
      h("div", { class: "wf-track" }, bar),
      h("div", { class: "wf-dur" }, fmtDuration(s.end_unix_nano - s.start_unix_nano)),
    );
    rows.push(row);
    frag.appendChild(row);
  });
  const wf = h("div", { class: "waterfall", "data-testid": "waterfall" });
  wf.appendChild(frag);
  return h("div", null, head, wf);
}

function kv(o: Record<string, unknown>): HTMLElement {
  const keys = Object.keys(o).sort();
  if (!keys.length) return h("p", { class: "muted" }, "none");
  return table(["key", "value"], keys.map((k) => [k, typeof o[k] === "string" ? (o[k] as string) : JSON.stringify(o[k])]), "kv");
}

function showSpan(el: HTMLElement, s: TSpan, traceStart: number): void {
  el.replaceChildren(
    h("h3", null, `${s.service_name} ${s.name}`),
    h("p", null, `${s.kind}, ${fmtDuration(s.end_unix_nano - s.start_unix_nano)}, starts at +${fmtDuration(s.start_unix_nano - traceStart)}; status ${s.status_code}${s.status_message ? `: ${s.status_message}` : ""}${s.critical ? "; on the critical path" : ""}`),
    h("p", { class: "muted" }, `span ${s.span_id}${s.parent_span_id ? `, parent ${s.parent_span_id}` : ""}${s.orphan ? " (not in the trace)" : ""}${s.instance ? `, instance ${s.instance}` : ""}`),
    h("h4", null, "Attributes"),
    kv(s.attributes),
    h("h4", null, "Events"),
    s.events.length ? h("ul", null, ...s.events.map((e) => h("li", null, `+${fmtDuration(e.time_unix_nano - traceStart)} ${e.name}`, e.attributes ? kv(e.attributes) : null))) : h("p", { class: "muted" }, "none"),
    h("h4", null, "Links"),
    s.links.length ? h("ul", null, ...s.links.map((l) => h("li", null, link(`/trace/${l.trace_id}`, `${l.trace_id} / ${l.span_id}`)))) : h("p", { class: "muted" }, "none"),
    h("h4", null, "Resource"),
    kv(s.resource_attributes),
  );
}
