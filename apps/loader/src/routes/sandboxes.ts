/**
 * @module routes/sandboxes
 * Persistent sandboxes over HTTP (docs/api.md, "Sandboxes"). Another tenant's id answers 404, never
 * 403: existence does not leak.
 */
import { SandboxDefinitionSchema, SandboxExecuteSchema, type SandboxInfo, SandboxUpdateSchema } from "@dwl/protocol";
import { Hono, type Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { DwlHttpError } from "../errors.ts";
import { admitted } from "../fairness/admit.ts";
import { publicOrigin } from "../public-origin.ts";
import { rawPath, rawPathAndQuery } from "../raw-path.ts";
import type { ExecutionContext } from "../run/context.ts";
import { readProgramRequest } from "../run/request-check.ts";
import { replyJson } from "../run/respond.ts";
import {
  createSandbox,
  deleteSandbox,
  executeSandbox,
  getSandbox,
  listSandboxes,
  sandboxInfo,
  sandboxLogs,
  serveSandboxHttp,
  updateSandbox,
} from "../sandboxes/service.ts";
import { clampLimits, MAX_SANDBOX_PAGE } from "../limits.ts";
import { tellDefinedSandbox, tellRunBudget } from "../supervision/run-budget.ts";

function contextOf(c: Context<AppEnv>): ExecutionContext {
  return { env: c.env, tenant: c.get("tenant"), server: c.get("server") };
}

const originOf = (c: Context<AppEnv>) => publicOrigin(c.env, c.req.url);
const waitUntilOf = (c: Context<AppEnv>) => (p: Promise<unknown>) =>
  c.executionCtx.waitUntil(p.catch((err) => console.error("dwl: sandbox log append failed", err)));

/**
 * What follows `/sandboxes/:id/http` in the URL as the client sent it, query included: the path
 * the program sees. Taken from the raw URL by segments, since the parsed pathname has resolved
 * `%2e%2e` segments (and so may no longer start with the prefix) and the id may be encoded.
 */
export function programPath(url: string): string {
  const path = rawPath(url);
  return `/${path.split("/").slice(4).join("/")}${rawPathAndQuery(url).slice(path.length)}`;
}

/** The answer to a request that defined a sandbox, telling the supervisor its runs' budget. */
function defined(c: Context<AppEnv>, info: SandboxInfo, status: 200 | 201): Response {
  const response = c.json(info, status);
  tellDefinedSandbox(response.headers, info.id, clampLimits(info.limits, c.get("server")).cpuMs, c.env);
  return response;
}

const definitionOf = (c: Context<AppEnv>) => readProgramRequest(c.req.raw, SandboxDefinitionSchema, c.get("server"));

export const sandboxesRoute = new Hono<AppEnv>()
  .post("/", async (c) => defined(c, await createSandbox(await definitionOf(c), contextOf(c), originOf(c)), 201))
  .get("/", async (c) => {
    const limit = Number(c.req.query("limit") ?? MAX_SANDBOX_PAGE);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SANDBOX_PAGE) {
      throw DwlHttpError.of("invalid_request", `limit must be an integer from 1 to ${MAX_SANDBOX_PAGE}`, [
        { path: ["limit"], message: "out of range" },
      ]);
    }
    const page = await listSandboxes(contextOf(c), limit, c.req.query("cursor") || undefined);
    return c.json({
      sandboxes: page.records.map((r) => sandboxInfo(r, originOf(c))),
      ...(page.cursor ? { cursor: page.cursor } : {}),
    });
  })
  .get("/:id", async (c) => c.json(sandboxInfo(await getSandbox(c.req.param("id"), contextOf(c)), originOf(c))))
  .put("/:id", async (c) =>
    defined(
      c,
      await updateSandbox(
        c.req.param("id"),
        await readProgramRequest(c.req.raw, SandboxUpdateSchema, c.get("server")),
        contextOf(c),
        originOf(c),
      ),
      200,
    ),
  )
  .delete("/:id", async (c) => {
    await deleteSandbox(c.req.param("id"), contextOf(c));
    return c.body(null, 204);
  })
  .get("/:id/logs", async (c) => c.json({ entries: await sandboxLogs(c.req.param("id"), contextOf(c)) }))
  .post("/:id/execute", async (c) => {
    const server = c.get("server");
    const body = await readProgramRequest(c.req.raw, SandboxExecuteSchema, server, "{}");
    const reply = await admitted(
      c.env,
      c.get("tenant"),
      server,
      () => executeSandbox(c.req.param("id"), body.input, contextOf(c), waitUntilOf(c)),
      { waitUntil: waitUntilOf(c) },
    );
    const response = c.body(replyJson(reply), 200, { "content-type": "application/json; charset=utf-8" });
    tellRunBudget(response.headers, reply.limits.cpuMs, c.env);
    return response;
  })
  .all("/:id/http/*", async (c) => {
    const id = c.req.param("id");
    const path = programPath(c.req.url);
    return admitted(
      c.env,
      c.get("tenant"),
      c.get("server"),
      () => serveSandboxHttp(id, c.req.raw, path, contextOf(c), waitUntilOf(c)),
      { waitUntil: waitUntilOf(c) },
    );
  })
  .all("/:id/http", (c) => c.redirect(`${new URL(c.req.url).pathname}/`, 308));
