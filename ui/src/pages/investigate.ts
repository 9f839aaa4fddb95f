// The investigation: the report of `faultline investigate` for a window (the header's picker, the
// form here, or a window dragged on a chart), with its evidence as links, charts with the onset and
// the changes, the propagation path on the map, the differences as bars, exports and "verify".

import { h, link, section, message, go, append, Child } from "../dom";
import { get, url, download } from "../api";
import { lineChart, Marker } from "../charts";
import { fmtRate, fmtTime, iso } from "../time";
import { table, loading, refLink } from "./common";
import { drawGraph } from "./graph";
import type { Report, RootCause } from "./report";

function params(q: URLSearchParams): Record<string, string | undefined> {
  return {
    from: q.get("from") ?? undefined,
    to: q.get("to") ?? undefined,
    baseline: q.get("baseline") ?? undefined,
  };
}

export async function investigation(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const p = params(q);
  const form = windowForm(p);
  const out = h("div", { "data-testid": "report" }, loading("Investigating… (the engine reads every span, log and metric of the window)"));
  root.append(form, out);
  let rep: Report;
  try {
    rep = await get<Report>("/api/v1/investigate", p);
  } catch (e) {
    out.replaceChildren(message("error", (e as Error).message));
    return;
  }
  out.replaceChildren();
  append(out, renderReport(rep, p));
}

function windowForm(p: Record<string, string | undefined>): HTMLElement {
  const field = (name: string, label: string, hint: string) =>
    h("label", null, label, h("input", { type: "text", name, value: p[name] ?? "", placeholder: hint }));
  const f = h(
    "form",
    {
      class: "window-form card",
      onsubmit: (e) => {
        e.preventDefault();
        const d = new FormData(f);
        go(url("/investigate", { from: String(d.get("from") ?? ""), to: String(d.get("to") ?? ""), baseline: String(d.get("baseline") ?? "") }));
      },
    },
    field("from", "Window from ", "found in the data"),
    field("to", " to ", "newest data"),
    field("baseline", " baseline ", "T..T (found before the onset)"),
    h("button", { type: "submit" }, "Investigate"),
  );
  return f;
}

function renderReport(rep: Report, p: Record<string, string | undefined>): Child[] {
  const exportParams = { ...p, from: p.from ?? rep.window.from, to: p.to ?? rep.window.to };
  const head = h(
    "section",
    { class: "card" },
    h("h2", null, rep.incident ? "Incident" : "No incident"),
    h("p", { class: "symptom", "data-testid": "symptom" }, rep.symptom.summary),
    h(
      "p",
      { class: "muted" },
      `Window ${fmtTime(rep.window.from)} – ${fmtTime(rep.window.to)}`,
      rep.baseline ? `; baseline ${fmtTime(rep.baseline.from)} – ${fmtTime(rep.baseline.to)}` : "; no baseline",
      rep.symptom.onset ? `; onset ${fmtTime(rep.symptom.onset)}` : "",
      rep.stats ? `; ${rep.stats.spans} spans, ${rep.stats.logs} logs, ${rep.stats.metric_points} metric points in ${Math.round(rep.stats.elapsed_ms)} ms` : "",
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { onclick: () => void download("/api/v1/postmortem", exportParams, "postmortem.md").catch((e) => alertBox(e)) }, "Export Markdown (post-mortem)"),
      h("button", { onclick: () => void download("/api/v1/investigate", exportParams, "investigation.json").catch((e) => alertBox(e)) }, "Export JSON"),
      link(url("/map", { from: rep.window.from, to: rep.window.to }), "Open the service map"),
    ),
  );
  const affected = rep.symptom.affected.length
    ? table(
        ["service", "operation", "error rate", "p99"],
        rep.symptom.affected.map((a) => [
          a.service,
          a.operation,
          `${fmtRate(a.error_rate.baseline)} → ${fmtRate(a.error_rate.incident)}`,
          `${a.latency_p99_ms.baseline.toFixed(1)} → ${a.latency_p99_ms.incident.toFixed(1)} ms`,
        ]),
      )
    : null;
  return [
    head,
    affected ? section("What users see", affected) : null,
    section("Root causes", rep.root_causes.length ? h("ol", { class: "causes", "data-testid": "causes" }, ...rep.root_causes.map(cause)) : h("p", null, "None found.")),
    charts(rep, p),
    propagation(rep),
    differences(rep),
    rep.findings.length ? section("Findings", h("ul", null, ...rep.findings.map((f) => h("li", null, h("span", { class: "chip" }, f.pattern), " ", f.text)))) : null,
    rep.log_templates?.length
      ? section(
          "Log templates new or surging",
          table(
            ["service", "template", "baseline", "incident", "traces"],
            rep.log_templates.map((t) => [t.service + (t.instance ? ` (${t.instance})` : ""), h("code", null, t.template), String(t.baseline), String(t.incident), (t.traces ?? []).map(refLink)]),
          ),
        )
      : null,
    correlated(rep),
    rep.suggested_actions.length ? section("Suggested actions", h("ul", null, ...rep.suggested_actions.map((a) => h("li", null, a)))) : null,
    section("Timeline", h("ul", { class: "timeline" }, ...rep.timeline.map((t) => h("li", null, h("span", { class: "muted" }, fmtTime(t.at)), " ", h("span", { class: "chip" }, t.signal), " ", t.text)))),
    verifyBox(rep),
  ];
}

