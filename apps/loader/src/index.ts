/**
 * @module index
 * The loader Worker: a Hono app (auth → routes) plus the top-level exports of every entrypoint
 * class handed to child isolates.
 */
import { CANCEL_PATH } from "@dwl/protocol";
import { Hono } from "hono";
import { PatternRouter } from "hono/router/pattern-router";
import type { AppEnv } from "./app-env.ts";
import { authenticate } from "./auth.ts";
import { DwlHttpError, renderError } from "./errors.ts";
import { readServerLimits } from "./limits.ts";
import { playgroundRoute } from "./playground/route.ts";
import { credentialsRoute } from "./routes/credentials.ts";
import { executeRoute } from "./routes/execute.ts";
import { filesRoute } from "./routes/files.ts";
import { mcpRoute } from "./routes/mcp.ts";
import { sandboxesRoute } from "./routes/sandboxes.ts";
import { cancelSupervisedRequest } from "./supervision/cancel.ts";
import { drainUnreadBody } from "./supervision/drain-body.ts";
import { trackSupervisedRequest } from "./supervision/effects.ts";
import { reportThreadUse } from "./supervision/thread-use.ts";

// Hono's default router falls back to its trie for these routes (the regexp router refuses
// "/playground/:asset"); the pattern router matches them ~0.35 ms faster per request under
// `wrangler dev` (docs/performance.md).
const app = new Hono<AppEnv>({ router: new PatternRouter() });

// First, so that it also sees the answers of the checks below (a 401 before the body is read).
app.use("*", drainUnreadBody);
// Healthy only with valid settings: a probe (the local supervisor's, a deploy check) sees a bad var.
app.get("/healthz", (c) => {
  readServerLimits(c.env);
  return c.json({ ok: true });
});
// The supervisor's notice that a request's client went away (its own secret, not an API key).
app.post(`${CANCEL_PATH}/:token`, cancelSupervisedRequest);
// The browser playground: GET / and its assets, public (the key stays in the browser).
app.route("/", playgroundRoute);

app.use("*", async (c, next) => {
  // Settings first: a bad var answers 500 naming it, whatever the key.
  c.set("server", readServerLimits(c.env));
  c.set("tenant", await authenticate(c.req.header("authorization"), c.env));
  await next();
});
// After auth: a supervised request's effects are attributed to its tenant.
app.use("*", trackSupervisedRequest);
app.use("*", reportThreadUse);

app.route("/execute", executeRoute);
app.route("/files", filesRoute);
app.route("/credentials", credentialsRoute);
app.route("/sandboxes", sandboxesRoute);
app.route("/mcp", mcpRoute);

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

/** The methods a route of `path` answers (not middleware, which Hono registers for ALL). */
function allowedMethods(path: string): string[] {
  return METHODS.filter((method) => app.router.match(method, path)[0].some(([[, route]]) => route.method !== "ALL"));
}

app.notFound((c) => {
  const allowed = allowedMethods(c.req.path);
  if (allowed.length === 0)
    return c.json(DwlHttpError.of("not_found", `no route for ${c.req.method} ${c.req.path}`).toBody(), 404);
  const refusal = new DwlHttpError(
    405,
    "not_found",
    `${c.req.path} answers ${allowed.join(", ")}, not ${c.req.method}`,
  );
  return c.json(refusal.toBody(), 405, { allow: allowed.join(", ") });
});
app.onError(renderError);

export default app satisfies ExportedHandler<Env>;

// Entrypoints handed to child isolates as capabilities (ctx.exports.X({ props })).
export { ScopedFiles } from "./bindings/files.ts";
export { ScopedKv } from "./bindings/kv.ts";
export { EgressGateway } from "./egress/gateway.ts";
export { TenantGate } from "./fairness/tenant-gate.ts";
export { SandboxRegistry } from "./sandboxes/registry.ts";
export { JsonApiTool } from "./tools/json-api.ts";
export { NotesTool } from "./tools/notes.ts";
