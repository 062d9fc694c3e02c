// In-isolate A/B of fuel check shapes (`sh scripts/bootstrap.sh node bench/metering-shapes.mjs`).
//
// `npm run bench` d. compares two loaders, so each side's figure is one isolate's JIT outcome:
// the tight loop's `s = (s + i * 31) | 0` lands either in int32 code (~3 ms for 5·10^6) or in
// float64 code (~27 ms) depending on the add's type feedback when V8 optimizes it, on either side
// and whether metered or not. Here one program on a loader started with DWL_CPU_ENFORCEMENT=platform
// (nothing inserted) holds the same functions written unmetered and with each hand-inserted check
// shape, each with its own counter, and times them alternately in the same isolate
// (performance.now, whole ms locally); every round is a new program, so a new isolate and new
// JIT luck. Prints min/median per shape and round: compare shapes within a round.
import { installExitHandlers, startWrangler, stopServer, waitReady } from "./lib/procs.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 4);
const REPS = Number(process.env.REPS ?? 8);
const fibBody = "return n < 2 ? n : fib_K(n - 1) + fib_K(n - 2);";
const loopBody = "s = (s + i * 31) | 0;";
const refuel = "globalThis.__dwlRefuel";
/** name → [declarations, check, fib's body if not fibBody]; `F_K`, `fib_K` get the shape's index. */
const SHAPES = {
  unmetered: ["", ""],
  "number in the module (before)": [`var F_K = 0, R_K = ${refuel};`, "(--F_K < 0 && (F_K = R_K()));"],
  "field of a module object": [`var F_K = { f: 0 }, R_K = ${refuel};`, "(--F_K.f < 0 && (F_K.f = R_K(F_K)));"],
  "same, early-call guard": [
    `var F_K = { f: 0 }, R_K = ${refuel};function I_K() { R_K = ${refuel}; return F_K = { f: 0 }; }`,
    "(--(F_K ?? I_K()).f < 0 && (F_K.f = R_K(F_K)));",
  ],
  // bundle/direct-calls.ts: fib is only called by name, so no check at its entry; the path
  // that calls pays for both calls (the leaves, half of fib's calls, run no check).
  "field, calls pay (now)": [
    `var F_K = { f: 0 }, R_K = ${refuel};`,
    "(--F_K.f < 0 && (F_K.f = R_K(F_K)));",
    "return n < 2 ? n : (((F_K.f -= 2) < 0 && (F_K.f = R_K(F_K))), fib_K(n - 1) + fib_K(n - 2));",
  ],
};

function program(tag) {
  const names = Object.keys(SHAPES);
  let code = "";
  names.forEach((name, k) => {
    const [declarations, check, paidFib] = SHAPES[name].map((t) => t.replaceAll("_K", `_${k}`));
    const fib = paidFib ?? `${check} ${fibBody.replaceAll("_K", `_${k}`)}`;
    code += `${declarations}\nfunction fib_${k}(n) {${fib} }\n`;
    code += `const loop_${k} = (n) => {${check} let s = 0; for (let i = 0; i < n; i++) {${check}${loopBody}} return s; };\n`;
  });
  code += `const fibs = [${names.map((_, k) => `fib_${k}`)}], loops = [${names.map((_, k) => `loop_${k}`)}];
let sink = 0;
const stat = (a) => { const s = a.slice().sort((x, y) => x - y); return [s[0], s[s.length >> 1]]; };
export default (reps) => {
  const tf = fibs.map(() => []), tl = fibs.map(() => []);
  for (let r = 0; r < reps; r++) for (let k = 0; k < fibs.length; k++) {
    let t0 = performance.now(); sink += fibs[k](32); tf[k].push(performance.now() - t0);
    t0 = performance.now(); sink += loops[k](5e6); tl[k].push(performance.now() - t0);
  }
  return fibs.map((_, k) => ({ fib: stat(tf[k]), loop: stat(tl[k]) }));
}; // ${tag}
`;
  return code;
}

installExitHandlers();
const loader = await startWrangler("loader-platform", [
  "--var",
  "DWL_MODE:local",
  "--var",
  "DWL_CPU_ENFORCEMENT:platform",
]);
await waitReady(loader);
console.log(`shapes: ${ROUNDS} rounds (a new isolate each) × ${REPS} runs of fib(32) and a 5·10^6 loop, min/median ms`);
for (let round = 0; round < ROUNDS; round++) {
  const res = await fetch(`${loader.url}/execute`, {
    method: "POST",
    headers: { authorization: "Bearer dwl_local_dev", "content-type": "application/json" },
    body: JSON.stringify({
      code: program(`${Date.now()} ${round}`),
      input: REPS,
      limits: { cpuMs: 30_000, timeoutMs: 30_000 },
    }),
  });
  const json = await res.json();
  if (!json.ok) throw new Error(JSON.stringify(json).slice(0, 1000));
  const unmetered = json.result[0];
  console.log(`round ${round}:`);
  Object.keys(SHAPES).forEach((name, k) => {
    const { fib, loop } = json.result[k];
    const pct = (a, b) => (k === 0 ? "" : ` (${a > b ? "+" : ""}${(((a - b) / b) * 100).toFixed(0)} %)`);
    console.log(
      `  ${name.padEnd(32)} fib ${fib.join("/")}${pct(fib[1], unmetered.fib[1])}  loop ${loop.join("/")}${pct(loop[1], unmetered.loop[1])}`,
    );
  });
}
await stopServer(loader.server);
process.exit(0);
