/**
 * @module errors
 * The two error shapes of the wire format: failures of a program that ran (`ExecutionError`,
 * returned with HTTP 200 and `ok: false`) and failures of the request itself (`RequestError`,
 * returned with a 4xx/5xx status).
 */
import { z } from "zod";

/** Every way a program can fail. Clients branch on `type`, never on `message`. */
export const EXECUTION_ERROR_TYPES = [
  "compile",
  "runtime",
  "timeout",
  "cpu_limit",
  "memory_limit",
  "subrequest_limit",
  "egress_denied",
  "output_too_large",
  "runtime_restarted",
] as const;

export const ExecutionErrorTypeSchema = z.enum(EXECUTION_ERROR_TYPES);
export type ExecutionErrorType = z.infer<typeof ExecutionErrorTypeSchema>;

/** Where a compile error points, in the user's own files. */
export const SourceLocationSchema = z.object({
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  lineText: z.string().optional(),
});
export type SourceLocation = z.infer<typeof SourceLocationSchema>;

const errorFields = {
  name: z.string(),
  message: z.string(),
  /** Frames name the user's files and lines (source-mapped), never the bundle or the loader. */
  stack: z.string().optional(),
};

/** A failure that is not located in source (`compile` errors add `location`). */
const plainError = <T extends Exclude<ExecutionErrorType, "compile">>(type: T) =>
  z.object({ type: z.literal(type), ...errorFields });

export const ExecutionErrorSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("compile"), ...errorFields, location: SourceLocationSchema.optional() }),
  plainError("runtime"),
  plainError("timeout"),
  plainError("cpu_limit"),
  plainError("memory_limit"),
  plainError("subrequest_limit"),
  plainError("egress_denied"),
  plainError("output_too_large"),
  plainError("runtime_restarted"),
]);
export type ExecutionError = z.infer<typeof ExecutionErrorSchema>;

/** Request-level failures: 400 invalid body, 401 bad key, 404, 413 too large, 429 rate limited. */
export const REQUEST_ERROR_TYPES = [
  "invalid_request",
  "unauthorized",
  "not_found",
  "payload_too_large",
  "rate_limited",
  "not_configured",
  "internal",
  "runtime_restarted",
] as const;
export const RequestErrorTypeSchema = z.enum(REQUEST_ERROR_TYPES);
export type RequestErrorType = z.infer<typeof RequestErrorTypeSchema>;

/** One problem with one field of the request body; `path` names the field. */
export const RequestIssueSchema = z.object({
  path: z.array(z.union([z.string(), z.number()])),
  message: z.string(),
  code: z.string().optional(),
});
export type RequestIssue = z.infer<typeof RequestIssueSchema>;

export const RequestErrorBodySchema = z.object({
  error: z.object({
    type: RequestErrorTypeSchema,
    message: z.string(),
    issues: z.array(RequestIssueSchema).optional(),
  }),
});
export type RequestErrorBody = z.infer<typeof RequestErrorBodySchema>;

/**
 * The 413 for a body over its cap. The loader and the local supervisor, which cuts a body at the
 * loader's cap before the loader has to, answer the same words for the same body.
 */
export function bodyTooLargeError(maxBytes: number, body: "request" | "file"): RequestErrorBody["error"] {
  return body === "file"
    ? {
        type: "payload_too_large",
        message: `the file is over the ${maxBytes}-byte limit`,
        issues: [{ path: ["body"], message: `at most ${maxBytes} bytes` }],
      }
    : {
        type: "payload_too_large",
        message: `the request body is over ${maxBytes} bytes`,
        // The whole body: the per-field limits (code, input) name their field instead.
        issues: [{ path: [], message: `at most ${maxBytes} bytes` }],
      };
}
