/**
 * @module harness
 * The main module of every child isolate, bundled by apps/loader/build-harness.mjs into the one
 * text module the loader ships (harness.min.child.js, loaded as `harness.js`). It is evaluated
 * before the user's program, which it imports lazily, inside a run (program.ts), so it captures
 * the intrinsics it relies on (intrinsics.ts, imported first) before user code can replace them,
 * then installs its hooks, in this order. One isolate may serve several runs at once (a warm,
 * content-addressed isolate): everything per run lives in an AsyncLocalStorage store
 * (state.ts), never in module state.
 */
import "./intrinsics.ts";
import { installConsole } from "./console.ts";
import { installRefuel } from "./fuel.ts";
import { installNetwork } from "./network.ts";
import { installOrphanPayers } from "./orphans.ts";
import { installRejectionReport } from "./rejections.ts";
import { installWaits } from "./waits.ts";

installOrphanPayers();
installRefuel();
installConsole();
installNetwork();
installWaits();
installRejectionReport();

export { default, Run } from "./entrypoint.ts";
