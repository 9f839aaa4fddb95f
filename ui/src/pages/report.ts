// The investigation report (../shared/contracts/investigation.md), as the API returns it.

export type Evidence = { signal: string; text: string; refs?: string[] };
export type RootCause = {
  rank: number;
  service: string;
  instance: string | null;
  operation: string | null;
  change: { id: string; kind: string; at: string; description: string; service?: string } | null;
  patterns: string[];
  confidence: number;
  summary: string;
  evidence: Evidence[];
};
export type Side = { baseline: number; incident: number };
export type Report = {
  schema: string;
  window: { from: string; to: string };
  baseline: { from: string; to: string } | null;
  comparison?: string;
  incident: boolean;
  symptom: {
    summary: string;
    onset: string | null;
    trend?: string;
    end?: string | null;
    affected: { service: string; operation: string; error_rate: Side; latency_p99_ms: Side; requests?: Side }[];
  };
  root_causes: RootCause[];
  findings: { pattern: string; service: string; instance?: string | null; text: string }[];
  propagation: string[][];
  suggested_actions: string[];
  timeline: { at: string; signal: string; text: string }[];
  dependencies?: {
    caller: string;
    callee: string;
    uninstrumented?: boolean;
    baseline?: { calls_per_s: number; error_rate: number; p99_ms: number } | null;
    incident?: { calls_per_s: number; error_rate: number; p99_ms: number } | null;
  }[];
  log_templates?: { service: string; instance: string | null; template_id: string; template: string; error: boolean; baseline: number; incident: number; traces?: string[] }[];
  differences?: { kind: string; service: string; feature: string; a_share: number; b_share: number; a_traces: number; b_traces: number; z: number }[];
  series?: { name: string; start: string; step_seconds: number; values: (number | null)[] }[];
  correlated_metrics?: { metric: string; service: string; instance: string | null; baseline: number; incident: number; moved_at: string | null; lead_seconds: number | null }[];
  stats?: { spans: number; logs: number; metric_points: number; changes: number; elapsed_ms: number };
};
