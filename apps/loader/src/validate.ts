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

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
    message: issue.message,
    code: issue.code,
  }));
  const first = issues[0];
  const where = first && first.path.length > 0 ? `\`${first.path.join(".")}\`: ` : "";
  throw DwlHttpError.of("invalid_request", `invalid request: ${where}${first?.message ?? "invalid body"}`, issues);
}
