// Load test of the supervised dev server (`npm run load`, issue 11).
//
// Starts `node scripts/serve.mjs` (the supervisor + wrangler dev that `npm run dev` uses) on a
// free port with its state in a temp dir and several tenants configured through
// `--var DWL_API_KEYS:<json>` (keys generated here; the default per-tenant limits of 1,200/min
// and 50 concurrent stay in force). Then:
//   1. warm-up: every tenant runs each of its programs, so their isolates exist before the
//      memory baseline is taken;
//   2. "alone": the quiet tenant sends QUIET_ALONE requests one after another (its p95 alone);
//   3. flood: 1,000 connections at once from four tenants, each sending again as soon as it has
//      an answer, for FLOOD_MS (at most FLOOD_MAX_REQUESTS requests): the "flood" tenant holds
//      700 of them and ignores Retry-After (an abusive client), three others hold 100 each and
//      wait Retry-After on a 429 (well-behaved clients). Meanwhile the quiet tenant keeps sending
//      one request at a time (its p95 during the flood). Then up to SETTLE_MAX_MS for memory to
//      come back;
//   4. the same flood a second time, then settle again: memory that grows flood after flood is a
//      leak, memory that stays at the first flood's level is a high-water mark.
//   5. invented keys: FORGED_CONNECTIONS connections each sending a new random key with every
//      request for FORGED_MS (no per-key limit can hold such a client), the quiet tenant probing.
// Asserts: every answer is 200 (with the program's result) or 429 with a valid Retry-After (401
// or 429 for invented keys, during which the quiet tenant's p95 has the same bound);
// nothing else (no dropped or reset connections, no timeouts, no 5xx); the quiet tenant never
// gets a 429 and its p95 during the flood stays within QUIET_P95_FACTOR × alone (or under
// QUIET_P95_FLOOR_MS, whichever is larger); every well-behaved tenant gets work done; the runtime
// never crashed, and the supervisor restarted it only to recycle it once idle (workerd keeps a
// burst's high-water mark; the recycle gives it back: DWL_RECYCLE_IDLE_MS / DWL_RECYCLE_RSS_MB);
// the loader's runtime (workerd) RSS returns near its baseline; the loader answers right after. Prints a summary and exits 1 if an assertion failed. Bounded by DEADLINE_MS;
// every process it starts is in its own process group and killed on exit, error, deadline or signal.
import { createHash, randomBytes } from "node:crypto";
import os from "node:os";
import { agentFor, request } from "./lib/http.mjs";
import { loaderHeap } from "./lib/inspector.mjs";
import {
  freePort,
  processesOf,
  ROOT,
  runBounded,
  sampler,
  sleep,
  spawnServer,
  tempDir,
  waitReady,
} from "./lib/procs.mjs";
import { fmt, median, percentile, textTable } from "./lib/stats.mjs";

/** Tenants and the connections each holds during the flood (1,000 in all). */
const FLOODERS = [
  { tenant: "flood", connections: 700, honoursRetryAfter: false },
  { tenant: "alpha", connections: 100, honoursRetryAfter: true },
  { tenant: "beta", connections: 100, honoursRetryAfter: true },
  { tenant: "gamma", connections: 100, honoursRetryAfter: true },
];
const QUIET = "quiet";
const PROGRAMS_PER_TENANT = 4;
const FLOODS = 2;
/** Then connections sending a freshly invented key with every request (401 or 429 expected). */
const FORGED_CONNECTIONS = 700;
const FORGED_MS = 10_000;
const FLOOD_MS = 20_000;
const FLOOD_MAX_REQUESTS = 400_000;
const QUIET_ALONE = 100;
/** The quiet tenant's p95 during the flood may be this many times its p95 alone... */
const QUIET_P95_FACTOR = 10;
/** ...or up to this, whichever is larger (on 2 cores, a flood slows everyone somewhat). */
const QUIET_P95_FLOOR_MS = 1_000;
/** The runtime's RSS counts as back when it is within this of the baseline. */
const RSS_SLACK = { ratio: 0.25, mb: 64 };
const SETTLE_MAX_MS = 30_000;
const REQUEST_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 120_000;
const DEADLINE_MS = 6 * 60_000;

