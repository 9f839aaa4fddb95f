// A metric's series (`/api/v1/metrics`): one chart per series, the instance asked for first. The
// target of the "metrics" evidence of an investigation.

import { h, section, message } from "../dom";
import { get } from "../api";
import { lineChart } from "../charts";
import { fmtNumber } from "../time";
import { range, loading } from "./common";

type MetricSeries = { name: string; unit: string; kind: string; service: string; instance: string; attributes: Record<string, unknown>; points: [number, number][] };

/// Most series drawn at once: past a dozen charts nobody compares them.
const MAX_CHARTS = 12;

export async function metric(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const name = q.get("name") ?? "";
  const instance = q.get("instance") ?? "";
  if (!name) {
    root.append(message("info", "Open a metric from an investigation's evidence, or add ?name=… to the address."));
    return;
  }
  const out = h("div", null, loading(`Loading ${name}…`));
  root.append(out);
  try {
    const d = await get<{ series: MetricSeries[] }>("/api/v1/metrics", { ...range(q), name, service: q.get("service") ?? undefined, limit: 100000 });
    const series = [...d.series].sort((a, b) => Number(b.instance === instance) - Number(a.instance === instance));
    out.replaceChildren(section(`${name}: ${series.length} series`));
    if (!series.length) out.append(h("p", null, "No points in this window."));
    for (const s of series.slice(0, MAX_CHARTS)) {
      const box = h("div", { class: "chart", "data-testid": "metric-chart" });
      const attrs = Object.entries(s.attributes ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(" ");
      out.append(section(`${s.service}${s.instance ? ` / ${s.instance}` : ""} ${attrs} (${s.points.length} points${s.unit ? `, ${s.unit}` : ""})`, box));
      const pts = [...s.points].sort((a, b) => a[0] - b[0]);
      lineChart(box, { xs: pts.map((p) => p[0] / 1e9), yFormat: fmtNumber, series: [{ label: s.name, values: pts.map((p) => p[1]), color: s.instance === instance && instance ? "#ffd166" : "#6ea8fe" }] });
    }
  } catch (e) {
    out.replaceChildren(message("error", (e as Error).message));
  }
}