function cause(c: RootCause): HTMLElement {
  return h(
    "li",
    { class: "cause" },
    h(
      "div",
      { class: "cause-head" },
      h("strong", { class: "cause-service" }, c.service),
      c.instance ? h("span", null, ` instance ${c.instance}`) : null,
      c.operation ? h("span", null, ` operation ${c.operation}`) : null,
      " ",
      ...c.patterns.map((p) => h("span", { class: "chip" }, p)),
      h("span", { class: "confidence", title: "confidence" }, h("meter", { value: String(c.confidence) }), ` ${c.confidence.toFixed(2)}`),
    ),
    h("p", null, c.summary),
    c.change ? h("p", null, "Change: ", link(`/changes?id=${encodeURIComponent(c.change.id)}`, c.change.id), ` (${c.change.kind} at ${fmtTime(c.change.at)}): ${c.change.description}`) : null,
    h(
      "ul",
      { class: "evidence" },
      ...c.evidence.map((e) => h("li", null, h("span", { class: `chip sig-${e.signal}` }, e.signal), " ", e.text, e.refs?.length ? h("span", { class: "refs" }, " — ", ...e.refs.flatMap((r, i) => [i ? ", " : "", refLink(r)])) : null)),
    ),
  );
}

function charts(rep: Report, p: Record<string, string | undefined>): HTMLElement | null {
  if (!rep.series?.length) return null;
  const markers: Marker[] = [];
  if (rep.symptom.onset) markers.push({ t: Date.parse(rep.symptom.onset) / 1000, label: "onset", kind: "onset" });
  for (const t of rep.timeline) if (t.signal === "changes") markers.push({ t: Date.parse(t.at) / 1000, label: t.text.split(" ")[0], kind: "change" });
  markers.push({ t: Date.parse(rep.window.from) / 1000, label: "window", kind: "window" });
  const s = section("Error rate and latency (drag across a chart to investigate that window)");
  for (const ser of rep.series) {
    const start = Date.parse(ser.start) / 1000;
    const xs = ser.values.map((_, i) => start + i * ser.step_seconds);
    const box = h("div", { class: "chart" });
    s.append(h("h3", null, ser.name), box);
    const isRate = ser.name.startsWith("error rate");
    queueMicrotask(() =>
      lineChart(box, {
        xs,
        series: [{ label: ser.name, values: ser.values, color: isRate ? "#ff6b6b" : "#6ea8fe" }],
        markers,
        yFormat: isRate ? fmtRate : (v) => `${v.toFixed(0)} ms`,
        onSelect: (a, b) => go(url("/investigate", { from: iso(a * 1e9), to: iso(b * 1e9), baseline: p.baseline })),
      }),
    );
  }
  return s;
}

