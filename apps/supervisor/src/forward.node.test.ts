/**
 * The supervisor's connections to the runtime: one left idle is not used again after the runtime
 * may have closed it (a request sent on a connection as the runtime closes it is lost).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RuntimeClient } from "./forward.ts";

let connections = 0;
const runtime = createServer((_req, res) => res.end("ok"));
runtime.keepAliveTimeout = 60_000;
runtime.on("connection", () => connections++);
let origin = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => runtime.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(runtime.address() as AddressInfo).port}`;
});
afterAll(() => {
  runtime.closeAllConnections();
  runtime.close();
});

it("reuses a connection to the runtime while it is fresh, and lets go of one left idle", async () => {
  const client = new RuntimeClient(origin, "localhost", 300);
  try {
    await client.threadFree();
    await client.threadFree();
    expect(connections).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    await client.threadFree();
    expect(connections).toBe(2);
  } finally {
    client.close();
  }
});
