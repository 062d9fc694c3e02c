// Issue 21's table ("Bundling at the speed of an isolate start"): its seven rows, their figures
// when the issue was filed and their goals, shared by bench/run.mjs (rows 1–3, 6, 7) and
// bench/npm.mjs (rows 4, 5). `npm run bench` runs both in one shell (`sh -c 'node bench/run.mjs &&
// node bench/npm.mjs && …'`): run.mjs leaves its rows in HANDOFF_FILE stamped with that shell's
// pid, and npm.mjs, seeing the same parent pid, prints and writes all seven rows together.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fmt, markdownTable, textTable, verdict } from "./stats.mjs";

/** Where run.mjs leaves its rows for npm.mjs (not committed: .dwl/ is ignored). */
export const HANDOFF_DIR = new URL("../../.dwl/", import.meta.url);
const HANDOFF_FILE = new URL("bench-issue21.json", HANDOFF_DIR);

/**
 * The rows, in the issue's order: what is measured, the figure when the issue was filed, the goal
 * (`atMost`/`atLeast` on `value`) and how `value` is shown.
 */
export const ISSUE21_ROWS = [
  {
    key: "tsMiss",
    measure: "3-file TS program, bundle-cache miss, timing.bundleMs p50",
    before: "22–31 ms",
    atMost: 10,
    show: (v) => `${fmt(v, 0)} ms`,
  },
  {
    key: "tsLatency",
    measure: "same, client latency p50 at c=1 ÷ raw LOADER.load",
    before: "4.9× (31.3 vs 6.4 ms)",
    atMost: 1.5,
    show: (v, r) => `${fmt(v)}× (${fmt(r.loader, 1)} vs ${fmt(r.raw, 1)} ms)`,
  },
  {
    key: "tsThroughput",
    measure: "TS bundle-miss throughput c=100, ÷ raw LOADER.load",
    before: "0.46× (104 req/s)",
    atLeast: 0.8,
    show: (v, r) => `${fmt(v)}× (${fmt(r.loader, 0)} vs ${fmt(r.raw, 0)} req/s)`,
  },
  {
    key: "honoWarm",
    measure: "new program importing Hono, packages cached, bundleMs p50 (settled)",
    before: "86 ms",
    atMost: 25,
    show: (v) => `${fmt(v, 0)} ms`,
  },
  {
    key: "honoCold",
    measure: "same, cold package caches, loopback registry, bundleMs (median of fresh loaders)",
    before: "511 ms",
    atMost: 250,
    show: (v, r) => `${fmt(v, 0)} ms${r.samples ? ` (${r.samples.join(", ")})` : ""}`,
  },
  {
    key: "fib",
    measure: "metering overhead, recursive fib(32), runMs p50",
    before: "+23 %",
    atMost: 10,
    show: pct,
  },
  {
    key: "loop",
    measure: "metering overhead, tight integer loop, runMs p50",
    before: "+200 % (6 vs 2 ms)",
    atMost: 50,
    show: (v, r) => `${pct(v)} (${fmt(r.metered, 0)} vs ${fmt(r.unmetered, 0)} ms)`,
  },
];

function pct(n) {
  return Number.isFinite(n) ? `${n >= 0 ? "+" : ""}${n.toFixed(1)} %` : "n/a";
}

/**
 * The table for the rows measured: `measured` maps a row's key to `{ value, command, … }` (the
 * other fields are for `show`). Rows not measured in this run say so.
 */
export function issue21Table(measured) {
  const rows = [["issue 21 row", "when filed", "now", "goal", "", "command"]];
  for (const row of ISSUE21_ROWS) {
    const m = measured[row.key];
    if (!m) {
      rows.push([row.measure, row.before, "not measured in this run", goalText(row), "", ""]);
      continue;
    }
    const met = row.atMost !== undefined ? m.value <= row.atMost : m.value >= row.atLeast;
    rows.push([row.measure, row.before, row.show(m.value, m), goalText(row), verdict(met), m.command]);
  }
  return { text: textTable(rows), markdown: markdownTable(rows) };
}

function goalText(row) {
  if (row.key === "tsLatency") return `≤ ${row.atMost}×`;
  if (row.key === "tsThroughput") return `≥ ${row.atLeast}×`;
  if (row.key === "fib" || row.key === "loop") return `≤ +${row.atMost} %`;
  return `≤ ${row.atMost} ms`;
}

/** run.mjs: leaves its rows for the npm.mjs of the same `npm run bench`. */
export function handOff(measured) {
  if (!existsSync(HANDOFF_DIR)) mkdirSync(HANDOFF_DIR, { recursive: true });
  writeFileSync(HANDOFF_FILE, JSON.stringify({ ppid: process.ppid, at: Date.now(), measured }));
}

/** npm.mjs: run.mjs's rows when it ran in the same `npm run bench` (same parent shell), else {}. */
export function takeHandOff() {
  try {
    const { ppid, measured } = JSON.parse(readFileSync(HANDOFF_FILE, "utf8"));
    return ppid === process.ppid ? measured : {};
  } catch {
    return {};
  }
}
