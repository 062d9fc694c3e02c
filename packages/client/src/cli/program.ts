/**
 * @module cli/program
 * What the CLI sends as a program: a file, a directory (multi-file program) or stdin, plus the
 * flags that shape it (`--dep`, `--ns`, `--allow`, `--cred`, limits) and `--input`. Node-only.
 */
import type { ExecuteRequest, ProgramLanguage } from "@dwl/protocol";
import { defaultEntry, PROGRAM_LANGUAGES, SOURCE_FILE_EXTENSIONS } from "@dwl/protocol";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";

/** A problem with the command line or a local file: exit code 2, no request sent. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Never part of a program directory. */
const SKIPPED_DIRECTORIES = new Set(["node_modules"]);
/** Refuse to walk a directory larger than this many source files (a wrong directory, most likely). */
const MAX_DIRECTORY_FILES = 1_000;

/** The program part of a request, plus the sources kept locally to show the user's failing line. */
export interface LocalProgram {
  /** For messages: the path given, or `stdin`. */
  label: string;
  source: Pick<ExecuteRequest, "code" | "files" | "entry" | "dependencies">;
  /** File name as the loader reports it → its text. */
  sources: Record<string, string>;
}

/** All of stdin, as bytes (`files put … -` may be binary). */
export async function readStdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function readStdin(): Promise<string> {
  return (await readStdinBytes()).toString("utf8");
}

const isSourceFile = (name: string) => SOURCE_FILE_EXTENSIONS.some((ext) => name.endsWith(ext));

async function walk(root: string, dir: string, out: Record<string, string>): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.has(entry.name)) await walk(root, full, out);
    } else if (entry.isFile() && isSourceFile(entry.name)) {
      if (Object.keys(out).length >= MAX_DIRECTORY_FILES)
        throw new UsageError(`${root} has more than ${MAX_DIRECTORY_FILES} source files; is it the right directory?`);
      out[relative(root, full).split(sep).join("/")] = await readFile(full, "utf8");
    }
  }
}

