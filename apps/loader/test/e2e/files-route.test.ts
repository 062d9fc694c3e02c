import { bodyTooLargeError, RequestErrorBodySchema } from "@dwl/protocol";
import { describe, expect, it } from "vitest";
import piProgram from "../../../../examples/monte-carlo-pi/index.ts?raw";
import { MAX_FILE_BYTES } from "../../src/limits.ts";
import { call, execute, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

const ns = () => `files-${crypto.randomUUID().slice(0, 8)}`;

describe("/files", () => {
  it("uploads, lists, heads, downloads and deletes within the tenant's namespace", async () => {
    const namespace = ns();
    const put = await call(`/files/${namespace}/notes/hello.txt`, {
      method: "PUT",
      body: "hello files",
      headers: { "content-type": "text/plain" },
    });
    expect(put.status).toBe(201);
    expect(await put.json()).toMatchObject({ key: "notes/hello.txt", size: 11 });

    const list = await call(`/files/${namespace}?prefix=notes/`);
    expect(((await list.json()) as { objects: { key: string }[] }).objects.map((o) => o.key)).toEqual([
      "notes/hello.txt",
    ]);

    const head = await call(`/files/${namespace}/notes/hello.txt`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("11");

    const get = await call(`/files/${namespace}/notes/hello.txt`);
    expect(get.headers.get("content-type")).toBe("text/plain");
    expect(get.headers.get("content-security-policy")).toContain("sandbox");
    expect(await get.text()).toBe("hello files");

    expect((await call(`/files/${namespace}/notes/hello.txt`, { method: "DELETE" })).status).toBe(204);
    const gone = await call(`/files/${namespace}/notes/hello.txt`);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { type: "not_found" } });
  });

  it("pages a listing with its cursor and refuses one it did not hand out, naming cursor", async () => {
    const namespace = ns();
    for (const key of ["p/1", "p/2", "q/1"])
      expect((await call(`/files/${namespace}/${key}`, { method: "PUT", body: key })).status).toBe(201);
    const first = (await (await call(`/files/${namespace}?prefix=p/&limit=1`)).json()) as {
      objects: { key: string }[];
      cursor: string;
    };
    const rest = (await (
      await call(`/files/${namespace}?prefix=p/&cursor=${encodeURIComponent(first.cursor)}`)
    ).json()) as {
      objects: { key: string }[];
      truncated: boolean;
    };
    expect([first.objects.map((o) => o.key), rest.objects.map((o) => o.key), rest.truncated]).toEqual([
      ["p/1"],
      ["p/2"],
      false,
    ]);
    for (const query of ["cursor=garbage", `prefix=q/&cursor=${encodeURIComponent(first.cursor)}`]) {
      const refused = await call(`/files/${namespace}?${query}`);
      expect(refused.status).toBe(400);
      const body = RequestErrorBodySchema.parse(await refused.json());
      expect(body.error.type).toBe("invalid_request");
      expect(body.error.issues?.[0]?.path).toEqual(["cursor"]);
    }
  });

  it("shares the namespace with env.FILES in programs", async () => {
    const namespace = ns();
    await call(`/files/${namespace}/from-http.txt`, { method: "PUT", body: "uploaded" });
    const res = expectOk(
      await execute({
        code: "export default async (_, env) => (await env.FILES.get('from-http.txt')).text()",
        storage: { namespace },
      }),
    );
    expect(res.result).toBe("uploaded");
  });

  it("answers another tenant's file with 404", async () => {
    const namespace = ns();
    await call(`/files/${namespace}/private.txt`, { method: "PUT", body: "local only" });
    expect((await call(`/files/${namespace}/private.txt`, { key: OTHER_TENANT_KEY })).status).toBe(404);
    const list = await call(`/files/${namespace}`, { key: OTHER_TENANT_KEY });
    expect(((await list.json()) as { objects: unknown[] }).objects).toEqual([]);
  });

  it("answers bad keys and namespaces with 400 naming the field", async () => {
    for (const path of ["/files/ns/a%5Cb", "/files/ns/a%00b", "/files/ns/%252e%252e/x", "/files/bad.ns/x"]) {
      const res = await call(path, { method: "PUT", body: "x" });
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as { error: { issues: { path: string[] }[] } };
      expect(body.error.issues[0]?.path[0]).toMatch(/key|namespace/);
    }
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=abc", "limit"],
    ["limit=1001", "limit"],
    ["limit=1.5", "limit"],
    ["delimiter=x", "delimiter"],
    ["prefix=/x", "prefix"],
  ])("answers a list with %s with 400 naming %s", async (query, field) => {
    const res = await call(`/files/${ns()}?${query}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; issues: { path: string[] }[] } };
    expect(body.error.type).toBe("invalid_request");
    expect(body.error.issues[0]?.path).toEqual([field]);
  });

  it("refuses a file over the limit with the same 413, its length declared or not", async () => {
    const namespace = ns();
    const over = new Uint8Array(MAX_FILE_BYTES + 1);
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(over);
        controller.close();
      },
    });
    for (const body of [over, streamed]) {
      const res = await call(`/files/${namespace}/big.bin`, { method: "PUT", body });
      expect(res.status).toBe(413);
      expect(RequestErrorBodySchema.parse(await res.json()).error).toEqual(bodyTooLargeError(MAX_FILE_BYTES, "file"));
    }
    expect((await call(`/files/${namespace}/big.bin`)).status).toBe(404);
  });

  it("requires a key", async () => {
    expect((await call("/files/ns/x", { key: null })).status).toBe(401);
  });
});

describe("the Monte Carlo π demo", () => {
  it("estimates π, saves the chart and serves it as SVG", async () => {
    const namespace = ns();
    const res = expectOk(
      await execute({ code: piProgram, input: { points: 20_000 }, storage: { namespace }, limits: { cpuMs: 5_000 } }),
    );
    const result = res.result as { estimate: number; points: number; chart: string };
    expect(result.points).toBe(20_000);
    expect(Math.abs(result.estimate - Math.PI)).toBeLessThan(0.1);
    expect(res.logs[0]?.message).toMatch(/^sampled 20000 points/);

    const chart = await call(`/files/${namespace}/${result.chart}`);
    expect(chart.status).toBe(200);
    expect(chart.headers.get("content-type")).toBe("image/svg+xml");
    const svg = await chart.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.match(/<circle /g)).toHaveLength(2_000);
  });
});