// Every tenant gets its own distinct programs (so its isolates are its own), all cheap: the load
// is the number of executions, not their CPU. Each returns the sum 0..n-1.
const INPUT = 1_000;
const EXPECTED = (INPUT * (INPUT - 1)) / 2;
const program = (tenant, k) =>
  `export default (n) => { let s = 0; for (let i = 0; i < n; i++) s += i; return s; } // ${tenant} #${k}\n`;

const TENANTS = [...FLOODERS.map((f) => f.tenant), QUIET];
/** Generated per run; only their SHA-256 goes to the server, as in production. */
const KEYS = Object.fromEntries(TENANTS.map((t) => [t, `dwl_load_${t}_${randomBytes(16).toString("hex")}`]));
const API_KEYS_JSON = JSON.stringify(
  Object.fromEntries(TENANTS.map((t) => [createHash("sha256").update(KEYS[t]).digest("hex"), t])),
);

/**
 * Classifies one answer: "ok" (200 with the expected result), "limited" (429 with a whole,
 * positive Retry-After), or a violation string.
 */
function classify(r) {
  if (r.status === 0) return `no answer: ${r.error}`;
  if (r.status === 429) {
    const retryAfter = r.headers["retry-after"];
    return /^[1-9]\d*$/.test(retryAfter ?? "")
      ? "limited"
      : `429 without a valid Retry-After (${JSON.stringify(retryAfter)})`;
  }
  if (r.status !== 200) return `HTTP ${r.status}: ${r.text.slice(0, 200)}`;
  try {
    const json = JSON.parse(r.text);
    return json.ok === true && json.result === EXPECTED ? "ok" : `200 but not the result: ${r.text.slice(0, 200)}`;
  } catch {
    return `200 but not JSON: ${r.text.slice(0, 200)}`;
  }
}

function execute(agent, url, tenant, k) {
  return request(agent, `${url}/execute`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEYS[tenant]}`, "content-type": "application/json" },
    body: JSON.stringify({ code: program(tenant, k), input: INPUT }),
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
}

/** Per-tenant tallies. */
function tally() {
  return { sent: 0, ok: 0, limited: 0, violations: new Map(), latencies: [] };
}
function record(t, r, kind) {
  t.sent++;
  t.latencies.push(r.ms);
  if (kind === "ok") t.ok++;
  else if (kind === "limited") t.limited++;
  else t.violations.set(kind, (t.violations.get(kind) ?? 0) + 1);
}

/** RSS (MiB) of the server's processes of one kind (see processesOf). */
const rssOf = (server, kind) =>
  processesOf(server)
    .filter((p) => p.kind === kind)
    .reduce((a, p) => a + p.rssMb, 0);

/** Median of a few samples, so that one GC or burst does not decide. */
async function steady(read) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    samples.push(read());
    await sleep(200);
  }
  return median(samples);
}

/** CPU seconds per process kind of the server, plus this process (the load generator). */
function cpuSnapshot(server) {
  const byKind = { "load generator (this process)": process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 };
  for (const p of processesOf(server)) byKind[p.kind] = (byKind[p.kind] ?? 0) + p.cpuS;
  return byKind;
}

/** The quiet tenant sending one request at a time until stopped; `stop()` gives its tally. */
function probeQuiet(url) {
  const quiet = tally();
  const agent = agentFor(1);
  let probing = true;
  const loop = (async () => {
    for (let i = 0; probing; i++) {
      const r = await execute(agent, url, QUIET, i % PROGRAMS_PER_TENANT);
      record(quiet, r, classify(r));
    }
  })();
  return {
    async stop() {
      probing = false;
      await loop;
      agent.destroy();
      return quiet;
    },
  };
}

/** One flood (see the header), with the quiet tenant probing throughout. */
async function flood(url, server) {
  const totalConnections = FLOODERS.reduce((a, f) => a + f.connections, 0);
  const tallies = Object.fromEntries(FLOODERS.map((f) => [f.tenant, tally()]));
  const floodAgent = agentFor(totalConnections);
  const rssPeak = sampler(() => rssOf(server, "workerd runtime"), 250);
  const cpuBefore = cpuSnapshot(server);
  let started = 0;
  const floodStart = performance.now();
  const floodEnd = floodStart + FLOOD_MS;
  const more = () => started < FLOOD_MAX_REQUESTS && performance.now() < floodEnd;

  const probe = probeQuiet(url);
  // All 1,000 start in the same tick: the first wave is 1,000 concurrent executions.
  const workers = FLOODERS.flatMap((f) =>
    Array.from({ length: f.connections }, async (_, c) => {
      for (let i = 0; more(); i++) {
        started++;
        const r = await execute(floodAgent, url, f.tenant, (c + i) % PROGRAMS_PER_TENANT);
        const kind = classify(r);
        record(tallies[f.tenant], r, kind);
        if (kind === "limited" && f.honoursRetryAfter) {
          const waitMs = Number(r.headers["retry-after"]) * 1000;
          await sleep(Math.max(0, Math.min(waitMs, floodEnd - performance.now())));
        }
      }
    }),
  );
  await Promise.all(workers);
  const quiet = await probe.stop();
  const wallMs = performance.now() - floodStart;
  const cpuAfter = cpuSnapshot(server);
  floodAgent.destroy();
  const cpu = Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, cpuAfter[k] - (cpuBefore[k] ?? 0)]));
  return { tallies, quiet, wallMs, cpu, runtimePeakMb: rssPeak.stop().peak, totalConnections };
}

/**
 * Invented credentials: a client sending a new random key with every request, so that no
 * per-key limit applies to it (the supervisor makes keys the loader has not accepted share one
 * group). The quiet tenant probes meanwhile.
 */
async function forgedFlood(url) {
  const forged = { sent: 0, unauthorized: 0, limited: 0, violations: new Map() };
  const agent = agentFor(FORGED_CONNECTIONS);
  const end = performance.now() + FORGED_MS;
  const probe = probeQuiet(url);
  await Promise.all(
    Array.from({ length: FORGED_CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const r = await request(agent, `${url}/execute`, {
          method: "POST",
          headers: {
            authorization: `Bearer dwl_forged_${randomBytes(12).toString("hex")}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ code: program("forged", 0), input: INPUT }),
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        forged.sent++;
        const kind = r.status === 401 ? "unauthorized" : classify(r);
        if (kind === "unauthorized") forged.unauthorized++;
        else if (kind === "limited") forged.limited++;
        else forged.violations.set(kind, (forged.violations.get(kind) ?? 0) + 1);
      }
    }),
  );
  const quiet = await probe.stop();
  agent.destroy();
  return { forged, quiet };
}

