// Times as the API takes them (RFC 3339, unix seconds, or relative like -1h) and as people read them.

export const MS = 1e6;

export function fmtTime(ns: number | string): string {
  const d = typeof ns === "string" ? new Date(ns) : new Date(ns / MS);
  if (isNaN(d.getTime())) return String(ns);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function fmtDuration(ns: number): string {
  if (!isFinite(ns)) return "-";
  const a = Math.abs(ns);
  if (a >= 60e9) return `${(ns / 60e9).toFixed(1)} min`;
  if (a >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (a >= 1e6) return `${(ns / 1e6).toFixed(a >= 100e6 ? 0 : 1)} ms`;
  if (a >= 1e3) return `${(ns / 1e3).toFixed(0)} µs`;
  return `${ns.toFixed(0)} ns`;
}

export function fmtRate(x: number): string {
  if (!isFinite(x)) return "-";
  if (x === 0) return "0%";
  const p = x * 100;
  return p >= 10 ? `${p.toFixed(0)}%` : p >= 1 ? `${p.toFixed(1)}%` : `${p.toFixed(2)}%`;
}

export function fmtNumber(x: number): string {
  if (!isFinite(x)) return "-";
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/// RFC 3339 of a unix-ns time, for URLs.
export function iso(ns: number): string {
  return new Date(Math.floor(ns / MS)).toISOString();
}
