/**
 * @module execute
 * Wire format of `POST /execute` (SPEC.md). Field names are normative.
 */
import { z } from "zod";
import { ExecutionErrorSchema } from "./errors.ts";

/** Paths of `files`: relative, forward slashes, no `..`, one of the supported extensions. */
export const SOURCE_FILE_EXTENSIONS = [".ts", ".tsx", ".js", ".mjs", ".jsx", ".json", ".py"] as const;

/** Languages a program can be written in; Python runs on Pyodide (SPEC "Python programs"). */
export const PROGRAM_LANGUAGES = ["javascript", "typescript", "python"] as const;
export const ProgramLanguageSchema = z.enum(PROGRAM_LANGUAGES);
export type ProgramLanguage = z.infer<typeof ProgramLanguageSchema>;

/** The entry of a Python program's `files` when the request names none, and the name of its `code`. */
export const PYTHON_DEFAULT_ENTRY = "main.py";
/** Entry files looked for, in this order, when a request with `files` names no `entry`. */
export const DEFAULT_ENTRIES = [
  "index.ts",
  "index.js",
  "index.tsx",
  "index.jsx",
  "index.mjs",
  PYTHON_DEFAULT_ENTRY,
] as const;

/** The entry of `files` when none is named: the first DEFAULT_ENTRIES present, else the only file. */
export function defaultEntry(files: Record<string, string>): string | undefined {
  const names = Object.keys(files);
  return DEFAULT_ENTRIES.find((name) => name in files) ?? (names.length === 1 ? names[0] : undefined);
}

/** A program is Python when it says so, or when its files are `.py` files. */
export function isPythonProgram(body: {
  language?: ProgramLanguage | undefined;
  files?: Record<string, string> | undefined;
}): boolean {
  if (body.language !== undefined) return body.language === "python";
  return body.files !== undefined && Object.keys(body.files).some((path) => path.endsWith(".py"));
}

/**
 * Checks that only make sense across fields of a program source: one language per program, and
 * the npm `dependencies` only for JavaScript. Shared by `/execute` and `/sandboxes`.
 */
export function checkProgramLanguage(
  body: {
    language?: ProgramLanguage | undefined;
    files?: Record<string, string> | undefined;
    dependencies?: Record<string, string> | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const paths = body.files === undefined ? [] : Object.keys(body.files);
  const python = isPythonProgram(body);
  if (python) {
    const foreign = paths.find((path) => !path.endsWith(".py") && !path.endsWith(".json"));
    const py = paths.find((path) => path.endsWith(".py"));
    if (foreign !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["files", foreign],
        // Taken for Python only because of a .py file: say that the two are mixed, not which is wrong.
        message:
          body.language === undefined && py !== undefined
            ? `a program is JavaScript/TypeScript or Python, not both: ${foreign} and ${py} are mixed (set "language" to say which, and leave out the other's files)`
            : "a Python program has only .py (and .json data) files",
      });
    if (body.dependencies !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["dependencies"],
        message: "npm `dependencies` are for JavaScript programs; a Python program uses the standard library",
      });
  } else {
    const py = paths.find((path) => path.endsWith(".py"));
    if (py !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["files", py],
        message: `a .py file belongs to a Python program: set "language": "python" (or give only .py files)`,
      });
  }
}

export const SourcePathSchema = z
  .string()
  .min(1)
  .max(256)
  .refine(
    (p) => !p.startsWith("/") && !p.includes("\\") && !p.split("/").some((s) => s === ".." || s === "." || s === ""),
    {
      message: "must be a relative path with forward slashes and no '.', '..' or empty segments",
    },
  )
  .refine((p) => SOURCE_FILE_EXTENSIONS.some((ext) => p.endsWith(ext)), {
    message: `must end in one of ${SOURCE_FILE_EXTENSIONS.join(" ")}`,
  });

/**
 * A requested limit: any whole number from `min`, however large, since the server caps it at its
 * maximum (z.int() would refuse 1e20 while 1e12 is capped).
 */