const RECYCLE_LINE = /runtime idle for \d+ s with (\d+) MB resident/;

/**
 * Waits (bounded) for the runtime's RSS to come back under `threshold` (the supervisor recycles
 * a runtime left idle with high memory: DWL_RECYCLE_*); returns the memory then, the RSS the
 * supervisor saw when it recycled (if it did), and one quiet-tenant answer sent right after.
 */
async function settle(server, inspectorPort, threshold, url) {
  const start = performance.now();
  const recyclesBefore = recycleLines(server).length;
  const agent = agentFor(1);
  let runtime = await runtimeRss(server, agent, url);
  while (runtime > threshold && performance.now() - start < SETTLE_MAX_MS) {
    await sleep(1_000);
    runtime = await runtimeRss(server, agent, url);
  }
  const afterMs = performance.now() - start;
  const recycled = recycleLines(server).slice(recyclesBefore);
  const after = classify(await execute(agent, url, QUIET, 0));
  agent.destroy();
  return {
    runtime,
    proxy: rssOf(server, "workerd proxy"),
    afterMs,
    heap: await loaderHeap(inspectorPort, { collect: true }),
    recycledAtMb: recycled.length ? Number(RECYCLE_LINE.exec(recycled[0])[1]) : undefined,
    recycles: recycled.length,
    after,
  };
}

/**
 * The runtime's RSS, read only while it is up: /healthz goes through the supervisor, which holds
 * it during a recycle until the new runtime answers, and a reading that a recycle overlapped
 * (its announcement comes before the kill, and the restart outlasts the reading) is taken again.
 */
async function runtimeRss(server, agent, url) {
  for (;;) {
    await request(agent, `${url}/healthz`, { timeoutMs: REQUEST_TIMEOUT_MS });
    const recycles = recycleLines(server).length;
    const rss = await steady(() => rssOf(server, "workerd runtime"));
    await request(agent, `${url}/healthz`, { timeoutMs: REQUEST_TIMEOUT_MS });
    if (recycleLines(server).length === recycles) return rss;
  }
}

/** The supervisor's recycle announcements so far (server.log keeps only the tail). */
const recycleLines = (server) => {
  if (!server.recycleLines) {
    server.recycleLines = [];
    server.lineListeners.push((line) => RECYCLE_LINE.test(line) && server.recycleLines.push(line));
  }
  return server.recycleLines;
};

