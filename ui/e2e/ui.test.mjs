// End-to-end tests of the web UI in a real browser: Debian's Chromium driven by playwright-core,
// against faultline servers loaded with simulator incidents. Screenshots of each page go to
// e2e/screenshots/; first-render timings are printed.
//
// FAULTLINE_BIN: the faultline binary (default: ../target/debug/faultline).
// CHROMIUM: the browser (default: /usr/bin/chromium).
// FAULTLINE_E2E_RPS: requests per second of the simulated incidents (default 5).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const BIN = resolve(process.env.FAULTLINE_BIN ?? join(import.meta.dirname, "../../target/debug/faultline"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const RPS = process.env.FAULTLINE_E2E_RPS ?? "5";
const SHOTS = join(import.meta.dirname, "screenshots");
/// How long a page may take to show what a test waits for (debug builds investigate slowly).
const WAIT_MS = 120_000;
const XSS_IMG = '<img src=x onerror="window.__xss=1">';
const XSS_SCRIPT = "<script>window.__xss=2</script>";

const work = mkdtempSync(join(tmpdir(), "faultline-e2e-"));
const servers = {};
let browser;
const timings = [];

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
    s.on("error", fail);
  });
}

/// Simulates a built-in scenario, imports it into its own data directory and serves it.
async function serveScenario(name) {
  const out = join(work, name);
  execFileSync(BIN, ["sim", "--scenario", name, "--rps", RPS, "--out", out], { stdio: "ignore" });
  const data = join(work, `${name}-data`);
  const files = readdirSync(out).filter((f) => f.endsWith(".jsonl")).map((f) => join(out, f));
  execFileSync(BIN, ["import", "--data-dir", data, ...files], { stdio: "ignore" });
  const [api, grpc, otlp] = [await freePort(), await freePort(), await freePort()];
  const proc = spawn(BIN, ["serve", "--data-dir", data, "--api-addr", `127.0.0.1:${api}`, "--grpc-addr", `127.0.0.1:${grpc}`, "--otlp-http-addr", `127.0.0.1:${otlp}`], { stdio: "ignore" });
  const base = `http://127.0.0.1:${api}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const truth = JSON.parse(readFileSync(join(out, "truth.json"), "utf8"));
  return { base, otlp: `http://127.0.0.1:${otlp}`, proc, truth };
}

const hex = (n, bytes) => n.toString(16).padStart(bytes * 2, "0");

/// Sends one trace over OTLP/HTTP JSON: a root and `n - 1` children, one of them carrying the
/// hostile attribute, and a log record with a hostile body in the same trace.
async function sendTrace(s, traceId, n) {
  const now = BigInt(Date.now()) * 1_000_000n - 120_000_000_000n;
  const spans = [];
  for (let i = 0; i < n; i++) {
    const start = now + BigInt(i) * 1000n;
    spans.push({
      traceId,
      spanId: hex(i + 1, 8),
      parentSpanId: i === 0 ? "" : hex(Math.max(1, Math.floor(i / 10)), 8),
      name: i === 1 ? `render ${XSS_SCRIPT}` : `step ${i}`,
      kind: 1,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(start + (i === 0 ? BigInt(n) * 2000n : 500_000n)),
      attributes: i === 1 ? [{ key: "comment", value: { stringValue: XSS_IMG } }] : [],
    });
  }
  const resource = { attributes: [{ key: "service.name", value: { stringValue: "e2e-shop" } }] };
  let r = await fetch(`${s.otlp}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ resourceSpans: [{ resource, scopeSpans: [{ scope: { name: "e2e" }, spans }] }] }),
  });
  assert.equal(r.status, 200, await r.text());
  r = await fetch(`${s.otlp}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      resourceLogs: [{ resource, scopeLogs: [{ scope: { name: "e2e" }, logRecords: [{ timeUnixNano: String(now), severityNumber: 17, severityText: "ERROR", body: { stringValue: `order failed ${XSS_IMG} ${XSS_SCRIPT}` }, traceId, spanId: hex(2, 8) }] }] }],
    }),
  });
  assert.equal(r.status, 200, await r.text());
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  servers.lb = await serveScenario("lb-bad-backend");
  servers.deploy = await serveScenario("bad-deploy");
  await sendTrace(servers.lb, "e2e0000000000000000000000000beef", 12);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  // A server flushes its head on SIGTERM: wait for it to exit before its directory is removed
  // (removing while it still writes fails with ENOTEMPTY).
  await Promise.all(
    Object.values(servers).map(
      (s) =>
        new Promise((done) => {
          if (s.proc.exitCode !== null || s.proc.signalCode !== null) return done();
          s.proc.once("exit", done);
          s.proc.kill("SIGTERM");
        }),
    ),
  );
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  if (timings.length) {
    console.log("UI timings (first render until the page's content shows):");
    for (const [what, ms] of timings) console.log(`  ${what.padEnd(40)} ${ms} ms`);
  }
});

