/**
 * @module routes/execute
 * POST /execute: read → the request check → admission → the run (run/pipeline.ts) → JSON. HTTP
 * 200 whenever the program ran (even if it failed); 4xx only for a request that could not be run.
 */
import { ExecuteRequestSchema } from "@dwl/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { admitted } from "../fairness/admit.ts";
import { executeProgram } from "../run/pipeline.ts";
import { checkProgramRequest, readProgramRequest } from "../run/request-check.ts";
import { replyJson } from "../run/respond.ts";

export const executeRoute = new Hono<AppEnv>().post("/", async (c) => {
  const context = { env: c.env, tenant: c.get("tenant"), server: c.get("server") };
  const body = await readProgramRequest(c.req.raw, ExecuteRequestSchema, context.server);
  // Refused requests are answered before they wait for a turn.
  const checked = await checkProgramRequest(body, context);
  const reply = await admitted(c.env, context.tenant, context.server, () => executeProgram(body, context, checked), {
    waitUntil: (p) => c.executionCtx.waitUntil(p),
    timeoutMs: checked.limits.timeoutMs,
  });
  return c.body(replyJson(reply), 200, { "content-type": "application/json; charset=utf-8" });
});
