/**
 * POST /mcp: the Model Context Protocol server (mcp/server.ts), authenticated like every route.
 * POST only: a stateless server with a fixed tool list never sends a message of its own, so the
 * standalone stream a client opens with GET would stay silent while holding the runtime's memory
 * (~126 KB each); the router's 405 tells the client there is none, as the transport allows.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { handleMcp } from "../mcp/server.ts";

export const mcpRoute = new Hono<AppEnv>().post("/", (c) =>
  handleMcp(c.req.raw, { env: c.env, tenant: c.get("tenant"), server: c.get("server") }),
);
