/**
 * @module upstream
 * One buffered request to the runtime. A 5xx answer that is not JSON did not come from the
 * loader (which always answers JSON) but from wrangler's proxy after the runtime died: that,
 * like a refused or reset connection, is reported as `LOST`.
 */
export interface BufferedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export interface BufferedResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

export const LOST = Symbol("runtime lost");

/** Hop-by-hop and recomputed headers, never forwarded. */
const SKIPPED_HEADERS = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive", "content-encoding"]);

export async function forward(origin: string, request: BufferedRequest): Promise<BufferedResponse | typeof LOST> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) if (!SKIPPED_HEADERS.has(name)) headers.set(name, value);
  // The loader builds public URLs (a sandbox's `url`) from this, not from our internal port.
  if (request.headers.host) headers.set("x-forwarded-host", request.headers.host);
  let response: Response;
  try {
    response = await fetch(origin + request.path, {
      method: request.method,
      headers,
      ...(request.body && request.method !== "GET" && request.method !== "HEAD" ? { body: new Uint8Array(request.body) } : {}),
      redirect: "manual",
    });
  } catch {
    return LOST;
  }
  const body = Buffer.from(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
  if (response.status >= 500 && !(response.headers.get("content-type") ?? "").includes("json")) return LOST;
  const out: [string, string][] = [];
  response.headers.forEach((value, name) => {
    // A HEAD answer has no body: its content-length describes the resource, so keep it.
    if (!SKIPPED_HEADERS.has(name) || (name === "content-length" && request.method === "HEAD")) out.push([name, value]);
  });
  return { status: response.status, headers: out, body };
}

export async function isHealthy(origin: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}
