/**
 * @module run/request-check
 * The one check of a program request, and the only place that decides its 400 or 413: the
 * bytes of `code`/`files`, the entry file, the bytes and depth of `input`, the `egress` rules and
 * that the named credentials exist, and the `tools`. Every way into a program passes through it
 * with the fields it has: `POST /execute`, `POST /sandboxes` and `PUT /sandboxes/:id` (the
 * definition), `POST /sandboxes/:id/execute` (the stored settings and `input`),
 * `ANY /sandboxes/:id/http/*` (the stored settings) and the MCP `execute` tool. The status of
 * each refusal comes from its type (errors.ts REQUEST_ERROR_STATUS).
 */
import {
  defaultEntry,
  type ExecuteRequest,
  isPythonProgram,
  DEFAULT_ENTRIES,
  PYTHON_DEFAULT_ENTRY,
  type RequestIssue,
} from "@dwl/protocol";
import type { z } from "zod";
import { CredentialStore } from "../egress/credential-store.ts";
import { encryptionKey } from "../egress/encryption-key.ts";
import { EgressRuleError, formatRule, parseAllowRule } from "../egress/policy.ts";
import type { EgressScope } from "../egress/run-egress.ts";
import { DwlHttpError } from "../errors.ts";
import { clampLimits, type EffectiveLimits, MAX_INPUT_DEPTH, programBodyCap, type ServerLimits } from "../limits.ts";
import { SINGLE_MODULE_NAME, sourceBytes } from "../program-source.ts";
import { toolDefinition, TOOLS } from "../tools/registry.ts";
import { parseJson, readBodyText, validate } from "../validate.ts";
import type { ExecutionContext } from "./context.ts";

/** Whatever part of a program request an entry point has; absent fields are not checked. */
export type ProgramRequestFields = Partial<
  Pick<ExecuteRequest, "code" | "files" | "entry" | "language" | "input" | "limits" | "egress" | "tools">
>;

/**
 * What the check leaves for the run, computed once: its limits, the canonical egress scope and
 * tool names.
 */
export interface CheckedProgram {
  /** The entry file, when the fields carry a program source (`files`' default or `entry`). */
  entry?: string;
  /** `limits` with the defaults and the server's maxima applied. */
  limits: EffectiveLimits;
  egress: EgressScope;
  /** Sorted, unique. */
  tools: string[];
}

/**
 * Reads a program request's JSON body under {@link programBodyCap} and validates it with
 * `schema`. `emptyAs` stands for an empty body (a sandbox call without input).
 */
export async function readProgramRequest<S extends z.ZodType>(
  request: Request,
  schema: S,
  server: ServerLimits,
  emptyAs?: string,
): Promise<z.infer<S>> {
  const text = await readBodyText(request, programBodyCap(server));
  return validate(schema, parseJson(text === "" && emptyAs !== undefined ? emptyAs : text));
}

/**
 * Checks every field present, in a fixed order, and throws the request's DwlHttpError: 413
 * (`payload_too_large`) for oversized code, files or input, 400 (`invalid_request`) for the rest.
 */
export async function checkProgramRequest(
  fields: ProgramRequestFields,
  context: ExecutionContext,
): Promise<CheckedProgram> {
  const { server } = context;
  if (fields.code !== undefined || fields.files !== undefined) checkSourceBytes(fields, server);
  if (fields.input !== undefined) checkInput(fields.input, server);
  const egress = await checkEgress(fields.egress, context);
  const tools = checkTools(fields.tools);
  const single = isPythonProgram(fields) ? PYTHON_DEFAULT_ENTRY : SINGLE_MODULE_NAME;
  const entry =
    fields.files !== undefined
      ? (fields.entry ?? checkedDefaultEntry(fields.files))
      : fields.code !== undefined
        ? single
        : undefined;
  return { ...(entry !== undefined ? { entry } : {}), limits: clampLimits(fields.limits, server), egress, tools };
}

