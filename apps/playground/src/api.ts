/**
 * @module api
 * The loader's HTTP API as the playground uses it: same origin, `Authorization: Bearer <key>`.
 * Request errors (4xx/5xx with `{ error: { type, message, issues? } }`) become `RequestFailure`s.
 */
import type { ExecuteResponse, RequestErrorBody, SandboxInfo } from "@dwl/protocol";
import { EXECUTION_ID_HEADER } from "@dwl/protocol/headers";

/** A request the loader refused (bad key, invalid body, too large, rate limited…). */
export class RequestFailure extends Error {
  override name = "RequestFailure";
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly issues: RequestErrorBody["error"]["issues"] = undefined,
  ) {
    super(message);
  }
}

export class Api {
  constructor(private readonly key: () => string) {}

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.key()}`);
    if (init.body !== undefined) headers.set("content-type", "application/json");
    return fetch(path, { ...init, headers });
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.call(path, init);
    if (!response.ok) throw await failureOf(response);
    return (await response.json()) as T;
  }

  execute(body: Record<string, unknown>): Promise<ExecuteResponse> {
    return this.json("/execute", { method: "POST", body: JSON.stringify(body) });
  }

  /** Updates the sandbox `id` when it still exists, otherwise creates one. */
  async saveSandbox(id: string | null, definition: Record<string, unknown>): Promise<SandboxInfo> {
    const body = JSON.stringify(definition);
    if (id) {
      try {
        return await this.json(`/sandboxes/${encodeURIComponent(id)}`, { method: "PUT", body });
      } catch (error) {
        if (!(error instanceof RequestFailure && error.status === 404)) throw error;
      }
    }
    return this.json("/sandboxes", { method: "POST", body });
  }

  /** One request to a sandbox's fetch handler, `path` relative to its root. */
  async sandboxHttp(
    id: string,
    path: string,
  ): Promise<{ status: number; contentType: string; body: string; executionId: string | null }> {
    const response = await this.call(`/sandboxes/${encodeURIComponent(id)}/http/${path.replace(/^\/+/, "")}`);
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body: await response.text(),
      executionId: response.headers.get(EXECUTION_ID_HEADER),
    };
  }

  /** A file of the tenant's namespace, as a Blob (for an <img> via a blob: URL). */
  async file(namespace: string, key: string): Promise<Blob> {
    const response = await this.call(
      `/files/${encodeURIComponent(namespace)}/${key.split("/").map(encodeURIComponent).join("/")}`,
    );
    if (!response.ok) throw await failureOf(response);
    return response.blob();
  }
}

async function failureOf(response: Response): Promise<RequestFailure> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as RequestErrorBody;
    return new RequestFailure(response.status, error.type, error.message, error.issues);
  } catch {
    return new RequestFailure(
      response.status,
      "http_error",
      `HTTP ${response.status}: ${text.slice(0, 200) || response.statusText}`,
    );
  }
}
