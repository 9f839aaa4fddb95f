// A service graph drawn with Cytoscape.js: laid out automatically (breadth-first, callers above
// callees), pan, zoom and drag. Labels are canvas text, never markup.

import cytoscape from "cytoscape";

export type GNode = { id: string; label: string; virtual?: boolean; cls?: string };
export type GEdge = { from: string; to: string; label: string; cls?: string };

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: "node",
    style: {
      label: "data(label)",
      color: "#d8dee9",
      "font-size": 11,
      "text-valign": "bottom",
      "text-margin-y": 4,
      "text-wrap": "wrap",
      "background-color": "#3b82f6",
      width: 26,
      height: 26,
      "border-width": 2,
      "border-color": "#1e293b",
    },
  },
  { selector: "node.virtual", style: { shape: "round-rectangle", "background-color": "#64748b", "border-style": "dashed", "border-color": "#94a3b8" } },
  { selector: "node.ok", style: { "background-color": "#22c55e" } },
  { selector: "node.warn", style: { "background-color": "#f59e0b" } },
  { selector: "node.bad", style: { "background-color": "#ef4444" } },
  { selector: "node.cause", style: { "border-color": "#ffd166", "border-width": 5 } },
  { selector: "node:selected", style: { "border-color": "#ffffff", "border-width": 4 } },
  {
    selector: "edge",
    style: {
      width: 1.5,
      "line-color": "#64748b",
      "target-arrow-color": "#64748b",
      "target-arrow-shape": "triangle",
      "curve-style": "bezier",
      label: "data(label)",
      "font-size": 9,
      color: "#9aa4b2",
      "text-rotation": "autorotate",
      "text-background-color": "#0f1420",
      "text-background-opacity": 0.8,
      "text-background-padding": "1px",
    },
  },
  { selector: "edge.warn", style: { "line-color": "#f59e0b", "target-arrow-color": "#f59e0b" } },
  { selector: "edge.bad", style: { "line-color": "#ef4444", "target-arrow-color": "#ef4444", width: 2.5 } },
  { selector: "edge.path", style: { "line-color": "#ffd166", "target-arrow-color": "#ffd166", width: 4 } },
];

export function drawGraph(
  el: HTMLElement,
  g: { nodes: GNode[]; edges: GEdge[] },
  on?: { node?: (id: string) => void; edge?: (from: string, to: string) => void },
): cytoscape.Core {
  const roots = g.nodes.filter((n) => !g.edges.some((e) => e.to === n.id)).map((n) => n.id);
  const cy = cytoscape({
    container: el,
    elements: [
      ...g.nodes.map((n) => ({ data: { id: n.id, label: n.label }, classes: [n.virtual ? "virtual" : "", n.cls ?? ""].join(" ").trim() })),
      ...g.edges.map((e) => ({ data: { id: `${e.from}>${e.to}`, source: e.from, target: e.to, label: e.label }, classes: e.cls ?? "" })),
    ],
    style: STYLE,
    layout: { name: "breadthfirst", directed: true, roots: roots.length ? roots : undefined, spacingFactor: 1.1, padding: 20 },
    minZoom: 0.1,
    maxZoom: 4,
  });
  cy.on("tap", "node", (ev) => on?.node?.(ev.target.id()));
  cy.on("tap", "edge", (ev) => on?.edge?.(ev.target.data("source"), ev.target.data("target")));
  // For the tests and for people who read the page with assistive tools: the graph as text too.
  el.setAttribute("aria-label", `service graph: ${g.nodes.length} nodes, ${g.edges.length} edges`);
  el.dataset.nodes = g.nodes.map((n) => n.id).sort().join(",");
  el.dataset.edges = g.edges.map((e) => `${e.from}>${e.to}`).sort().join(",");
  return cy;
}
