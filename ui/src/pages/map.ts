// The service map: services and the uninstrumented peers they call, coloured by health; edges
// with rate, error rate and p99; the incident or the baseline (the window as long before it); a
// click on a node or an edge shows its RED charts and sample traces.

import { h, link, section, message, clear } from "../dom";
import { get, url } from "../api";
import { lineChart } from "../charts";
import { fmtDuration, fmtRate, fmtNumber, iso } from "../time";
import { Red, TraceSummary, range, table, health, loading } from "./common";
import { drawGraph } from "./graph";

type Figures = { calls?: number; requests?: number; errors: number; error_rate: number; rate_per_s: number; p99_ns: number };
type MapData = {
  from: number;
  to: number;
  baseline: [number, number];
  nodes: { name: string; virtual: boolean; incident: Figures | null; baseline: Figures | null }[];
  edges: { from: string; to: string; incident: Figures; baseline: Figures | null }[];
};

export async function serviceMap(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const r = range(q);
  const side = q.get("side") === "baseline" ? "baseline" : "incident";
  // The API compares the window with the baseline asked for, or the stretch as long just before it.
  const d = await get<MapData>("/api/v1/map", { ...r, baseline: q.get("baseline") ?? undefined }).catch((e) => e as Error);
  if (d instanceof Error) {
    root.append(message("error", d.message));
    return;
  }
  const baseline = `${iso(d.baseline[0])}..${iso(d.baseline[1])}`;
  const toggle = h(
    "div",
    { class: "toggle", role: "group", "aria-label": "which window" },
    link(url("/map", { ...r, side: "incident", baseline: q.get("baseline") ?? undefined }), "Incident window"),
    link(url("/map", { ...r, side: "baseline", baseline: q.get("baseline") ?? undefined }), `Baseline (${baseline.replace("..", " – ")})`),
  );
  toggle.children[side === "baseline" ? 1 : 0].setAttribute("aria-current", "true");
  const box = h("div", { class: "graph big", "data-testid": "service-map" });
  const panel = h("div", { class: "panel", "data-testid": "map-panel" }, h("p", { class: "muted" }, "Click a node or an edge for its charts and sample traces."));
  root.append(section("Service map", toggle, h("div", { class: "map-layout" }, box, panel)));
  if (!d.nodes.length) {
    box.append(h("p", null, "No spans in this window."));
    return;
  }
  const fig = (f: { incident: Figures | null; baseline: Figures | null }) => (side === "baseline" ? f.baseline : f.incident);
  queueMicrotask(() =>
    drawGraph(
      box,
      {
        nodes: d.nodes.map((n) => ({
          id: n.name,
          label: fig(n) ? `${n.name}\n${fmtRate(fig(n)!.error_rate)}` : n.name,
          virtual: n.virtual,
          cls: fig(n) ? health(fig(n)!.error_rate) : "",
        })),
        edges: d.edges
          .filter((e) => fig(e))
          .map((e) => {
            const f = fig(e)!;
            return { from: e.from, to: e.to, label: `${fmtNumber(f.rate_per_s)}/s ${fmtRate(f.error_rate)} p99 ${fmtDuration(f.p99_ns)}`, cls: health(f.error_rate) === "ok" ? "" : health(f.error_rate) };
          }),
      },
      {
        node: (id) => void details(panel, id, null, d),
        edge: (a, b) => void details(panel, a, b, d),
      },
    ),
  );
}

async function details(panel: HTMLElement, a: string, b: string | null, d: MapData): Promise<void> {
  clear(panel);
  const target = b ?? a;
  panel.append(h("h3", null, b ? `${a} → ${b}` : a));
  if (b) {
    const e = d.edges.find((x) => x.from === a && x.to === b);
    if (e)
      panel.append(
        table(
          ["", "calls/s", "errors", "p99"],
          [
            ["incident", fmtNumber(e.incident.rate_per_s), fmtRate(e.incident.error_rate), fmtDuration(e.incident.p99_ns)],
            ["baseline", e.baseline ? fmtNumber(e.baseline.rate_per_s) : "-", e.baseline ? fmtRate(e.baseline.error_rate) : "-", e.baseline ? fmtDuration(e.baseline.p99_ns) : "-"],
          ],
        ),
      );
  }
  const chart = h("div", { class: "chart" }, loading("Loading RED series…"));
  const samples = h("div", null, loading("Loading sample traces…"));
  panel.append(chart, h("h4", null, "Sample traces"), samples);
  try {
    const red = await get<Red>("/api/v1/red", { from: iso(d.from), to: iso(d.to) });
    const s = red.services.find((x) => x.name === target);
    clear(chart);
    if (!s) chart.append(h("p", { class: "muted" }, `${target} answers no requests of its own (not instrumented).`));
    else {
      const xs = s.buckets.map((x) => x.start / 1e9);
      const c1 = h("div");
      const c2 = h("div");
      chart.append(h("div", { class: "muted" }, "requests and errors per step"), c1, h("div", { class: "muted" }, "p99"), c2);
      lineChart(c1, { xs, height: 120, series: [{ label: "requests", values: s.buckets.map((x) => x.count), color: "#6ea8fe" }, { label: "errors", values: s.buckets.map((x) => x.errors), color: "#ff6b6b" }] });
      lineChart(c2, { xs, height: 120, yFormat: (v) => fmtDuration(v), series: [{ label: "p99", values: s.buckets.map((x) => x.p99_ns), color: "#ffd166" }] });
    }
  } catch (e) {
    chart.replaceChildren(message("error", (e as Error).message));
  }
  try {
    const filter = b ? `service = "${a}" and (peer.service = "${b}" or server.address = "${b}")` : `service = "${a}"`;
    let t = await get<{ traces: TraceSummary[] }>("/api/v1/traces", { filter, from: iso(d.from), to: iso(d.to), limit: 10 });
    if (b && !t.traces.length) t = await get<{ traces: TraceSummary[] }>("/api/v1/traces", { filter: `service = "${b}"`, from: iso(d.from), to: iso(d.to), limit: 10 });
    samples.replaceChildren(
      t.traces.length
        ? h("ul", null, ...t.traces.map((x) => h("li", null, link(`/trace/${x.trace_id}`, `${x.root_service} ${x.root_name}`), ` ${fmtDuration(x.duration_ns)}${x.error_count ? `, ${x.error_count} errors` : ""}`)))
        : h("p", { class: "muted" }, "No traces."),
      link(url("/traces", { filter, from: iso(d.from), to: iso(d.to) }), "Search these traces →"),
    );
  } catch (e) {
    samples.replaceChildren(message("error", (e as Error).message));
  }
}
