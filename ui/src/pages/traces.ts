// Trace search with the filter language: a scatter of duration over time (click a point to open
// its trace) and the list; tick two traces to compare them.

import { h, link, section, message, go } from "../dom";
import { get, url } from "../api";
import { lineChart } from "../charts";
import { fmtDuration, fmtTime } from "../time";
import { TraceSummary, range, loading } from "./common";

export async function traces(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const r = range(q);
  const filter = q.get("filter") ?? "";
  const limit = q.get("limit") ?? "200";
  const input = h("input", { type: "search", name: "filter", value: filter, placeholder: 'service = "checkout" and status = error and duration > 500ms', "aria-label": "filter", class: "wide" });
  const form = h(
    "form",
    {
      class: "card search",
      onsubmit: (e) => {
        e.preventDefault();
        go(url("/traces", { ...r, filter: input.value.trim(), limit }));
      },
    },
    input,
    h("button", { type: "submit" }, "Search"),
    h("span", { class: "muted" }, " fields: service, name, status, kind, duration, any attribute; and, or, not"),
  );
  const out = h("div", null, loading("Searching…"));
  root.append(form, out);
  let found: { traces: TraceSummary[] };
  try {
    found = await get<{ traces: TraceSummary[] }>("/api/v1/traces", { ...r, filter, limit });
  } catch (e) {
    out.replaceChildren(message("error", (e as Error).message));
    return;
  }
  const list = [...found.traces].sort((a, b) => a.start_unix_nano - b.start_unix_nano);
  if (!list.length) {
    out.replaceChildren(h("p", null, "No traces match."));
    return;
  }
  const chart = h("div", { class: "chart", "data-testid": "scatter" });
  const picked = new Set<string>();
  const compareBtn = h("button", { disabled: true, onclick: () => {
    const [a, b] = [...picked];
    go(url("/compare", { a, b }));
  } }, "Compare the two ticked traces");
  const rows = [...list].reverse().map((t) => {
    const box = h("input", { type: "checkbox", "aria-label": `tick ${t.trace_id} to compare`, onchange: () => {
      if (box.checked) picked.add(t.trace_id);
      else picked.delete(t.trace_id);
      compareBtn.disabled = picked.size !== 2;
    } });
    return h(
      "tr",
      { class: t.error_count ? "row-bad" : "" },
      h("td", null, box),
      h("td", null, fmtTime(t.start_unix_nano)),
      h("td", null, link(`/trace/${t.trace_id}`, `${t.root_service} ${t.root_name}`)),
      h("td", null, fmtDuration(t.duration_ns)),
      h("td", null, String(t.span_count)),
      h("td", null, t.error_count ? String(t.error_count) : ""),
      h("td", { class: "muted" }, t.services.join(", ")),
    );
  });
  out.replaceChildren(
    section(`${list.length} traces (duration over time; click a point to open it)`, chart),
    section(
      "Traces",
      compareBtn,
      h("div", { class: "scroll" }, h(
        "table",
        { "data-testid": "trace-list" },
        h("thead", null, h("tr", null, ...["", "start", "root", "duration", "spans", "errors", "services"].map((x) => h("th", null, x)))),
        h("tbody", null, ...rows),
      )),
    ),
  );
  queueMicrotask(() =>
    lineChart(chart, {
      xs: list.map((t) => t.start_unix_nano / 1e9),
      points: true,
      yFormat: (v) => fmtDuration(v),
      series: [
        { label: "ok", values: list.map((t) => (t.error_count ? null : t.duration_ns)), color: "#6ea8fe" },
        { label: "with errors", values: list.map((t) => (t.error_count ? t.duration_ns : null)), color: "#ff6b6b" },
      ],
      onPick: (i) => go(`/trace/${list[i].trace_id}`),
    }),
  );
}