/** `dependencies` of a program directory's package.json, if it has one. */
async function packageDependencies(dir: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(join(dir, "package.json"), "utf8");
  } catch {
    return {};
  }
  try {
    const deps = (JSON.parse(text) as { dependencies?: unknown }).dependencies;
    return deps && typeof deps === "object" ? (deps as Record<string, string>) : {};
  } catch (err) {
    throw new UsageError(`${join(dir, "package.json")} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads `target`: `-` is stdin (one module, `code`); a file is sent under its own name so that
 * stacks and compile errors name it; a directory becomes `files` with every source file below it
 * (skipping dot-entries and node_modules), entry `--entry` or index.ts/index.js, and the
 * `dependencies` of its package.json.
 */
export async function readProgram(target: string, entry: string | undefined): Promise<LocalProgram> {
  if (target === "-") {
    if (process.stdin.isTTY)
      throw new UsageError(
        "reading the program from stdin, but stdin is a terminal: pipe a file in (`dwl exec - < prog.ts`)",
      );
    const code = await readStdin();
    if (entry !== undefined) throw new UsageError("--entry only applies to a directory");
    return { label: "stdin", source: { code }, sources: { "index.ts": code } };
  }
  let info;
  try {
    info = await stat(target);
  } catch {
    throw new UsageError(`no such file or directory: ${target}`);
  }
  if (info.isDirectory()) {
    const files: Record<string, string> = {};
    await walk(target, target, files);
    const names = Object.keys(files);
    if (names.length === 0) throw new UsageError(`no source files (${SOURCE_FILE_EXTENSIONS.join(" ")}) in ${target}`);
    if (entry !== undefined && !(entry in files))
      throw new UsageError(
        `--entry ${entry}: no such file in ${target} (has ${names.slice(0, 5).join(", ")}${names.length > 5 ? ", …" : ""})`,
      );
    const chosen = entry ?? defaultEntry(files);
    if (chosen === undefined)
      throw new UsageError(`${target} has no index.ts, index.js or main.py: name the entry file with --entry`);
    const dependencies = await packageDependencies(target);
    return {
      label: target,
      source: { files, entry: chosen, ...(Object.keys(dependencies).length > 0 ? { dependencies } : {}) },
      sources: files,
    };
  }
  const text = await readFile(target, "utf8");
  if (entry !== undefined) throw new UsageError("--entry only applies to a directory");
  const name = basename(target);
  // Sent as `files` under its own name (stacks say `prog.ts:3:7`); `code` when the name would be refused.
  if (isSourceFile(name) && /^[^/\\]+$/.test(name) && name !== "." && name !== "..") {
    return { label: target, source: { files: { [name]: text }, entry: name }, sources: { [name]: text } };
  }
  return { label: target, source: { code: text }, sources: { "index.ts": text } };
}

/** `--dep name@range` (repeatable; `@scope/pkg@^1`; no range means `latest`). */
export function parseDependencies(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const at = value.lastIndexOf("@");
    const [name, range] = at > 0 ? [value.slice(0, at), value.slice(at + 1)] : [value, "latest"];
    if (!name || !range) throw new UsageError(`--dep ${value}: expected name@range, e.g. --dep lodash@^4.17.0`);
    out[name] = range;
  }
  return out;
}

/** `--input <json|@file|@->`: a JSON value, inline or read from a file (or stdin). */
export async function parseInput(value: string | undefined): Promise<{ input?: unknown }> {
  if (value === undefined) return {};
  let text = value;
  let from = "--input";
  if (value.startsWith("@")) {
    const path = value.slice(1);
    from = path === "-" ? "stdin" : path;
    try {
      text = path === "-" ? await readStdin() : await readFile(path, "utf8");
    } catch {
      throw new UsageError(`--input ${value}: cannot read ${path}`);
    }
  }
  try {
    return { input: JSON.parse(text) };
  } catch (err) {
    throw new UsageError(
      `${from} is not valid JSON (${(err as Error).message}); a string must be quoted: --input '"text"'`,
    );
  }
}

/** A positive integer flag (`--cpu-ms`, `--timeout-ms`, `--limit`). */
export function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive integer, got "${value}"`);
  return n;
}

export interface ProgramFlags {
  dep?: string[] | undefined;
  ns?: string | undefined;
  allow?: string[] | undefined;
  cred?: string[] | undefined;
  "cpu-ms"?: string | undefined;
  "timeout-ms"?: string | undefined;
  language?: string | undefined;
}

/** The request fields the shared program flags set (dependencies from flags override package.json). */
export function programSettings(
  flags: ProgramFlags,
  base: LocalProgram["source"],
): Omit<ExecuteRequest, "input" | "request"> {
  const dependencies = { ...base.dependencies, ...parseDependencies(flags.dep ?? []) };
  const cpuMs = positiveInt("cpu-ms", flags["cpu-ms"]);
  const timeoutMs = positiveInt("timeout-ms", flags["timeout-ms"]);
  const language = flags.language;
  if (language !== undefined && !(PROGRAM_LANGUAGES as readonly string[]).includes(language)) {
    throw new UsageError(`--language ${language}: expected one of ${PROGRAM_LANGUAGES.join(", ")}`);
  }
  return {
    ...base,
    ...(language !== undefined ? { language: language as ProgramLanguage } : {}),
    ...(Object.keys(dependencies).length > 0 ? { dependencies } : {}),
    ...(flags.ns !== undefined ? { storage: { namespace: flags.ns } } : {}),
    ...(flags.allow?.length || flags.cred?.length
      ? {
          egress: {
            ...(flags.allow?.length ? { allow: flags.allow } : {}),
            ...(flags.cred?.length ? { credentials: flags.cred } : {}),
          },
        }
      : {}),
    ...(cpuMs !== undefined || timeoutMs !== undefined
      ? { limits: { ...(cpuMs !== undefined ? { cpuMs } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) } }
      : {}),
  };
}