const requestedLimit = (min: number) =>
  z.number().min(min).refine(Number.isInteger, { message: "expected a whole number" }).meta({ type: "integer" });

export const LimitsSchema = z.strictObject({
  cpuMs: requestedLimit(1).optional(),
  /** 0: the program may make no request at all. */
  subRequests: requestedLimit(0).optional(),
  timeoutMs: requestedLimit(1).optional(),
});
export type Limits = z.infer<typeof LimitsSchema>;

export const EgressSchema = z.strictObject({
  allow: z.array(z.string().min(1).max(253)).max(100).optional(),
  credentials: z.array(z.string().min(1).max(64)).max(20).optional(),
});

/** A tenant's storage namespace: 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit. */
export const NamespaceSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    "must be 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit",
  );

export const StorageSchema = z.strictObject({
  namespace: NamespaceSchema.optional(),
});

/** Standard base64 with its padding, as `atob` reads it strictly. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** For programs that export a `fetch` handler: the request they are invoked with. */
export const ProgramRequestSchema = z
  .strictObject({
    method: z
      .string()
      .regex(HTTP_TOKEN, "must be an HTTP method")
      .refine(
        (m) => !["CONNECT", "TRACE", "TRACK"].includes(m.toUpperCase()),
        "CONNECT, TRACE and TRACK cannot be sent to a program",
      )
      .optional(),
    path: z.string().startsWith("/", "must start with '/'").max(8192).optional(),
    headers: z
      .record(
        z.string().regex(HTTP_TOKEN, "header names must be HTTP tokens"),
        z.string().refine((v) => !/[\r\n\0]/.test(v), "header values must not contain CR, LF or NUL"),
      )
      .optional(),
    body: z.string().optional(),
    /** How `body` is written: `text` (the default, sent as UTF-8) or `base64` (binary bytes). */
    bodyEncoding: z.enum(["text", "base64"]).optional(),
  })
  .superRefine((request, ctx) => {
    const method = (request.method ?? "GET").toUpperCase();
    if (request.body !== undefined && (method === "GET" || method === "HEAD")) {
      ctx.addIssue({ code: "custom", path: ["body"], message: `a ${method} request cannot have a body` });
    }
    if (request.bodyEncoding === "base64" && request.body !== undefined && !BASE64.test(request.body)) {
      ctx.addIssue({
        code: "custom",
        path: ["body"],
        message: "bodyEncoding is base64, but body is not base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4)",
      });
    }
  });
export type ProgramRequest = z.infer<typeof ProgramRequestSchema>;

/** The cross-field part of a program source, as every schema that carries one sees it. */
export interface ProgramSourceFields {
  code?: string | undefined;
  files?: Record<string, string> | undefined;
  entry?: string | undefined;
  language?: ProgramLanguage | undefined;
  dependencies?: Record<string, string> | undefined;
}

/**
 * The one cross-field check of a program source, shared by `/execute` (and MCP `execute`) and
 * `/sandboxes`: exactly one of `code` and `files`, an `entry` that names one of the `files`, and
 * one language per program ({@link checkProgramLanguage}).
 */
export function checkProgramSource(body: ProgramSourceFields, ctx: z.RefinementCtx): void {
  if (body.code === undefined && body.files === undefined) {
    ctx.addIssue({ code: "custom", path: ["code"], message: "either `code` or `files` is required" });
  }
  if (body.code !== undefined && body.files !== undefined) {
    ctx.addIssue({ code: "custom", path: ["files"], message: "give either `code` or `files`, not both" });
  }
  if (body.files !== undefined && Object.keys(body.files).length === 0) {
    ctx.addIssue({ code: "custom", path: ["files"], message: "must name at least one file" });
  }
  if (body.entry !== undefined && body.files === undefined) {
    ctx.addIssue({ code: "custom", path: ["entry"], message: "`entry` only applies with `files`" });
  }
  if (body.entry !== undefined && body.files !== undefined && !(body.entry in body.files)) {
    ctx.addIssue({ code: "custom", path: ["entry"], message: `no file named "${body.entry}" in \`files\`` });
  }
  checkProgramLanguage(body, ctx);
}

