/**
 * Issue 11, faults: esbuild-wasm fails to initialise. A program that needs the bundler gets a
 * clear 500 `internal` (no cause, no stack of the loader), the failure is forgotten so the next
 * request retries, and programs that skip the bundler keep running meanwhile.
 */
import { RequestErrorBodySchema } from "@dwl/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BUNDLER_UNAVAILABLE_MESSAGE, failNextEsbuildInitialisation } from "../../src/bundle/esbuild.ts";
import { call, execute, expectOk } from "../helpers.ts";

const CAUSE = "wasm-init-cause-that-must-stay-inside";
/**
 * A fresh program that only esbuild builds (a decorator), so the bundle cache never answers for
 * esbuild; TypeScript alone takes the per-file path (bundle/modules.ts).
 */
const needsBundler = () =>
  `const n: number = 21; // ${crypto.randomUUID()}\nconst keep = <T,>(c: T): T => c;\n@keep class C {}\nexport default (): number => n * 2;`;

async function expectBundlerUnavailable(response: Response): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(500);
  expect(RequestErrorBodySchema.parse(JSON.parse(text))).toEqual({
    error: { type: "internal", message: BUNDLER_UNAVAILABLE_MESSAGE },
  });
  expect(text).not.toContain(CAUSE);
}

const post = (path: string, body: object) => call(path, { method: "POST", body: JSON.stringify(body) });

describe("esbuild initialisation failure", () => {
  let logged: string[];
  beforeEach(() => {
    logged = [];
    vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(" ")));
  });
  afterEach(() => vi.restoreAllMocks());

  it("answers a program that needs the bundler with a clear error, then retries and succeeds", async () => {
    failNextEsbuildInitialisation(new Error(CAUSE));
    await expectBundlerUnavailable(await post("/execute", { code: needsBundler() }));
    // The cause is for the operator: in the loader's log, not in the response.
    expect(logged.some((line) => line.includes(CAUSE))).toBe(true);
    expect(expectOk(await execute({ code: needsBundler() })).result).toBe(42);
  });

  it("keeps running plain JavaScript and TypeScript without packages while the bundler is down", async () => {
    failNextEsbuildInitialisation(new Error(CAUSE));
    // Neither the direct path nor the per-file path starts esbuild: the injected failure is still pending afterwards.
    expect(expectOk(await execute({ code: "export default (input) => input * 2", input: 21 })).result).toBe(42);
    expect(expectOk(await execute({ code: "async (input) => input + 1", input: 1 })).result).toBe(2);
    const files = {
      "index.ts": `import { two } from "./two.ts";\nexport default (n: number): number => n * two;`,
      "two.ts": "export const two: number = 2;",
    };
    expect(expectOk(await execute({ files, input: 21 })).result).toBe(42);
    await expectBundlerUnavailable(await post("/execute", { code: needsBundler() }));
    expect(expectOk(await execute({ code: needsBundler() })).result).toBe(42);
  });

  it("refuses a sandbox that needs the bundler and stores nothing for it", async () => {
    const before = await sandboxIds();
    failNextEsbuildInitialisation(new Error(CAUSE));
    await expectBundlerUnavailable(await post("/sandboxes", { code: needsBundler() }));
    expect(await sandboxIds()).toEqual(before);
    expect((await post("/sandboxes", { code: needsBundler() })).status).toBe(201);
  });
});

async function sandboxIds(): Promise<string[]> {
  const body = (await (await call("/sandboxes")).json()) as { sandboxes: { id: string }[] };
  return body.sandboxes.map((s) => s.id);
}
