/**
 * @module routes/execute
 * POST /execute: validate → execute → JSON. HTTP 200 whenever the program ran (even if it
 * failed); 4xx only for a request that could not be run at all.
 */
import { ExecuteRequestSchema } from "@dwl/protocol";
import { Hono } from "hono";
import { DwlHttpError } from "../errors.ts";
import { executeProgram } from "../execute.ts";
import { admitted } from "../fairness/admit.ts";
import { MAX_INPUT_DEPTH, REQUEST_OVERHEAD_BYTES } from "../limits.ts";
import type { AppEnv } from "../app-env.ts";
import { sourceBytes } from "../program-source.ts";
import { parseJson, readBodyText, validate } from "../validate.ts";

export const executeRoute = new Hono<AppEnv>().post("/", async (c) => {
  const server = c.get("server");
  const text = await readBodyText(c.req.raw, server.maxCodeBytes * 2 + server.maxInputBytes + REQUEST_OVERHEAD_BYTES);
  const body = validate(ExecuteRequestSchema, parseJson(text));

  const codeBytes = sourceBytes(body);
  if (codeBytes > server.maxCodeBytes) {
    const field = body.code !== undefined ? "code" : "files";
    throw new DwlHttpError(413, "payload_too_large", `\`${field}\` is ${codeBytes} bytes, over the ${server.maxCodeBytes}-byte limit`, [
      { path: [field], message: `at most ${server.maxCodeBytes} bytes`, code: "too_big" },
    ]);
  }
  if (body.input !== undefined && jsonDepth(body.input, MAX_INPUT_DEPTH) > MAX_INPUT_DEPTH) {
    throw new DwlHttpError(400, "invalid_request", `\`input\` is nested more than ${MAX_INPUT_DEPTH} levels deep`, [
      { path: ["input"], message: `at most ${MAX_INPUT_DEPTH} levels of nesting`, code: "too_deep" },
    ]);
  }
  if (body.input !== undefined) {
    const inputBytes = new TextEncoder().encode(JSON.stringify(body.input)).byteLength;
    if (inputBytes > server.maxInputBytes) {
      throw new DwlHttpError(413, "payload_too_large", `\`input\` is ${inputBytes} bytes of JSON, over the ${server.maxInputBytes}-byte limit`, [
        { path: ["input"], message: `at most ${server.maxInputBytes} bytes`, code: "too_big" },
      ]);
    }
  }

  const json = await admitted(c.env, c.get("tenant"), server, () => executeProgram(body, { env: c.env, tenant: c.get("tenant"), server }), (p) => c.executionCtx.waitUntil(p));
  return c.body(json, 200, { "content-type": "application/json; charset=utf-8" });
});

/** Nesting depth of a JSON value, walked without recursion; stops counting past `limit`. */
function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== "object") continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}
