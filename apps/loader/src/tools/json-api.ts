/**
 * @module tools/json-api
 * Operator tool `env.JSON_API`: JSON-over-HTTP calls made by the loader on the program's behalf,
 * through the run's own fetch (the base class's `egressFetch`): the same egress gateway, policy,
 * `limits.subRequests` and audit — so a stored credential named in `egress.credentials` is
 * injected on its hosts and the program never holds it.
 */
import { OWN_HEADER_PREFIX } from "@dwl/protocol";
import type { RpcResult } from "../bindings/rpc-result.ts";
import { ToolEntrypoint } from "./tool-entrypoint.ts";
import { MAX_TOOL_RESPONSE_BYTES } from "../limits.ts";

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

export const JSON_API_DECLARATION = `/** JSON over HTTP made as your own fetch: same allowlist, counted in limits.subRequests and shown in egress;
 * credentials named in egress.credentials are added on their hosts (you never see them). Throws EgressDeniedError when refused. */
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

export class JsonApiTool extends ToolEntrypoint {
  async #call(method: string, url: string, body: unknown, options: JsonApiOptions = {}): Promise<JsonApiResponse> {
    const target = new URL(String(url));
    for (const [key, value] of Object.entries(options.query ?? {})) target.searchParams.set(key, String(value));
    const headers = new Headers(options.headers ?? {});
    headers.set("accept", "application/json");
    if (body !== undefined) headers.set("content-type", "application/json");
    // Counted, audited and policed as the run's own request (tools/tool-entrypoint.ts).
    const response = await this.egressFetch(
      new Request(target, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) }),
    );
    const bytes = await response.arrayBuffer();
    if (bytes.byteLength > MAX_TOOL_RESPONSE_BYTES)
      throw new RangeError(`the response is ${bytes.byteLength} bytes, over the ${MAX_TOOL_RESPONSE_BYTES}-byte limit`);
    const text = new TextDecoder().decode(bytes);
    let data: unknown = text;
    try {
      data = text === "" ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    const out: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!name.startsWith(OWN_HEADER_PREFIX)) out[name] = value;
    });
    return { status: response.status, ok: response.ok, headers: out, data };
  }

  get(url: string, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.#call("GET", url, undefined, options));
  }

  post(url: string, body: unknown, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.#call("POST", url, body, options));
  }

  put(url: string, body: unknown, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.#call("PUT", url, body, options));
  }

  delete(url: string, options?: JsonApiOptions): Promise<RpcResult<JsonApiResponse>> {
    return this.toolCall(() => this.#call("DELETE", url, undefined, options));
  }
}