async function main() {
  const port = await freePort();
  const inspectorPort = await freePort();
  const stateDir = tempDir("dwl-load-state-");
  const url = `http://127.0.0.1:${port}`;
  console.log(
    `DWL load test: starting the supervised dev server on ${url} with ${TENANTS.length} tenants (${TENANTS.join(", ")}) ...`,
  );
  const server = spawnServer(
    "serve",
    process.execPath,
    [`${ROOT}scripts/serve.mjs`, "--var", `DWL_API_KEYS:${API_KEYS_JSON}`],
    {
      PORT: String(port),
      DWL_INSPECTOR_PORT: String(inspectorPort),
      DWL_STATE_DIR: stateDir,
    },
  );
  await waitReady({ name: "serve", url, server }, STARTUP_TIMEOUT_MS);
  // Collected as they come (server.log keeps only its last lines).
  const supervisorEvents = [];
  server.lineListeners.push(
    (line) =>
      line.includes("[dwl supervisor]") &&
      !RECYCLE_LINE.test(line) &&
      !line.includes("went down (recycle)") &&
      supervisorEvents.push(line),
  );
  const crashesBefore = server.crashes;
  const recyclesBefore = recycleLines(server).length;

  // 1. Warm-up, sequential: every tenant's programs get their isolates.
  const one = agentFor(1);
  for (const tenant of TENANTS) {
    for (let k = 0; k < PROGRAMS_PER_TENANT; k++) {
      const r = await execute(one, url, tenant, k);
      const kind = classify(r);
      if (kind !== "ok")
        throw new Error(`warm-up of ${tenant} program ${k} failed: ${kind}\n${server.log.slice(-20).join("\n")}`);
    }
  }

  // 2. The quiet tenant alone.
  const alone = tally();
  for (let i = 0; i < QUIET_ALONE; i++) {
    const r = await execute(one, url, QUIET, i % PROGRAMS_PER_TENANT);
    record(alone, r, classify(r));
  }
  one.destroy();
  await sleep(2_000);
  const baseline = {
    runtime: await steady(() => rssOf(server, "workerd runtime")),
    proxy: rssOf(server, "workerd proxy"),
    heap: await loaderHeap(inspectorPort, { collect: true }),
  };
  const threshold = baseline.runtime * (1 + RSS_SLACK.ratio) + RSS_SLACK.mb;
  console.log(
    `quiet tenant alone: p50 ${fmt(percentile(alone.latencies, 50))} ms, p95 ${fmt(percentile(alone.latencies, 95))} ms; ` +
      `baseline RSS: runtime ${fmt(baseline.runtime, 0)} MB, wrangler proxy ${fmt(baseline.proxy, 0)} MB`,
  );

  // 3.–4. Floods, each followed by a settle period.
  const floods = [];
  for (let i = 0; i < FLOODS; i++) {
    console.log(
      `flood ${i + 1}/${FLOODS}: ${FLOODERS.map((f) => `${f.tenant} ${f.connections}`).join(", ")} connections + quiet 1, ${FLOOD_MS / 1000} s (≤ ${FLOOD_MAX_REQUESTS} requests) ...`,
    );
    const f = await flood(url, server);
    f.memory = await settle(server, inspectorPort, threshold, url);
    floods.push(f);
  }
  console.log(
    `forged keys: ${FORGED_CONNECTIONS} connections, a new invented key per request, + quiet 1, ${FORGED_MS / 1000} s ...`,
  );
  const forgery = await forgedFlood(url);

  // ---------------------------------------------------------------------------------------------
  const [first] = floods;
  const last = floods.at(-1);
  const violations = new Map();
  for (const t of [alone, ...floods.flatMap((f) => [...Object.values(f.tallies), f.quiet])]) {
    for (const [k, v] of t.violations) violations.set(k, (violations.get(k) ?? 0) + v);
  }
  const requests =
    alone.sent +
    floods.reduce((a, f) => a + Object.values(f.tallies).reduce((b, t) => b + t.sent, 0) + f.quiet.sent, 0);
  const quietDuring = tally();
  for (const f of floods) {
    quietDuring.latencies.push(...f.quiet.latencies);
    quietDuring.sent += f.quiet.sent;
    quietDuring.limited += f.quiet.limited;
  }
  const aloneP95 = percentile(alone.latencies, 95);
  const duringP95 = percentile(quietDuring.latencies, 95);
  const quietBound = Math.max(QUIET_P95_FACTOR * aloneP95, QUIET_P95_FLOOR_MS);
  // All of them, not only those in the settle periods: each one is also a "crash" line.
  const recycles = recycleLines(server).length - recyclesBefore;
  // A recycle kills the runtime on purpose, and miniflare reports that as a crash too.
  const runtimeCrashes = server.crashes - crashesBefore - recycles;
  /** The memory a flood left behind: what the supervisor saw before recycling, else what stayed. */
  const leftBehind = (f) => f.memory.recycledAtMb ?? f.memory.runtime;
  const mb = (n) => `${fmt(n, 0)} MB`;
  const heap = (h) => (h ? `${fmt(h.usedMb, 1)} MB used of ${fmt(h.totalMb, 1)}` : "n/a");

  const tenantRows = (f, label) => [
    ...FLOODERS.map((x) => {
      const t = f.tallies[x.tenant];
      return [
        `${label}: ${x.tenant}${x.honoursRetryAfter ? "" : " (ignores Retry-After)"}`,
        x.connections,
        t.sent,
        t.ok,
        t.limited,
        t.sent - t.ok - t.limited,
        fmt(percentile(t.latencies, 50)),
        fmt(percentile(t.latencies, 95)),
        fmt(percentile(t.latencies, 99)),
        fmt((t.ok / f.wallMs) * 1000, 1),
      ];
    }),
    [
      `${label}: ${QUIET}`,
      1,
      f.quiet.sent,
      f.quiet.ok,
      f.quiet.limited,
      f.quiet.sent - f.quiet.ok - f.quiet.limited,
      fmt(percentile(f.quiet.latencies, 50)),
      fmt(percentile(f.quiet.latencies, 95)),
      fmt(percentile(f.quiet.latencies, 99)),
      fmt((f.quiet.ok / f.wallMs) * 1000, 1),
    ],
  ];
  const rows = [
    ["tenant", "connections", "requests", "200", "429", "other", "p50 ms", "p95 ms", "p99 ms", "200/s"],
    [
      `alone: ${QUIET}`,
      1,
      alone.sent,
      alone.ok,
      alone.limited,
      alone.sent - alone.ok - alone.limited,
      fmt(percentile(alone.latencies, 50)),
      fmt(aloneP95),
      fmt(percentile(alone.latencies, 99)),
      "",
    ],
    ...floods.flatMap((f, i) => tenantRows(f, `flood ${i + 1}`)),
  ];
  const memoryRows = [
    ["when", "runtime workerd RSS", "wrangler proxy workerd RSS", "loader isolate JS heap after GC"],
    ["baseline (after warm-up)", mb(baseline.runtime), mb(baseline.proxy), heap(baseline.heap)],
    ...floods.flatMap((f, i) => [
      [`flood ${i + 1}: peak`, mb(f.runtimePeakMb), "", ""],
      ...(f.memory.recycledAtMb === undefined
        ? []
        : [[`flood ${i + 1}: idle, when recycled`, mb(f.memory.recycledAtMb), "", ""]]),
      [
        `flood ${i + 1}: ${fmt(f.memory.afterMs / 1000, 0)} s after`,
        mb(f.memory.runtime),
        mb(f.memory.proxy),
        heap(f.memory.heap),
      ],
    ]),
  ];
  const cpuKinds = Object.keys(first.cpu).sort((a, b) => first.cpu[b] - first.cpu[a]);
  const cpuRows = [
    ["process", ...floods.map((_, i) => `CPU s in flood ${i + 1}`)],
    ...cpuKinds.map((k) => [k, ...floods.map((f) => fmt(f.cpu[k] ?? 0, 1))]),
  ];

  const checks = [
    {
      what: `every answer is 200 or 429 with Retry-After (${requests} requests)`,
      ok: violations.size === 0,
      detail: violations.size ? [...violations].map(([k, v]) => `${v}× ${k}`).join("; ") : "0 other answers",
    },
    {
      what: "the quiet tenant is never rate-limited",
      ok: quietDuring.limited === 0 && alone.limited === 0,
      detail: `${quietDuring.limited + alone.limited} × 429`,
    },
    {
      what: `quiet p95 during the floods ≤ max(${QUIET_P95_FACTOR} × alone, ${QUIET_P95_FLOOR_MS} ms)`,
      ok: quietDuring.sent > 0 && duringP95 <= quietBound,
      detail: `${fmt(duringP95)} ms during (${quietDuring.sent} requests) vs. ${fmt(aloneP95)} ms alone: ${fmt(duringP95 / aloneP95, 0)}×, bound ${fmt(quietBound, 0)} ms`,
    },
    {
      what: `invented keys (${FORGED_CONNECTIONS} connections, a new one per request) get 401 or 429 and nothing else`,
      ok: forgery.forged.violations.size === 0 && forgery.quiet.violations.size === 0 && forgery.quiet.limited === 0,
      detail: `${forgery.forged.sent} requests: ${forgery.forged.unauthorized} × 401, ${forgery.forged.limited} × 429${[...forgery.forged.violations].map(([k, v]) => `, ${v}× ${k}`).join("")}`,
    },
    {
      what: `quiet p95 during the invented-key flood ≤ max(${QUIET_P95_FACTOR} × alone, ${QUIET_P95_FLOOR_MS} ms)`,
      ok: forgery.quiet.sent > 0 && percentile(forgery.quiet.latencies, 95) <= quietBound,
      detail: `${fmt(percentile(forgery.quiet.latencies, 95))} ms (${forgery.quiet.sent} requests, p50 ${fmt(percentile(forgery.quiet.latencies, 50))} ms)`,
    },
    {
      what: "every well-behaved tenant gets executions through",
      ok: floods.every((f) => FLOODERS.filter((x) => x.honoursRetryAfter).every((x) => f.tallies[x.tenant].ok > 0)),
      detail: floods
        .map((f, i) => `flood ${i + 1}: ${FLOODERS.map((x) => `${x.tenant} ${f.tallies[x.tenant].ok}`).join(", ")}`)
        .join("; "),
    },
    {
      what: "the runtime never crashed, and the supervisor restarted it only to recycle it while idle",
      ok: runtimeCrashes === 0 && supervisorEvents.length === 0,
      detail: `${runtimeCrashes} crashes; ${recycles} idle recycle(s); ${supervisorEvents.length ? supervisorEvents.join(" | ") : "no other supervisor events"}`,
    },
    {
      what: "the loader answers right after each settle (recycled or not)",
      ok: floods.every((f) => f.memory.after === "ok"),
      detail: floods.map((f, i) => `flood ${i + 1}: ${f.memory.after}`).join("; "),
    },
    {
      what: `the loader's runtime RSS is back within ${RSS_SLACK.ratio * 100} % + ${RSS_SLACK.mb} MB of its baseline ≤ ${SETTLE_MAX_MS / 1000} s after each flood`,
      ok: floods.every((f) => f.memory.runtime <= threshold),
      detail: `baseline ${mb(baseline.runtime)}, threshold ${mb(threshold)}, after ${floods.map((f, i) => `flood ${i + 1}: ${mb(f.memory.runtime)}`).join(", ")}`,
    },
  ];

  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), load average at end ${os.loadavg()[0].toFixed(2)}`;
  console.log(
    [
      "",
      ...floods.map((f, i) => {
        const sent = Object.values(f.tallies).reduce((a, t) => a + t.sent, 0) + f.quiet.sent;
        return `flood ${i + 1}: ${sent} requests in ${fmt(f.wallMs / 1000, 1)} s = ${fmt((sent / f.wallMs) * 1000, 0)} answers/s over ${f.totalConnections + 1} connections`;
      }),
      "",
      textTable(rows),
      "",
      textTable(memoryRows),
      `growth from flood 1 to flood ${floods.length} (a leak grows, a high-water mark does not): runtime ${fmt(leftBehind(last) - leftBehind(first), 0)} MB (before any recycle), proxy ${fmt(last.memory.proxy - first.memory.proxy, 0)} MB`,
      "",
      textTable(cpuRows),
      "",
      ...checks.map((c) => `${c.ok ? "PASS" : "FAIL"}  ${c.what}: ${c.detail}`),
      "",
      `machine: ${machine}`,
    ].join("\n"),
  );
  const failed = checks.filter((c) => !c.ok).length;
  console.log(failed ? `\n${failed} assertion(s) failed` : "\nall assertions passed");
  return failed ? 1 : 0;
}

process.exit(await runBounded(main, DEADLINE_MS, "load"));
