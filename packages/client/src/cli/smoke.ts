/**
 * @module cli/smoke
 * `dwl smoke`: is a loader (local or deployed) working end to end? Three checks with one key: an
 * execution, a sandbox created, called over HTTP and deleted, and MCP `tools/list`. Each check's
 * failure is a value, so one broken route does not hide how the others fare.
 */
import type { DwlClient } from "../client.ts";
import { DwlRequestError } from "../errors.ts";

export interface SmokeCheck {
  name: "execute" | "sandbox" | "mcp";
  ok: boolean;
  ms: number;
  /** What was seen (on success) or what went wrong. */
  detail: string;
}

const PROGRAM = 'export default (input: { n: number }) => {\n  console.log("smoke");\n  return input.n * 2;\n};';
const SANDBOX = 'export default { fetch: (req: Request) => new Response("smoke " + new URL(req.url).pathname) };';

/** Thrown inside a check when the answer is not the expected one. */
class Unexpected extends Error {}

async function timed(name: SmokeCheck["name"], check: () => Promise<string>): Promise<SmokeCheck> {
  const started = performance.now();
  try {
    const detail = await check();
    return { name, ok: true, ms: Math.round(performance.now() - started), detail };
  } catch (err) {
    const detail =
      err instanceof DwlRequestError
        ? `${err.type} (${err.status || "no answer"}): ${err.message}`
        : err instanceof Unexpected
          ? err.message
          : String(err);
    return { name, ok: false, ms: Math.round(performance.now() - started), detail };
  }
}

/** Runs the three checks one after the other (a fresh deploy should not meet a burst). */
export async function smoke(client: DwlClient, signal?: AbortSignal): Promise<SmokeCheck[]> {
  const options = signal ? { signal } : {};
  const checks: SmokeCheck[] = [];
  checks.push(
    await timed("execute", async () => {
      const run = await client.execute({ code: PROGRAM, input: { n: 21 } }, options);
      if (!run.ok) throw new Unexpected(`the program failed: ${run.error.type}: ${run.error.message}`);
      if (run.result !== 42 || run.logs[0]?.message !== "smoke")
        throw new Unexpected(`unexpected answer: ${JSON.stringify({ result: run.result, logs: run.logs })}`);
      return `POST /execute → 42 (run ${run.timing.runMs} ms)`;
    }),
  );
  checks.push(
    await timed("sandbox", async () => {
      const info = await client.sandboxes.create({ code: SANDBOX, name: "dwl-smoke" }, options);
      try {
        const response = await client.sandboxes.fetch(info.id, "/ping", options);
        const text = await response.text();
        if (response.status !== 200 || text !== "smoke /ping")
          throw new Unexpected(
            `GET /sandboxes/${info.id}/http/ping answered ${response.status}: ${text.slice(0, 200)}`,
          );
      } finally {
        await client.sandboxes.delete(info.id, options);
      }
      return `POST /sandboxes → GET ${new URL(info.url).pathname.replace(/\/$/, "")}/ping → DELETE`;
    }),
  );
  checks.push(
    await timed("mcp", async () => {
      const { tools } = (await client.mcp("tools/list", undefined, options)) as { tools?: { name?: unknown }[] };
      const names = (tools ?? []).map((t) => String(t.name));
      if (!names.includes("search") || !names.includes("execute"))
        throw new Unexpected(`tools/list answered ${JSON.stringify(names)}, expected search and execute`);
      return `POST /mcp tools/list → ${names.join(", ")}`;
    }),
  );
  return checks;
}
