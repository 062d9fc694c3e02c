/**
 * @module playground/route
 * The browser playground (source: apps/playground): `GET /`, its content-addressed assets and the
 * sandbox preview frame. Public — the page holds no secret; the API key stays in the browser and
 * travels only in the `Authorization` header of the page's own API calls.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { DwlHttpError } from "../errors.ts";
import { PLAYGROUND_ASSETS, PLAYGROUND_FRAME, PLAYGROUND_PAGE } from "./assets.generated.ts";

const ONE_YEAR_S = 31_536_000;

/**
 * Only the page's own script and stylesheet; CodeMirror's generated <style> elements carry the
 * per-response nonce (EditorView.cspNonce). Images come back as blob: URLs of fetched files; the
 * only frame is the preview shell on this origin.
 */
const pagePolicy = (nonce: string) =>
  [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "frame-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");

/**
 * The preview shell runs a sandbox's page, which is untrusted: `sandbox` gives it an opaque origin
 * (no access to this origin's localStorage, where the key is), and it may load nothing from the
 * network. Its inline scripts and styles run, as the app's author meant.
 */
const FRAME_POLICY = [
  "sandbox allow-scripts allow-forms allow-modals",
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "img-src data: blob:",
  "media-src data: blob:",
  "font-src data:",
  "frame-ancestors 'self'",
].join("; ");

const COMMON_HEADERS = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" };

function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "");
}

export const playgroundRoute = new Hono<AppEnv>()
  .get("/", (c) => {
    const nonce = newNonce();
    return c.body(PLAYGROUND_PAGE.replaceAll("{{nonce}}", nonce), 200, {
      ...COMMON_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": pagePolicy(nonce),
      "cross-origin-opener-policy": "same-origin",
    });
  })
  .get("/playground/frame", (c) =>
    c.body(PLAYGROUND_FRAME, 200, {
      ...COMMON_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      "content-security-policy": FRAME_POLICY,
    }),
  )
  .get("/playground/:asset", (c) => {
    const asset = PLAYGROUND_ASSETS[c.req.path];
    if (!asset) throw DwlHttpError.of("not_found", `no playground asset ${c.req.path}`);
    const etag = `"${c.req.path.split(".").at(-2) ?? ""}"`;
    const headers = { ...COMMON_HEADERS, "cache-control": `public, max-age=${ONE_YEAR_S}, immutable`, etag };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, { ...headers, "content-type": asset.type });
  });
