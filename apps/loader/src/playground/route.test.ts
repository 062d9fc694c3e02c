import { describe, expect, it } from "vitest";
import { call } from "../../test/helpers.ts";
import { PLAYGROUND_ASSETS } from "./assets.generated.ts";

const assetPaths = Object.keys(PLAYGROUND_ASSETS);
const scriptPath = assetPaths.find((p) => p.endsWith(".js"))!;

describe("the playground route", () => {
  it("serves the page without a key, with a per-response CSP nonce", async () => {
    const [first, second] = await Promise.all([call("/", { key: null }), call("/", { key: null })]);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const policy = first.headers.get("content-security-policy")!;
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    const nonce = /'nonce-([^']+)'/.exec(policy)![1]!;
    const html = await first.text();
    expect(html).toContain(`<meta name="dwl-style-nonce" content="${nonce}">`);
    expect(html).toContain(`<script type="module" src="${scriptPath}"></script>`);
    expect(second.headers.get("content-security-policy")).not.toContain(nonce);
  });

  it("serves content-addressed assets as immutable, with 304 on a matching etag", async () => {
    expect(assetPaths).toHaveLength(2);
    const res = await call(scriptPath, { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toContain("immutable");
    expect((await res.text()).length).toBeGreaterThan(100_000); // CodeMirror is in the bundle
    const again = await call(scriptPath, { key: null, headers: { "if-none-match": res.headers.get("etag")! } });
    expect(again.status).toBe(304);
  });

  it("serves the preview shell in an opaque origin (CSP sandbox, no network)", async () => {
    const res = await call("/playground/frame", { key: null });
    expect(res.status).toBe(200);
    const policy = res.headers.get("content-security-policy")!;
    expect(policy).toMatch(/^sandbox allow-scripts allow-forms allow-modals;/);
    expect(policy).not.toContain("allow-same-origin");
    expect(policy).toContain("default-src 'none'");
  });

  it("answers 404 for an unknown asset, and still needs a key everywhere else", async () => {
    expect((await call("/playground/app.0000.js", { key: null })).status).toBe(404);
    expect((await call("/files/default", { key: null })).status).toBe(401);
  });
});