/// A page that records console errors, page errors and dialogs (a dialog is script that ran).
async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { page, problems };
}

/// Pages whose whole length is a long list: their screenshot is the first screen.
const LONG = new Set(["traces", "logs"]);

async function open(page, url, ready, name) {
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector(ready, { timeout: WAIT_MS });
  timings.push([name, Date.now() - t0]);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: !LONG.has(name) });
}

function win(s) {
  return `from=${encodeURIComponent(s.truth.window.from)}&to=${encodeURIComponent(s.truth.window.to)}`;
}

test("every page loads with no console error", async () => {
  const s = servers.lb;
  const { page, problems } = await newPage();
  const w = win(s);
  await open(page, `${s.base}/?${w}`, "[data-testid=services] tbody tr", "overview");
  await page.waitForSelector("[data-testid=incident-banner] .banner-bad, [data-testid=incident-banner] .banner-ok", { timeout: WAIT_MS });
  await page.screenshot({ path: join(SHOTS, "overview.png"), fullPage: true });
  await open(page, `${s.base}/investigate?${w}`, "[data-testid=causes] li", "investigation");
  await open(page, `${s.base}/map?${w}`, "[data-testid=service-map] canvas", "service-map");
  await open(page, `${s.base}/traces?${w}&filter=${encodeURIComponent("status = error")}`, "[data-testid=trace-list] tbody tr", "traces");
  await open(page, `${s.base}/logs?${w}`, "[data-testid=log-list] tbody tr", "logs");
  await open(page, `${s.base}/logs?${w}&view=templates`, "table.templates tbody tr", "log-templates");
  await open(page, `${s.base}/changes?${w}`, "[data-testid=changes-chart] canvas", "changes");
  const ids = await (await fetch(`${s.base}/api/v1/traces?${w}&limit=2`)).json();
  const [a, b] = ids.traces.map((t) => t.trace_id);
  await open(page, `${s.base}/trace/${a}`, "[data-testid=waterfall] .wf-row", "trace");
  await open(page, `${s.base}/compare?a=${a}&b=${b}`, "[data-testid=trace-diff] tbody tr", "compare");
  assert.deepEqual(problems, []);
  await page.close();
});

test("the investigation page names the true root cause of two scenarios", async () => {
  for (const s of [servers.lb, servers.deploy]) {
    const { page, problems } = await newPage();
    await page.goto(`${s.base}/investigate?${win(s)}`);
    const first = await page.waitForSelector("[data-testid=causes] li .cause-service", { timeout: WAIT_MS });
    assert.equal(await first.textContent(), s.truth.faults[0].service, s.truth.scenario);
    assert.deepEqual(problems, []);
    await page.close();
  }
});

test("the service map has the expected nodes and edges", async () => {
  const s = servers.lb;
  const { page } = await newPage();
  await page.goto(`${s.base}/map?${win(s)}`);
  const map = await page.waitForSelector("[data-testid=service-map][data-nodes]", { timeout: WAIT_MS });
  const nodes = (await map.getAttribute("data-nodes")).split(",");
  const edges = (await map.getAttribute("data-edges")).split(",");
  for (const n of ["frontend", "inventory", "auth", "inventory-db", "sessions-db"]) assert.ok(nodes.includes(n), `${n} in ${nodes}`);
  for (const e of ["frontend>inventory", "frontend>auth", "inventory>inventory-db"]) assert.ok(edges.includes(e), `${e} in ${edges}`);
  // A click on a node shows its charts and sample traces.
  const box = await map.boundingBox();
  assert.ok(box.width > 100 && box.height > 100);
  await page.close();
});

