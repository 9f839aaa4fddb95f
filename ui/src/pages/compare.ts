// Two traces side by side: the API's span-by-span comparison (`/api/v1/diff?trace_a&trace_b`),
// and both waterfalls.

import { h, link, section, message } from "../dom";
import { get } from "../api";
import { waterfall, Tree } from "./trace";
import { loading } from "./common";

type SideInfo = { trace_id: string; spans: number; duration_ms: number; error: boolean; critical_path: string[] };
type TraceDiff = {
  a: SideInfo;
  b: SideInfo;
  spans: { path: string; depth: number; a_ms: number | null; b_ms: number | null; a_error: boolean; b_error: boolean }[];
  only_in_a: number;
  only_in_b: number;
};

export async function compare(root: HTMLElement, q: URLSearchParams): Promise<void> {
  const a = q.get("a") ?? "";
  const b = q.get("b") ?? "";
  if (!a || !b) {
    root.append(message("info", "Tick two traces in a search to compare them."), link("/traces", "Search traces"));
    return;
  }
  root.append(loading("Comparing…"));
  try {
    const [d, ta, tb] = await Promise.all([
      get<TraceDiff>("/api/v1/diff", { trace_a: a, trace_b: b }),
      get<Tree>(`/api/v1/traces/${a}`),
      get<Tree>(`/api/v1/traces/${b}`),
    ]);
    const ms = (x: number | null) => (x === null ? "—" : `${x.toFixed(2)} ms`);
    const rows = d.spans.map((s) => {
      const name = h("td", null, s.path.split(" > ").pop() ?? s.path);
      name.style.paddingLeft = `${s.depth * 14 + 4}px`;
      const cls = s.a_ms === null || s.b_ms === null ? "row-warn" : s.a_error !== s.b_error ? "row-bad" : "";
      return h("tr", { class: cls }, name, h("td", { class: s.a_error ? "bad" : "" }, ms(s.a_ms)), h("td", { class: s.b_error ? "bad" : "" }, ms(s.b_ms)));
    });
    root.replaceChildren(
      section(
        "Span by span",
        h("p", null, `A: ${d.a.spans} spans, ${d.a.duration_ms} ms${d.a.error ? ", failed" : ""}. B: ${d.b.spans} spans, ${d.b.duration_ms} ms${d.b.error ? ", failed" : ""}. Only in A: ${d.only_in_a}; only in B: ${d.only_in_b}.`),
        h("table", { "data-testid": "trace-diff" }, h("thead", null, h("tr", null, h("th", null, "span"), h("th", null, "A"), h("th", null, "B"))), h("tbody", null, ...rows)),
      ),
      h("div", { class: "side-by-side" }, waterfall(ta, null), waterfall(tb, null)),
    );
  } catch (e) {
    root.replaceChildren(message("error", (e as Error).message));
  }
}
