/** Drives the loader exactly as a client does: whole HTTP requests through its fetch handler. */
import {
  ExecuteResponseSchema,
  RequestErrorBodySchema,
  type ExecuteRequest,
  type ExecuteResponse,
  type RequestErrorBody,
} from "@dwl/protocol";
import { exports } from "cloudflare:workers";

export const DEV_KEY = "dwl_local_dev";
/** A second tenant configured in vitest.config.ts (DWL_API_KEYS). */
export const OTHER_TENANT_KEY = "dwl_test_other_tenant";

export function call(path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const key = init.key === undefined ? DEV_KEY : init.key;
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  return exports.default.fetch(new Request(`http://loader.test${path}`, { ...init, headers }));
}

/** POST /execute and validate the response against the protocol schema. */
export async function execute(body: ExecuteRequest | Record<string, unknown>, key?: string): Promise<ExecuteResponse> {
  const res = await call("/execute", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    key,
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${JSON.stringify(json)}`);
  return ExecuteResponseSchema.parse(json);
}

/** POST /execute expecting a request error; returns status and parsed error body. */
export async function executeRejected(
  body: string | object,
  key?: string | null,
): Promise<{ status: number; body: RequestErrorBody }> {
  const res = await call("/execute", {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    key,
  });
  return { status: res.status, body: RequestErrorBodySchema.parse(await res.json()) };
}

/**
 * Runs one trivial program, for a beforeAll of tests that time runs: the first request of a test
 * runtime starts the loader and its first child, which is not what they measure.
 */
export async function warmUp(): Promise<void> {
  expectOk(await execute({ code: "export default () => 1" }));
}

/**
 * Runs a program once, whatever its answer, so that its next runs share one warm isolate: a
 * program's first run gets a one-off isolate (sandbox/load.ts openChild).
 */
export async function warmIsolateFor(body: ExecuteRequest | Record<string, unknown>, key?: string): Promise<void> {
  await execute(body, key);
}

export function expectOk(res: ExecuteResponse): Extract<ExecuteResponse, { ok: true }> {
  if (!res.ok) throw new Error(`expected ok, got ${JSON.stringify(res.error)}; logs ${JSON.stringify(res.logs)}`);
  return res;
}

export function expectFailure(res: ExecuteResponse): Extract<ExecuteResponse, { ok: false }> {
  if (res.ok) throw new Error(`expected a failure, got result ${JSON.stringify(res.result)}`);
  return res;
}