test("a trace waterfall opens from a search", async () => {
  const s = servers.lb;
  const { page, problems } = await newPage();
  await page.goto(`${s.base}/traces?${win(s)}&filter=${encodeURIComponent("status = error")}`);
  const first = await page.waitForSelector("[data-testid=trace-list] tbody tr a", { timeout: WAIT_MS });
  await first.click();
  await page.waitForURL(/\/trace\/[0-9a-f]{32}$/);
  await page.waitForSelector("[data-testid=waterfall] .wf-row", { timeout: WAIT_MS });
  assert.ok((await page.locator("[data-testid=waterfall] .wf-row").count()) > 1);
  assert.ok((await page.locator(".wf-bar.crit").count()) >= 1, "the critical path is drawn");
  await page.locator("[data-testid=waterfall] .wf-row").nth(1).click();
  await page.waitForSelector("[data-testid=span-details] h4");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a log line jumps to its trace", async () => {
  const s = servers.lb;
  const { page, problems } = await newPage();
  await page.goto(`${s.base}/logs?${win(s)}&text=${encodeURIComponent("invalid response")}`);
  const link = await page.waitForSelector("[data-testid=log-list] tbody tr a", { timeout: WAIT_MS });
  const href = await link.getAttribute("href");
  await link.click();
  await page.waitForURL((u) => u.pathname === href);
  await page.waitForSelector("[data-testid=waterfall] .wf-row", { timeout: WAIT_MS });
  assert.deepEqual(problems, []);
  await page.close();
});

test("markup in telemetry shows as text and runs nothing", async () => {
  const s = servers.lb;
  const { page, problems } = await newPage();
  await page.goto(`${s.base}/trace/e2e0000000000000000000000000beef`);
  await page.waitForSelector("[data-testid=waterfall] .wf-row", { timeout: WAIT_MS });
  await page.locator("[data-testid=waterfall] .wf-row").nth(1).click();
  await page.waitForSelector("[data-testid=span-details] table.kv");
  const details = await page.textContent("[data-testid=span-details]");
  assert.ok(details.includes(XSS_IMG), details);
  const waterfall = await page.textContent("[data-testid=waterfall]");
  assert.ok(waterfall.includes(XSS_SCRIPT), "the span name with a script tag shows as text");
  await page.waitForSelector("table.logs tbody tr");
  assert.ok((await page.textContent("table.logs")).includes(XSS_IMG));
  await page.goto(`${s.base}/logs?from=-1h&text=${encodeURIComponent("order failed")}`);
  await page.waitForSelector("[data-testid=log-list] tbody tr", { timeout: WAIT_MS });
  assert.ok((await page.textContent("[data-testid=log-list]")).includes(XSS_SCRIPT));
  await page.screenshot({ path: join(SHOTS, "xss-as-text.png"), fullPage: true });
  assert.equal(await page.evaluate(() => window.__xss), undefined, "no injected script ran");
  assert.equal(await page.locator("img[src=x]").count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a 100,000-point metric series draws", async () => {
  const s = servers.lb;
  const end = Date.now() - 60_000;
  const dataPoints = [];
  for (let i = 0; i < 100_000; i++) {
    dataPoints.push({ timeUnixNano: String(BigInt(end - (100_000 - i) * 100) * 1_000_000n), asDouble: Math.sin(i / 500) * 10 + (i % 97) / 10 });
  }
  const r = await fetch(`${s.otlp}/v1/metrics`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ resourceMetrics: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "e2e-shop" } }] }, scopeMetrics: [{ metrics: [{ name: "e2e.queue.depth", gauge: { dataPoints } }] }] }] }),
  });
  assert.equal(r.status, 200, await r.text());
  const { page, problems } = await newPage();
  await open(page, `${s.base}/metric?name=e2e.queue.depth&from=-4h`, "[data-testid=metric-chart] canvas", "metric-100k-points");
  assert.match(await page.textContent("main"), /100000 points/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a 10,000-span trace opens and collapses", async () => {
  const s = servers.lb;
  const id = "e2e00000000000000000000000010000";
  await sendTrace(s, id, 10_000);
  const { page, problems } = await newPage();
  const t0 = Date.now();
  await page.goto(`${s.base}/trace/${id}`);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=waterfall] .wf-row").length === 10_000, null, { timeout: WAIT_MS });
  timings.push(["10,000-span trace, waterfall drawn", Date.now() - t0]);
  // Collapse the root: only it stays visible.
  const t1 = Date.now();
  await page.locator("[data-testid=waterfall] .wf-toggle").first().click();
  await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=waterfall] .wf-row")].filter((r) => !r.hidden).length === 1);
  timings.push(["10,000-span trace, collapse the root", Date.now() - t1]);
  assert.deepEqual(problems, []);
  await page.close();
});
