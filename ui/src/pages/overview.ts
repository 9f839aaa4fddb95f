// Overview: every service with its RED figures and sparklines, a banner for the incident the
// engine finds in the recent past, and the recent changes.

import { h, link, section, message } from "../dom";
import { get, url } from "../api";
import { sparkline } from "../charts";
import { fmtDuration, fmtRate, fmtNumber, fmtTime } from "../time";
import { Red, Change, range, table, health, loading, changeTime } from "./common";
import type { Report } from "./report";

export async function overview(root: HTMLElement): Promise<void> {
  const q = new URLSearchParams(location.search);
  const r = range(q);
  const banner = h("div", { class: "banner", "data-testid": "incident-banner" }, loading("Looking for an incident…"));
  const services = section("Services", loading("Loading services…"));
  const recent = section("Recent changes", loading("Loading changes…"));
  root.append(banner, services, recent);
  const red = get<Red>("/api/v1/red", r);
  const chg = get<{ changes: Change[] }>("/api/v1/changes", { ...r, limit: 1000 });
  get<Report>("/api/v1/investigate", r)
    .then((rep) => {
      banner.replaceChildren(incidentBanner(rep));
    })
    .catch((e) => banner.replaceChildren(message("error", `Investigation failed: ${e.message}`)));
  try {
    const d = await red;
    services.replaceChildren(h("h2", null, `Services (${fmtTime(d.from)} – ${fmtTime(d.to)})`), serviceTable(d));
  } catch (e) {
    services.replaceChildren(h("h2", null, "Services"), message("error", (e as Error).message));
  }
  try {
    const c = (await chg).changes.sort((a, b) => changeTime(b) - changeTime(a)).slice(0, 10);
    recent.replaceChildren(
      h("h2", null, "Recent changes"),
      c.length
        ? table(
            ["when", "service", "kind", "change"],
            c.map((x) => [fmtTime(changeTime(x)), x.service ?? "", x.kind ?? "", link(`/changes?id=${encodeURIComponent(x.id)}`, x.description || x.id)]),
          )
        : h("p", null, "No changes recorded in this window."),
    );
  } catch (e) {
    recent.replaceChildren(h("h2", null, "Recent changes"), message("error", (e as Error).message));
  }
}

function incidentBanner(rep: Report): HTMLElement {
  const w = `from=${encodeURIComponent(rep.window.from)}&to=${encodeURIComponent(rep.window.to)}`;
  if (!rep.incident) {
    return h("div", { class: "banner-ok" }, `No incident found between ${fmtTime(rep.window.from)} and ${fmtTime(rep.window.to)}.`, " ", link(`/investigate?${w}`, "Investigate this window"));
  }
  const top = rep.root_causes[0];
  return h(
    "div",
    { class: "banner-bad" },
    h("strong", null, "Incident: "),
    rep.symptom.summary,
    top
      ? h("div", null, "Top root cause: ", h("strong", { "data-testid": "banner-cause" }, top.service), top.instance ? ` (${top.instance})` : "", ` — ${top.summary}`)
      : null,
    h("div", null, link(`/investigate?${w}`, "Open the investigation →")),
  );
}

function serviceTable(d: Red): HTMLElement {
  const rows = [...d.services].sort((a, b) => b.error_rate - a.error_rate || b.requests - a.requests);
  if (!rows.length) return h("p", null, "No requests in this window.");
  const xs = d.total.map((b) => b.start / 1e9);
  const t = table(
    ["service", "requests/s", "error rate", "p99", "requests over time", "errors over time"],
    rows.map((s) => {
      const rate = h("div", { class: "spark" });
      const errs = h("div", { class: "spark" });
      queueMicrotask(() => {
        sparkline(rate, xs, s.buckets.map((b) => b.count), "#6ea8fe");
        sparkline(errs, xs, s.buckets.map((b) => (b.count ? b.errors / b.count : 0)), "#ff6b6b");
      });
      return [
        link(url("/traces", { filter: `service = "${s.name}"` }), s.name),
        fmtNumber(s.rate_per_s),
        h("span", { class: health(s.error_rate) }, fmtRate(s.error_rate)),
        fmtDuration(s.p99_ns),
        rate,
        errs,
      ];
    }),
    "services",
  );
  t.setAttribute("data-testid", "services");
  return t;
}
