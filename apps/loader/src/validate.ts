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
  refuseContentEncoding(request);
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

/**
 * A compressed body read as JSON failed as "not valid JSON" over its first bytes, which told the
 * caller nothing. The bodies here are small and the supervisor weighs a run by its JSON (its
 * `limits.cpuMs`) before the loader sees it, so compression is refused by name (415, RFC 9110
 * §15.5.16), not decoded.
 */
function refuseContentEncoding(request: Request): void {
  const encoding = request.headers.get("content-encoding");
  if (encoding === null || /^\s*(identity\s*)?$/i.test(encoding)) return;
  throw new DwlHttpError(
    415,
    "invalid_request",
    `the body was sent with Content-Encoding: ${encoding.slice(0, 40)}, which this endpoint does not decode; send the JSON uncompressed`,
    [{ path: [], message: "expected an uncompressed JSON body", code: "unsupported_content_encoding" }],
    { "accept-encoding": "identity" },
  );
}

function tooLarge(maxBytes: number): DwlHttpError {
  const { type, message, issues } = bodyTooLargeError(maxBytes, "request");
  return DwlHttpError.of(type, message, issues);
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
export function issuesOf(
  error: z.core.$ZodError,
  prefix: (string | number)[] = [],
  schema?: z.ZodType,
): RequestIssue[] {
  return error.issues.flatMap((issue) => {
    const own = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    const path = [...prefix, ...own];
    if (issue.code === "unrecognized_keys" && schema) {
      const known = fieldsAt(schema, own);
      const hints = issue.keys.map((key) => closest(key, known)).filter((hint) => hint !== undefined);
      if (hints.length > 0)
        return [{ path, message: `${issue.message} (did you mean ${hints.join(", ")}?)`, code: issue.code }];
    }
    const inner = issue.code === "invalid_key" ? issue.issues : [];
    if (inner.length === 0) return [{ path, message: issue.message, code: issue.code }];
    return inner.map((keyIssue) => ({ path, message: `the key: ${keyIssue.message}`, code: "invalid_key" }));
  });
}

/** The field names of the object `schema` holds at `path` (through optionals), or none. */
function fieldsAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  const unwrapped = (s: unknown): { shape?: Record<string, unknown> } | undefined => {
    let current = s as { shape?: Record<string, unknown>; unwrap?: () => unknown } | undefined;
    while (current && !current.shape && typeof current.unwrap === "function")
      current = current.unwrap() as typeof current;
    return current;
  };
  let current = unwrapped(schema);
  for (const key of path) current = unwrapped(typeof key === "string" ? current?.shape?.[key] : undefined);
  return current?.shape ? Object.keys(current.shape) : [];
}

/** The known field a mistyped `key` most likely meant (`limit` → `limits`), as `"limits"`. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const other = name.toLowerCase();
    const distance = other.startsWith(lower) || lower.startsWith(other) ? 1 : editDistance(lower, other);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best && `"${best.name}" for "${key}"`;
}

/** Levenshtein distance of two short field names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[b.length] ?? 0;
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
  const issues = issuesOf(parsed.error, [], schema);
  const first = issues[0];
  const where = first && first.path.length > 0 ? `\`${fieldName(first.path)}\`: ` : "";
  throw DwlHttpError.of("invalid_request", `invalid request: ${where}${first?.message ?? "invalid body"}`, issues);
}
