/**
 * vitest setupFiles of the workerd projects. A runtime's first request evaluates the loader's
 * main module: ~4 s on a quiet machine, past the 30 s test timeout at load 7-9 (the first test
 * of tenant-gate.test.ts, whose first Durable Object call paid it). Here it is paid under the
 * hook timeout, before a file's first test; later files of a shared runtime pay one /healthz.
 */
import { exports } from "cloudflare:workers";
import { beforeAll } from "vitest";

beforeAll(async () => {
  const res = await exports.default.fetch(new Request("http://loader.test/healthz"));
  await res.arrayBuffer();
});