/** Fields shared by `/execute` and `/sandboxes`: what the program is and what it may use. */
export const ProgramSourceShape = {
  code: z.string().optional(),
  /** Default: python when `files` are `.py`, otherwise JavaScript/TypeScript (told apart by the bundler). */
  language: ProgramLanguageSchema.optional(),
  files: z.record(SourcePathSchema, z.string()).optional(),
  entry: SourcePathSchema.optional(),
  dependencies: z.record(z.string().min(1).max(214), z.string().min(1).max(256)).optional(),
  limits: LimitsSchema.optional(),
  egress: EgressSchema.optional(),
  storage: StorageSchema.optional(),
  tools: z.array(z.string().min(1).max(64)).max(32).optional(),
};

export const ExecuteRequestSchema = z
  .strictObject({
    ...ProgramSourceShape,
    /** Any JSON value. Not re-validated: it arrives through JSON.parse (or the client's JSON.stringify). */
    input: z.unknown().optional(),
    request: ProgramRequestSchema.optional(),
  })
  .superRefine(checkProgramSource);
export type ExecuteRequest = z.infer<typeof ExecuteRequestSchema>;

export const LOG_LEVELS = ["log", "info", "warn", "error", "debug"] as const;
export const LogEntrySchema = z.object({
  level: z.enum(LOG_LEVELS),
  message: z.string(),
  /** Milliseconds since the run started. */
  time: z.number(),
});
export type LogEntry = z.infer<typeof LogEntrySchema>;

export const EgressRecordSchema = z.object({
  method: z.string(),
  url: z.string(),
  status: z.number().int(),
  ms: z.number(),
  credentials: z.array(z.string()).optional(),
  denied: z.string().optional(),
  /** The request left but got no answer (DNS, connection or TLS failed): why; `status` is then 0. */
  error: z.string().optional(),
  /** The redirects followed before `url`, in order: each hop's URL, status and credentials sent. */
  redirects: z
    .array(z.object({ url: z.string(), status: z.number().int(), credentials: z.array(z.string()).optional() }))
    .optional(),
});
export type EgressRecord = z.infer<typeof EgressRecordSchema>;

export const TimingSchema = z.object({
  totalMs: z.number(),
  bundleMs: z.number(),
  startMs: z.number(),
  runMs: z.number(),
  /** The bundle came from cache (no resolution, no bundling). */
  cached: z.boolean(),
});
export type Timing = z.infer<typeof TimingSchema>;

/** What a Worker-module program answered (shape 3): body as text, or base64 when binary. */
export const ProgramResponseSchema = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  /** Each Set-Cookie header on its own (present when there is one); `headers["set-cookie"]` joins them with ", ". */
  setCookies: z.array(z.string()).optional(),
  body: z.string(),
  bodyEncoding: z.enum(["text", "base64"]).optional(),
});
export type ProgramResponse = z.infer<typeof ProgramResponseSchema>;

const responseCommon = {
  logs: z.array(LogEntrySchema),
  /** Set when `logs` was cut at the line or byte limit (a final entry says how much was dropped). */
  logsTruncated: z.boolean().optional(),
  egress: z.array(EgressRecordSchema),
  timing: TimingSchema,
  executionId: z.string(),
  /** The limits the run had, after defaults and the server's maxima were applied. */
  limits: z.object({ cpuMs: z.number(), subRequests: z.number(), timeoutMs: z.number() }).optional(),
};

export const ExecuteResponseSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), result: z.json(), ...responseCommon }),
  z.object({ ok: z.literal(false), error: ExecutionErrorSchema, ...responseCommon }),
]);
export type ExecuteResponse = z.infer<typeof ExecuteResponseSchema>;
