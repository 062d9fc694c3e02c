/**
 * @module validate
 * Reads a JSON request body under a byte cap and validates it with a protocol schema, turning
 * every problem into a DwlHttpError that names the field (400) or the size (413).
 */
import { bodyTooLargeError } from "@dwl/protocol";
import type { z } from "zod";
import { DwlHttpError } from "./errors.ts";
import { readCapped, TOO_LARGE } from "./read-capped.ts";

/** Reads at most `maxBytes` of the body; a larger body is refused without buffering it all. */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return "";
  // A declared length within the cap lets the runtime read the body natively in one go.
  if (Number.isInteger(declared)) {
    const text = await request.text();
    if (text.length > maxBytes) throw tooLarge(maxBytes);
    return text;
  }
  const bytes = await readCapped(request.body, maxBytes);
  if (bytes === TOO_LARGE) throw tooLarge(maxBytes);
  return new TextDecoder().decode(bytes);
}

function tooLarge(maxBytes: number): DwlHttpError {
  const { type, message } = bodyTooLargeError(maxBytes, "request");
  return DwlHttpError.of(type, message);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw DwlHttpError.of("invalid_request", `the body is not valid JSON: ${(err as Error).message}`, [
      { path: [], message: "expected a JSON object", code: "invalid_json" },
    ]);
  }
}

/** One problem with a request, where it is (`path`) and why. */
export interface RequestIssue {
  path: (string | number)[];
  message: string;
  code: string;
}

/**
 * A zod error's issues as DWL reports them, under `prefix`. A record key zod refuses ("Invalid key
 * in record") gets its own reason instead, e.g. `files["./index.ts"]`: "the key: must be a relative
 * path with forward slashes…".
 */
export function issuesOf(error: z.core.$ZodError, prefix: (string | number)[] = []): RequestIssue[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))];
    const inner = issue.code === "invalid_key" ? issue.issues : [];
    if (inner.length === 0) return [{ path, message: issue.message, code: issue.code }];
    return inner.map((keyIssue) => ({ path, message: `the key: ${keyIssue.message}`, code: "invalid_key" }));
  });
}

/** `files["./index.ts"]`, `request.headers["bad header"]`, `tools[0]`: a field as a reader finds it. */
export function fieldName(path: readonly (string | number)[]): string {
  return path
    .map((key, i) =>
      typeof key === "number"
        ? `[${key}]`
        : /^[A-Za-z_$][\w$]*$/.test(key)
          ? `${i === 0 ? "" : "."}${key}`
          : `[${JSON.stringify(key)}]`,
    )
    .join("");
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = issuesOf(parsed.error);
  const first = issues[0];
  const where = first && first.path.length > 0 ? `\`${fieldName(first.path)}\`: ` : "";
  throw DwlHttpError.of("invalid_request", `invalid request: ${where}${first?.message ?? "invalid body"}`, issues);
}
