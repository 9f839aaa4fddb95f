// The app shell: header with the views and the time range, and a router over location.pathname.
// Every view's state (its time range included) is in the URL, so any view can be shared.

import "./style.css";
import { h, clear, link, setRouter, go } from "./dom";
import { token, setToken } from "./api";
import { overview } from "./pages/overview";
import { investigation } from "./pages/investigate";
import { serviceMap } from "./pages/map";
import { traces } from "./pages/traces";
import { trace } from "./pages/trace";
import { compare } from "./pages/compare";
import { logs } from "./pages/logs";
import { changes } from "./pages/changes";
import { metric } from "./pages/metric";

export type View = (root: HTMLElement, q: URLSearchParams, path: string) => Promise<void> | void;

const VIEWS: [string, string, View][] = [
  ["/", "Overview", overview],
  ["/investigate", "Investigate", investigation],
  ["/map", "Service map", serviceMap],
  ["/traces", "Traces", traces],
  ["/logs", "Logs", logs],
  ["/changes", "Changes", changes],
];

/// Time-range presets, as the API takes them (relative to now), like Grafana's picker; "data"
/// leaves the range out: the last hour of what is stored.
const PRESETS: [string, string][] = [
  ["", "Last hour of data"],
  ["-15m", "Last 15 minutes"],
  ["-1h", "Last hour"],
  ["-3h", "Last 3 hours"],
  ["-6h", "Last 6 hours"],
  ["-24h", "Last 24 hours"],
  ["-7d", "Last 7 days"],
];

function withParams(changes: Record<string, string>): string {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v) q.set(k, v);
    else q.delete(k);
  }
  const s = q.toString();
  return location.pathname + (s ? `?${s}` : "");
}

function timePicker(q: URLSearchParams): HTMLElement {
  const from = h("input", { type: "text", name: "from", value: q.get("from") ?? "", placeholder: "from (-1h, RFC 3339)", "aria-label": "from" });
  const to = h("input", { type: "text", name: "to", value: q.get("to") ?? "", placeholder: "to (now)", "aria-label": "to" });
  const preset = h(
    "select",
    {
      "aria-label": "time range",
      onchange: () => go(withParams({ from: preset.value, to: "" })),
    },
    ...PRESETS.map(([v, label]) => h("option", { value: v }, label)),
  );
  preset.value = PRESETS.some(([v]) => v === (q.get("from") ?? "")) && !q.get("to") ? (q.get("from") ?? "") : "";
  const form = h(
    "form",
    {
      class: "picker",
      onsubmit: (e) => {
        e.preventDefault();
        go(withParams({ from: from.value.trim(), to: to.value.trim() }));
      },
    },
    preset,
    from,
    to,
    h("button", { type: "submit" }, "Apply"),
  );
  return form;
}

function header(path: string, q: URLSearchParams): HTMLElement {
  const keep = new URLSearchParams();
  for (const k of ["from", "to"]) if (q.get(k)) keep.set(k, q.get(k)!);
  const suffix = keep.toString() ? `?${keep}` : "";
  const theme = h(
    "button",
    {
      class: "theme",
      title: "Switch between the dark and the light theme",
      onclick: () => {
        const next = document.documentElement.dataset.theme === "light" ? "dark" : "light";
        document.documentElement.dataset.theme = next;
        localStorage.setItem("faultline-theme", next);
      },
    },
    "◐",
  );
  const key = h(
    "button",
    {
      class: "theme",
      title: token() ? "Access token set: click to change or clear it" : "Set the access token (for a server that asks for one)",
      "aria-label": "access token",
      onclick: () => {
        const box = h("input", { type: "password", placeholder: "access token (empty to clear)", "aria-label": "access token" });
        const f = h(
          "form",
          {
            class: "picker",
            onsubmit: (e) => {
              e.preventDefault();
              setToken(box.value.trim() || null);
              go(location.pathname + location.search);
            },
          },
          box,
          h("button", { type: "submit" }, "Save"),
        );
        key.replaceWith(f);
        box.focus();
      },
    },
    "🔑",
  );
  return h(
    "header",
    null,
    h("span", { class: "brand" }, "faultline"),
    h(
      "nav",
      null,
      ...VIEWS.map(([p, label]) => {
        const a = link(p + suffix, label);
        if (p === path) a.setAttribute("aria-current", "page");
        return a;
      }),
    ),
    timePicker(q),
    key,
    theme,
  );
}

async function render(): Promise<void> {
  const path = location.pathname;
  const q = new URLSearchParams(location.search);
  const body = document.body;
  clear(body);
  const main = h("main", { id: "main" });
  body.append(header(path, q), main);
  let view: View | undefined = VIEWS.find(([p]) => p === path)?.[2];
  if (path.startsWith("/trace/")) view = trace;
  if (path === "/compare") view = compare;
  if (path === "/metric") view = metric;
  document.title = `faultline · ${VIEWS.find(([p]) => p === path)?.[1] ?? (path.startsWith("/trace/") ? "Trace" : path === "/metric" ? "Metric" : "Compare")}`;
  if (!view) {
    main.append(h("p", null, "No such page. "), link("/", "Back to the overview"));
    return;
  }
  try {
    await view(main, q, path);
  } catch (e) {
    main.append(h("div", { class: "msg error", role: "alert" }, String((e as Error).message ?? e)));
  }
}

const saved = localStorage.getItem("faultline-theme");
if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
setRouter(() => void render());
window.addEventListener("popstate", () => void render());
void render();
