// Charts drawn with uPlot (canvas: fast with 100,000-point series, and text on a canvas is never
// markup). Time is in unix seconds on the x axis.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type Marker = { t: number; label: string; kind: "onset" | "change" | "window" };

export type Series = { label: string; values: (number | null)[]; color: string; points?: boolean };

export type ChartOptions = {
  xs: number[];
  series: Series[];
  markers?: Marker[];
  height?: number;
  yFormat?: (v: number) => string;
  onSelect?: (from: number, to: number) => void;
  onPick?: (index: number) => void;
  points?: boolean;
};

const AXIS = { stroke: "#9aa4b2", grid: { stroke: "#2a3040", width: 1 }, ticks: { stroke: "#2a3040" } };
const MARK_COLOR: Record<Marker["kind"], string> = { onset: "#ff6b6b", change: "#ffd166", window: "#6ea8fe" };

function markerPlugin(markers: Marker[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u: uPlot) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.font = `${11 * devicePixelRatio}px sans-serif`;
          for (const m of markers) {
            const x = u.valToPos(m.t, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = MARK_COLOR[m.kind];
            ctx.fillStyle = MARK_COLOR[m.kind];
            ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.lineWidth = devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillText(m.label.slice(0, 40), x + 3 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          }
          ctx.restore();
        },
      ],
    },
  };
}

export function lineChart(el: HTMLElement, o: ChartOptions): uPlot {
  const width = Math.max(300, el.clientWidth || 800);
  const fmt = o.yFormat ?? ((v: number) => String(v));
  const opts: uPlot.Options = {
    width,
    height: o.height ?? 200,
    plugins: [markerPlugin(o.markers ?? [])],
    cursor: { drag: { x: Boolean(o.onSelect), y: false, setScale: false } },
    scales: { x: { time: true } },
    axes: [{ ...AXIS }, { ...AXIS, size: 60, values: (_u, vals) => vals.map((v) => (v == null ? "" : fmt(v))) }],
    legend: { live: true },
    series: [
      {},
      ...o.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        value: (_u: uPlot, v: number | null) => (v == null ? "-" : fmt(v)),
        points: s.points || o.points ? { show: true, size: 5, fill: s.color, stroke: s.color } : { show: false },
        paths: s.points || o.points ? () => null : undefined,
      })),
    ],
    hooks: {
      setSelect: [
        (u: uPlot) => {
          if (!o.onSelect || u.select.width < 5) return;
          const a = u.posToVal(u.select.left, "x");
          const b = u.posToVal(u.select.left + u.select.width, "x");
          o.onSelect(a, b);
        },
      ],
    },
  };
  const data = [o.xs, ...o.series.map((s) => s.values)] as uPlot.AlignedData;
  const u = new uPlot(opts, data, el);
  if (o.onPick) {
    u.over.addEventListener("click", () => {
      const i = u.cursor.idx;
      if (i != null) o.onPick!(i);
    });
  }
  const ro = new ResizeObserver(() => {
    const w = Math.max(300, el.clientWidth);
    if (Math.abs(w - u.width) > 4) u.setSize({ width: w, height: u.height });
  });
  ro.observe(el);
  return u;
}

/// A small line with no axes: the shape of a series at a glance.
export function sparkline(el: HTMLElement, xs: number[], values: number[], color: string): uPlot {
  const opts: uPlot.Options = {
    width: 140,
    height: 30,
    cursor: { show: false },
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: color, width: 1, fill: color + "33" }],
  };
  return new uPlot(opts, [xs, values] as uPlot.AlignedData, el);
}
