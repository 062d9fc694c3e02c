/**
 * @module errors
 * `DwlRequestError`: the one error the SDK throws. A program that ran and failed is not an error
 * here: it comes back as data (`{ ok: false, error }`).
 */
import { RequestErrorBodySchema, type RequestErrorType, type RequestIssue } from "@dwl/protocol";

/**
 * Failures detected by the client itself, never sent by a server: no answer in time, the caller
 * aborted, no connection, or an answer that is not the documented wire format.
 */
export const CLIENT_ERROR_TYPES = ["timeout", "aborted", "network", "invalid_response"] as const;
export type ClientErrorType = (typeof CLIENT_ERROR_TYPES)[number];

/** What `DwlRequestError.type` may be: a server's `error.type`, or one of the client's own. */
export type DwlRequestErrorType = RequestErrorType | ClientErrorType;

export interface DwlRequestErrorInit {
  /** HTTP status; `0` when no response arrived (`timeout`, `aborted`, `network`) or the client refused to send (`invalid_request` for a `..` key). */
  status: number;
  type: DwlRequestErrorType;
  message: string;
  issues?: RequestIssue[] | undefined;
  /** Set on a `429` or `runtime_restarted` that was not retried further: how long the server asked to wait. */
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

/**
 * A request that did not get its answer. Branch on `type` (or `status`), never on `message`;
 * `issues[].path` names the request field at fault for `invalid_request` and `payload_too_large`.
 *
 * @example
 * try { await dwl.execute({ code: 1 as never }) }
 * catch (err) { if (err instanceof DwlRequestError && err.type === "invalid_request") console.log(err.issues) }
 */
export class DwlRequestError extends Error {
  readonly status: number;
  readonly type: DwlRequestErrorType;
  readonly issues: RequestIssue[] | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: DwlRequestErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "DwlRequestError";
    this.status = init.status;
    this.type = init.type;
    this.issues = init.issues;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** The request-error type a bare status implies, for answers without a DWL error body (a proxy's 502). */
function typeForStatus(status: number): RequestErrorType {
  if (status === 400) return "invalid_request";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 413) return "payload_too_large";
  if (status === 429) return "rate_limited";
  return "internal";
}

/**
 * Builds the error for a non-2xx answer from its `{ error: { type, message, issues? } }` body,
 * falling back to the status when the body is something else.
 */
export async function requestErrorFrom(response: Response, retryAfterMs?: number): Promise<DwlRequestError> {
  const text = await response.text().catch(() => "");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = RequestErrorBodySchema.safeParse(json);
  if (parsed.success) {
    const { type, message, issues } = parsed.data.error;
    return new DwlRequestError({ status: response.status, type, message, issues, retryAfterMs });
  }
  const snippet = text.trim().slice(0, 200);
  return new DwlRequestError({
    status: response.status,
    type: typeForStatus(response.status),
    message: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}${snippet ? `: ${snippet}` : ""}`,
    retryAfterMs,
  });
}
