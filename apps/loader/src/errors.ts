/**
 * @module errors
 * `DwlHttpError` for request-level failures (400/401/404/413/429/5xx) and the one `onError`
 * that renders it as `{ error: { type, message, issues? } }`. Program failures never use this:
 * they are values (`{ ok: false, error }`) with HTTP 200.
 */
import type { RequestErrorBody, RequestErrorType, RequestIssue } from "@dwl/protocol";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { SettingError } from "./settings.ts";

/**
 * The one table from a request error's type to its HTTP status. The request check
 * (run/request-check.ts) and MCP decide the type; only this table decides the status.
 */
export const REQUEST_ERROR_STATUS: Readonly<Record<RequestErrorType, ContentfulStatusCode>> = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  not_configured: 500,
  internal: 500,
  runtime_restarted: 503,
};

/**
 * A request-level failure. Build it with {@link DwlHttpError.of} (status from the table); the
 * constructor's explicit status is for the few answers that differ from their type's: 409 for a
 * tenant's full sandbox quota, 503 while a required secret (API keys, encryption key) is unset.
 */
export class DwlHttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: RequestErrorType,
    message: string,
    readonly issues?: RequestIssue[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "DwlHttpError";
  }

  /** A request error whose status is its type's, from {@link REQUEST_ERROR_STATUS}. */
  static of(
    type: RequestErrorType,
    message: string,
    issues?: RequestIssue[],
    headers?: Record<string, string>,
  ): DwlHttpError {
    return new DwlHttpError(REQUEST_ERROR_STATUS[type], type, message, issues, headers);
  }

  toBody(): RequestErrorBody {
    return { error: { type: this.type, message: this.message, ...(this.issues ? { issues: this.issues } : {}) } };
  }
}

/** Maps any thrown value to JSON; unknown errors become a 500 without internals in the body. */
export function renderError(err: unknown, c: Context): Response {
  if (err instanceof DwlHttpError) {
    return c.json(err.toBody(), err.status, err.headers);
  }
  // A bad Worker var (settings.ts): every request says which one, /healthz included.
  if (err instanceof SettingError) {
    const refusal = DwlHttpError.of("not_configured", `the loader is misconfigured: ${err.message}`);
    return c.json(refusal.toBody(), refusal.status);
  }
  console.error("dwl: unhandled error", err);
  const body: RequestErrorBody = { error: { type: "internal", message: "internal error in the loader" } };
  return c.json(body, 500);
}
