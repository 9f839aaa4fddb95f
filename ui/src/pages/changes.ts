// Changes: a timeline of deploys, config changes and feature flags over the system's error rate.

import { h, section, message } from "../dom";
import { get } from "../api";
import { lineChart } from "../charts";
import { fmtTime, fmtRate } from "../time";
import { Red, Change, range, table, loading, changeTime } from "./common";

export async function changes(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const r = range(q);
  const chart = h("div", { class: "chart", "data-testid": "changes-chart" }, loading("Loading…"));
  const list = h("div", null);
  root.append(section("Changes over the error rate", chart), list);
  try {
    const [red, c] = await Promise.all([get<Red>("/api/v1/red", r), get<{ changes: Change[] }>("/api/v1/changes", { ...r, limit: 1000 })]);
    const cs = c.changes.sort((a, b) => changeTime(a) - changeTime(b));
    chart.replaceChildren();
    lineChart(chart, {
      xs: red.total.map((b) => b.start / 1e9),
      yFormat: fmtRate,
      series: [{ label: "error rate, all services", values: red.total.map((b) => (b.count ? b.errors / b.count : null)), color: "#ff6b6b" }],
      markers: cs.map((x) => ({ t: changeTime(x) / 1e9, label: x.id, kind: "change" as const })),
    });
    const wanted = q.get("id");
    list.append(
      section(
        `${cs.length} changes`,
        cs.length
          ? table(
              ["when", "service", "kind", "version", "id", "description"],
              cs.map((x) => [fmtTime(changeTime(x)), x.service ?? "", x.kind ?? "", x.version ?? "", x.id === wanted ? h("strong", { class: "highlight" }, x.id) : x.id, x.description ?? ""]),
            )
          : h("p", null, "No changes recorded in this window. Record them with `faultline changes add` or POST /api/v1/changes."),
      ),
    );
  } catch (e) {
    chart.replaceChildren(message("error", (e as Error).message));
  }
}
