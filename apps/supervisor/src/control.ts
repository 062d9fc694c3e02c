/**
 * @module control
 * The supervisor's own endpoint for the loader it runs (loopback only, behind an unguessable
 * path): effect notices (packages/protocol supervision.ts). The loader waits for the answer
 * before the effect, so a request is marked before its effect can have happened.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { EffectNoticeSchema } from "@dwl/protocol";
import type { Flights } from "./flights.ts";

/** A notice names at most 1,000 tokens of ~22 characters. */
const MAX_NOTICE_BYTES = 64 * 1024;

export interface ControlEndpoint {
  /** What the loader gets as DWL_SUPERVISOR_URL. */
  url: string;
  /** Its secret path segment, which the supervisor also shows the loader (SUPERVISOR_SECRET_HEADER). */
  secret: string;
  server: Server;
}

export async function startControlEndpoint(flights: Flights): Promise<ControlEndpoint> {
  const secret = randomBytes(24).toString("base64url");
  const effectsPath = `/${secret}/effects`;
  const server = createServer((req, res) => {
    if (req.method !== "POST" || req.url !== effectsPath) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_NOTICE_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => {
      let notice;
      try {
        notice = EffectNoticeSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        notice = undefined;
      }
      if (!notice?.success) {
        res.writeHead(400).end();
        return;
      }
      flights.markEffectful(notice.data.requests);
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address !== "object") throw new Error("the control endpoint has no address");
  return { url: `http://127.0.0.1:${address.port}/${secret}`, secret, server };
}