function checkSourceBytes(fields: ProgramRequestFields, server: ServerLimits): void {
  const bytes = sourceBytes(fields);
  if (bytes <= server.maxCodeBytes) return;
  const field = fields.code !== undefined ? "code" : "files";
  throw DwlHttpError.of(
    "payload_too_large",
    `\`${field}\` is ${bytes} bytes, over the ${server.maxCodeBytes}-byte limit`,
    [{ path: [field], message: `at most ${server.maxCodeBytes} bytes`, code: "too_big" }],
  );
}

function checkInput(input: unknown, server: ServerLimits): void {
  if (jsonDepth(input, MAX_INPUT_DEPTH) > MAX_INPUT_DEPTH) {
    throw DwlHttpError.of("invalid_request", `\`input\` is nested more than ${MAX_INPUT_DEPTH} levels deep`, [
      { path: ["input"], message: `at most ${MAX_INPUT_DEPTH} levels of nesting`, code: "too_deep" },
    ]);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(input)).byteLength;
  if (bytes > server.maxInputBytes) {
    throw DwlHttpError.of(
      "payload_too_large",
      `\`input\` is ${bytes} bytes of JSON, over the ${server.maxInputBytes}-byte limit`,
      [{ path: ["input"], message: `at most ${server.maxInputBytes} bytes`, code: "too_big" }],
    );
  }
}

/** Nesting depth of a JSON value, walked without recursion; stops counting past `limit`. */
function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== "object") continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** Canonical allow rules (sorted, unique) and credentials that exist for the tenant. */
async function checkEgress(egress: ExecuteRequest["egress"], { env, tenant }: ExecutionContext): Promise<EgressScope> {
  const allow = (egress?.allow ?? []).map((text, index) => {
    try {
      return formatRule(parseAllowRule(text));
    } catch (err) {
      if (!(err instanceof EgressRuleError)) throw err;
      throw DwlHttpError.of("invalid_request", err.message, [
        { path: ["egress", "allow", index], message: err.message },
      ]);
    }
  });
  const credentials = [...new Set(egress?.credentials ?? [])].sort();
  if (credentials.length > 0) {
    const store = new CredentialStore(env.KV, tenant, encryptionKey(env));
    for (const [index, name] of credentials.entries()) {
      if (!(await store.exists(name))) {
        throw DwlHttpError.of(
          "invalid_request",
          `no credential named "${name}": create it with PUT /credentials/${name}`,
          [{ path: ["egress", "credentials", index], message: `no credential named "${name}"` }],
        );
      }
    }
  }
  return { allow: [...new Set(allow)].sort(), credentials };
}

function checkTools(names: readonly string[] | undefined): string[] {
  (names ?? []).forEach((name, index) => {
    if (!toolDefinition(name)) {
      throw DwlHttpError.of(
        "invalid_request",
        `unknown tool "${name}": available tools are ${Object.keys(TOOLS).join(", ")}`,
        [{ path: ["tools", index], message: `unknown tool "${name}"` }],
      );
    }
  });
  return [...new Set(names ?? [])].sort();
}

/** The default entries of a JavaScript or TypeScript program, as a sentence names them. */
const JAVASCRIPT_ENTRIES = DEFAULT_ENTRIES.filter((name) => name !== PYTHON_DEFAULT_ENTRY)
  .join(", ")
  .replace(/, ([^,]*)$/, " or $1");

function checkedDefaultEntry(files: Record<string, string>): string {
  const entry = defaultEntry(files);
  if (entry !== undefined) return entry;
  const expected = Object.keys(files).some((path) => path.endsWith(".py")) ? PYTHON_DEFAULT_ENTRY : JAVASCRIPT_ENTRIES;
  const issue: RequestIssue = {
    path: ["entry"],
    message: `required when \`files\` has no ${expected}`,
    code: "custom",
  };
  throw DwlHttpError.of("invalid_request", `no entry file: add ${expected} to \`files\`, or set \`entry\``, [issue]);
}
