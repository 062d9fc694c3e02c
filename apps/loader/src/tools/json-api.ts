/**
 * @module tools/json-api
 * Operator tool `env.JSON_API`: JSON-over-HTTP calls made by the loader on the program's behalf,
 * through the same egress gateway and policy as the program's own fetch — so a stored credential
 * named in `egress.credentials` is injected on its hosts and the program never holds it.
 */
import { exports } from "cloudflare:workers";
import type { RpcResult } from "../bindings/rpc-result.ts";
import { EGRESS_DENIED_HEADER } from "../egress/gateway.ts";
import { ToolEntrypoint } from "./tool-entrypoint.ts";

export interface JsonApiResponse {
  status: number;
  ok: boolean;
  headers: Record<string, string>;
  /** Parsed JSON, or the text when the body is not JSON. */
  data: unknown;
}

export interface JsonApiOptions {
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean>;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export const JSON_API_DECLARATION = `/** JSON over HTTP through the egress gateway: same allowlist as fetch; credentials named in
 * egress.credentials are added on their hosts (you never see them). Throws EgressDeniedError when refused. */
interface JsonApi {
  get(url: string, options?: JsonApiOptions): Promise<JsonApiResponse>;
  post(url: string, body: unknown, options?: JsonApiOptions): Promise<JsonApiResponse>;
  put(url: string, body: unknown, options?: JsonApiOptions): Promise<JsonApiResponse>;
  delete(url: string, options?: JsonApiOptions): Promise<JsonApiResponse>;
}
interface JsonApiOptions { headers?: Record<string, string>; query?: Record<string, string | number | boolean> }
/** data: parsed JSON (or text if the body is not JSON); bodies up to 1 MiB. */
interface JsonApiResponse { status: number; ok: boolean; headers: Record<string, string>; data: unknown }
// env.JSON_API: JsonApi  (enable with tools: ["json-api"])`;

export class EgressDeniedByGateway extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EgressDeniedError";
  }
}

export class JsonApiTool extends ToolEntrypoint {
  private async call(method: string, url: string, body: unknown, options: JsonApiOptions = {}): Promise<JsonApiResponse> {
    const target = new URL(String(url));
    for (const [key, value] of Object.entries(options.query ?? {})) target.searchParams.set(key, String(value));
    const headers = new Headers(options.headers ?? {});
    headers.set("accept", "application/json");
    if (body !== undefined) headers.set("content-type", "application/json");
    const gateway = exports.EgressGateway({ props: { tenant: this.ctx.props.tenant, ...this.ctx.props.egress } });
    const response = await gateway.fetch(new Request(target, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }));
    if (response.headers.get(EGRESS_DENIED_HEADER)) {
      const { reason } = (await response.json()) as { reason: string };
      throw new EgressDeniedByGateway(reason);
    }
    const bytes = await response.arrayBuffer();
    if (bytes.byteLength > MAX_RESPONSE_BYTES) throw new RangeError(`the response is ${bytes.byteLength} bytes, over the ${MAX_RESPONSE_BYTES}-byte limit`);
    const text = new TextDecoder().decode(bytes);
    let data: unknown = text;
    try {
      data = text === "" ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    const out: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!name.startsWith("x-dwl-")) out[name] = value;
    });
    return { status: response.status, ok: response.ok, headers: out, data };
  }

  get(url: string, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.call("GET", url, undefined, options));
  }

  post(url: string, body: unknown, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.call("POST", url, body, options));
  }

  put(url: string, body: unknown, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.call("PUT", url, body, options));
  }

  delete(url: string, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.call("DELETE", url, undefined, options));
  }
}
