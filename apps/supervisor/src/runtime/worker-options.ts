/**
 * @module runtime/worker-options
 * Prints, as JSON, the miniflare options wrangler derives from wrangler.toml (bindings, KV, R2,
 * Durable Objects, the Worker Loader, compatibility settings). Run as its own short-lived
 * process by build.ts: wrangler's programmatic API is a large module, and loading it into the
 * long-running supervisor would keep ~250 MB resident for one read of a config file.
 */
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const [configPath] = process.argv.slice(2);
if (!configPath) throw new Error("usage: worker-options.ts <wrangler.toml>");
const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
// Module rules describe wrangler's own bundling; the supervisor passes the built modules instead.
const { modulesRules: _rules, ...options } = workerOptions as typeof workerOptions & { modulesRules?: unknown };
process.stdout.write(JSON.stringify(options));