function propagation(rep: Report): HTMLElement | null {
  const deps = rep.dependencies ?? [];
  if (!deps.length) return null;
  const onPath = new Set<string>();
  for (const path of rep.propagation) for (let i = 0; i + 1 < path.length; i++) onPath.add(`${path[i + 1]}>${path[i]}`);
  const causes = new Set(rep.root_causes.slice(0, 1).map((c) => c.service));
  const box = h("div", { class: "graph", "data-testid": "propagation-map" });
  const s = section("Propagation on the map", h("p", { class: "muted" }, rep.propagation.map((p) => p.join(" ← ")).join("; ") || "No propagation path."), box);
  queueMicrotask(() =>
    drawGraph(box, {
      nodes: [...new Set(deps.flatMap((d) => [d.caller, d.callee]))].map((n) => ({
        id: n,
        label: n,
        virtual: deps.some((d) => d.callee === n && d.uninstrumented) && !deps.some((d) => d.caller === n),
        cls: causes.has(n) ? "cause" : "",
      })),
      edges: deps.map((d) => ({
        from: d.caller,
        to: d.callee,
        label: d.incident ? `${d.incident.calls_per_s.toFixed(1)}/s ${fmtRate(d.incident.error_rate)} p99 ${d.incident.p99_ms.toFixed(0)} ms` : "",
        cls: onPath.has(`${d.caller}>${d.callee}`) ? "path" : d.incident && d.incident.error_rate >= 0.05 ? "bad" : "",
      })),
    }),
  );
  return s;
}

function differences(rep: Report): HTMLElement | null {
  const d = (rep.differences ?? []).slice(0, 15);
  if (!d.length) return null;
  return section(
    "What the affected requests have in common",
    h(
      "div",
      { class: "bars", "data-testid": "differences" },
      ...d.map((x) => {
        const a = h("div", { class: "bar a" });
        const b = h("div", { class: "bar b" });
        a.style.width = `${Math.round(x.a_share * 100)}%`;
        b.style.width = `${Math.round(x.b_share * 100)}%`;
        return h(
          "div",
          { class: "bar-row" },
          h("div", { class: "bar-label" }, `${x.service} ${x.feature}`),
          h("div", { class: "bar-track", title: `affected ${fmtRate(x.a_share)}` }, a),
          h("div", { class: "bar-track", title: `others ${fmtRate(x.b_share)}` }, b),
          h("div", { class: "muted" }, `${fmtRate(x.a_share)} vs ${fmtRate(x.b_share)} (z = ${x.z.toFixed(0)})`),
        );
      }),
    ),
  );
}

type Verification = { recovered: boolean; summary: string; endpoints: { service: string; operation: string; recovered: boolean }[] };

function verifyBox(rep: Report): HTMLElement {
  const since = h("input", { type: "text", name: "since", placeholder: "time of the fix (RFC 3339 or -10m)", "aria-label": "time of the fix" });
  const out = h("div");
  const f = h(
    "form",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        out.replaceChildren(loading("Checking the recovery…"));
        try {
          const v = await get<Verification>("/api/v1/verify", { since: since.value.trim(), baseline: rep.baseline ? `${rep.baseline.from}..${rep.baseline.to}` : undefined });
          out.replaceChildren(h("p", { class: v.recovered ? "ok" : "bad" }, v.recovered ? "Recovered. " : "Not recovered. ", v.summary));
        } catch (err) {
          out.replaceChildren(message("error", (err as Error).message));
        }
      },
    },
    since,
    h("button", { type: "submit" }, "Verify"),
  );
  return section("Verify a fix", h("p", { class: "muted" }, "After a fix or a rollback: compare the time since then with the healthy baseline."), f, out);
}

function correlated(rep: Report): HTMLElement | null {
  const m = rep.correlated_metrics ?? [];
  if (!m.length) return null;
  return section(
    "Metrics that moved with the incident",
    table(
      ["metric", "where", "baseline → incident", "moved at", "lead"],
      m.map((x) => [
        link(url("/metric", { name: x.metric, service: x.service, instance: x.instance ?? undefined, from: rep.baseline?.from ?? rep.window.from, to: rep.window.to }), x.metric),
        x.instance ? `${x.service} / ${x.instance}` : x.service,
        `${x.baseline.toPrecision(4)} → ${x.incident.toPrecision(4)}`,
        x.moved_at ? fmtTime(x.moved_at) : "",
        x.lead_seconds === null ? "" : x.lead_seconds > 0 ? `${x.lead_seconds.toFixed(0)} s before the symptom` : `${(-x.lead_seconds).toFixed(0)} s after`,
      ]),
    ),
  );
}

function alertBox(e: unknown): void {
  document.querySelector("main")?.prepend(message("error", `Export failed: ${(e as Error).message}`));
}
