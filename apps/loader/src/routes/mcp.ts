/** POST /mcp: the Model Context Protocol server (mcp/server.ts), authenticated like every route. */
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { handleMcp } from "../mcp/server.ts";

export const mcpRoute = new Hono<AppEnv>().all("/", (c) =>
  handleMcp(c.req.raw, { env: c.env, tenant: c.get("tenant"), server: c.get("server") }),
);
