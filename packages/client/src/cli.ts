#!/usr/bin/env node
/**
 * @module cli
 * `dwl`: the loader from a terminal, on top of `DwlClient`. Noun then verb (`dwl sandbox create`),
 * `--help` everywhere, `--json` for scripts. Exit codes: 0 done, 1 the program failed
 * (`ok: false`), 2 a request or usage error, 130 interrupted. Users run it built to JavaScript
 * (scripts/build.mjs → dist/cli.js, Node >= 20), and so do its tests (cli.node.test.ts); the
 * sources stay erasable TypeScript (no enums, namespaces or parameter properties) so that Node's
 * type stripping can run them too.
 */
import type { ExecuteResponse, SandboxDefinition, SandboxInfo, SandboxUpdate } from "@dwl/protocol";
import { createWriteStream, readFileSync, realpathSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  parseInput,
  positiveInt,
  programSettings,
  readProgram,
  readStdin,
  readStdinBytes,
  UsageError,
  type ProgramFlags,
} from "./cli/program.ts";
import { newApiKey, newEncryptionKey } from "./cli/keys.ts";
import {
  paintFor,
  renderExecution,
  renderLogs,
  renderRequestError,
  startSpinner,
  table,
  type Paint,
} from "./cli/render.ts";
import { smoke } from "./cli/smoke.ts";
import { DwlClient } from "./client.ts";
import { DwlRequestError } from "./errors.ts";

export const DEFAULT_URL = "http://127.0.0.1:8787";
/** The documented local-mode key (README "Tenants and keys"); accepted only by a local loader. */
export const DEFAULT_KEY = "dwl_local_dev";

export const EXIT_OK = 0;
export const EXIT_PROGRAM_FAILED = 1;
export const EXIT_REQUEST_ERROR = 2;
export const EXIT_INTERRUPTED = 130;
/** A bug in the CLI itself (EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
  /** Placeholder in help, e.g. `<json|@file>`. */
  arg?: string;
  help: string;
}

type Values = Record<string, string | boolean | string[] | undefined>;

interface Context {
  args: string[];
  values: Values;
  client: DwlClient;
  /** The API key `client` uses (for commands that make a client of their own). */
  key: string;
  json: boolean;
  paint: Paint;
  signal: AbortSignal;
}

interface Command {
  /** After `dwl <words>`: `<file|dir|-> [options]`. */
  usage: string;
  summary: string;
  /** Positional arguments: at least `min`, at most `max`. */
  args: [min: number, max: number];
  options?: Record<string, OptionSpec>;
  examples?: string[];
  run(ctx: Context): Promise<number>;
}

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: "string", arg: "<url>", help: `loader URL (env DWL_URL, default ${DEFAULT_URL})` },
  key: { type: "string", arg: "<key>", help: `API key (env DWL_KEY, default ${DEFAULT_KEY})` },
  json: { type: "boolean", help: "print the API's JSON answer instead of human output" },
  help: { type: "boolean", short: "h", help: "show help" },
};

const PROGRAM_OPTIONS: Record<string, OptionSpec> = {
  entry: {
    type: "string",
    arg: "<file>",
    help: "entry file of a directory (default index.ts, then index.js, then main.py)",
  },
  language: {
    type: "string",
    arg: "<language>",
    help: "javascript, typescript or python (default: python for .py files; needed for Python on stdin)",
  },
  dep: {
    type: "string",
    multiple: true,
    arg: "<name@range>",
    help: "npm dependency, repeatable (a directory's package.json dependencies are added)",
  },
  ns: { type: "string", arg: "<namespace>", help: "storage namespace of env.KV / env.FILES (default `default`)" },
  allow: {
    type: "string",
    multiple: true,
    arg: "<host>",
    help: "host the program may fetch, repeatable (api.example.com, *.example.com, host:8443)",
  },
  cred: { type: "string", multiple: true, arg: "<name>", help: "credential to inject on its hosts, repeatable" },
  "cpu-ms": { type: "string", arg: "<ms>", help: "CPU limit per run" },
  "timeout-ms": { type: "string", arg: "<ms>", help: "wall-clock limit per run" },
};

/** What `sandbox update --reset <setting>` sends: the empty value that clears the stored one. */
const CLEARED: Record<string, unknown> = { egress: {}, storage: {}, limits: {} };

const INPUT_OPTION: Record<string, OptionSpec> = {
  input: { type: "string", arg: "<json|@file>", help: "input as JSON, or @file / @- to read it" },
};

const IDEMPOTENT_OPTION: Record<string, OptionSpec> = {
  idempotent: {
    type: "boolean",
    help: "running it twice is harmless: run again after `runtime_restarted` (another run took the runtime down)",
  },
};

/** The per-call options of an execution: the interrupt signal, and `--idempotent`. */
const executeOptions = (ctx: Context) => ({ signal: ctx.signal, idempotent: ctx.values.idempotent === true });

const out = (text: string) => process.stdout.write(text);
const printJson = (value: unknown) => out(`${JSON.stringify(value, null, 2)}\n`);

/** Runs one execution with a spinner, prints it, and maps `ok` to the exit code. */
async function execution(
  ctx: Context,
  label: string,
  sources: Record<string, string>,
  call: () => Promise<ExecuteResponse>,
): Promise<number> {
  const spinner = startSpinner(`running ${label}`);
  let response: ExecuteResponse;
  try {
    response = await call();
  } finally {
    spinner.stop();
  }
  if (ctx.json) printJson(response);
  else out(renderExecution(response, sources, ctx.paint));
  return response.ok ? EXIT_OK : EXIT_PROGRAM_FAILED;
}

/** Reads the program argument and the shared flags into a sandbox definition. */
async function definition(target: string, values: Values): Promise<{ label: string; body: SandboxDefinition }> {
  const program = await readProgram(target, values.entry as string | undefined);
  const name = values.name as string | undefined;
  return {
    label: program.label,
    body: { ...programSettings(values as ProgramFlags, program.source), ...(name !== undefined ? { name } : {}) },
  };
}

/** Ctrl-C at a prompt: the process ends as interrupted (130), as during a call. */
class Interrupted extends Error {
  override name = "Interrupted";
}

/** An update's body without a program: the settings its options give (the stored program stays). */
function settingsOnly(values: Values): { label: string; body: SandboxUpdate } {
  // As the API refuses them without code: they belong to the program, and dropping one silently
  // would answer "updated" for what was not.
  for (const option of ["entry", "dep", "language"])
    if (values[option] !== undefined && !(Array.isArray(values[option]) && values[option].length === 0))
      throw new UsageError(
        `--${option} belongs to the program: give the program too (dwl sandbox update <id> <file|dir|->)`,
      );
  const name = values.name as string | undefined;
  return {
    label: "settings",
    body: { ...programSettings(values as ProgramFlags, {}), ...(name !== undefined ? { name } : {}) },
  };
}

function describeSandbox(info: SandboxInfo, paint: Paint): string {
  const rows: [string, string | undefined][] = [
    ["id", info.id],
    ["name", info.name],
    ["version", String(info.version)],
    ["entry", info.entry],
    ["url", info.url],
    ["created", info.createdAt],
    ["updated", info.updatedAt],
    [
      "dependencies",
      info.dependencies && Object.keys(info.dependencies).length
        ? Object.entries(info.dependencies)
            .map(([n, r]) => `${n}@${r}`)
            .join(", ")
        : undefined,
    ],
    ["limits", info.limits && Object.keys(info.limits).length ? JSON.stringify(info.limits) : undefined],
    ["egress", info.egress && Object.keys(info.egress).length ? JSON.stringify(info.egress) : undefined],
    ["storage", info.storage?.namespace],
  ];
  return rows
    .filter((row): row is [string, string] => row[1] !== undefined)
    .map(([k, v]) => `${paint.dim(k.padEnd(12))} ${v}`)
    .join("\n")
    .concat("\n");
}

/** Content types for `files put` when `--content-type` is not given. */
const CONTENT_TYPES: Record<string, string> = {
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".json": "application/json",
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".csv": "text/csv; charset=utf-8",
  ".pdf": "application/pdf",
};

/** A credential's value: `--value v` / `--value @file`, else piped stdin, else a hidden prompt. */
async function secretValue(flag: string | undefined, name: string): Promise<string> {
  if (flag !== undefined) {
    if (!flag.startsWith("@")) return flag;
    const path = flag.slice(1);
    try {
      return (path === "-" ? await readStdin() : await readFile(path, "utf8")).replace(/\r?\n$/, "");
    } catch {
      throw new UsageError(`--value ${flag}: cannot read ${path}`);
    }
  }
  const stdin = process.stdin;
  if (!stdin.isTTY) return (await readStdin()).replace(/\r?\n$/, "");
  process.stderr.write(`value of credential ${name} (hidden): `);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = () => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return (finish(), resolve(value));
        if (ch === "\u0003") return (finish(), reject(new Interrupted()));
        value = ch === "\u007f" || ch === "\b" ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.on("data", onData);
  });
}

const done = (ctx: Context, message: string, json: unknown) => {
  if (ctx.json) printJson(json);
  else out(`${ctx.paint.green("✓")} ${message}\n`);
  return EXIT_OK;
};

const arg = (ctx: Context, i: number) => ctx.args[i] as string;

const COMMANDS: Record<string, Command | Record<string, Command>> = {
  exec: {
    usage: "<file|dir|-> [options]",
    summary: "Run a program once: a file, a directory (multi-file program) or stdin (-).",
    args: [1, 1],
    options: { ...INPUT_OPTION, ...PROGRAM_OPTIONS, ...IDEMPOTENT_OPTION },
    examples: [
      `dwl exec prog.ts --input '{"n":21}'`,
      "dwl exec ./my-app --dep lodash@^4.17.0 --ns demo",
      "echo 'export default () => 42' | dwl exec - --json",
    ],
    async run(ctx) {
      const target = arg(ctx, 0);
      const inputFlag = ctx.values.input as string | undefined;
      if (target === "-" && inputFlag === "@-")
        throw new UsageError("the program and --input cannot both come from stdin");
      const program = await readProgram(target, ctx.values.entry as string | undefined);
      const body = { ...programSettings(ctx.values as ProgramFlags, program.source), ...(await parseInput(inputFlag)) };
      return execution(ctx, program.label, program.sources, () => ctx.client.execute(body, executeOptions(ctx)));
    },
  },
  smoke: {
    usage: "[url]",
    summary:
      "Check a loader end to end with one key: an execution, a sandbox (create, call, delete) and MCP tools/list. Exits 0 when all pass, 1 when one fails.",
    args: [0, 1],
    examples: ["dwl smoke", 'dwl smoke https://dwl-loader.example.workers.dev --key "$DWL_KEY"'],
    async run(ctx) {
      let client = ctx.client;
      if (ctx.args[0]) {
        try {
          client = new DwlClient({ url: arg(ctx, 0), key: ctx.key });
        } catch (err) {
          throw new UsageError(
            err instanceof TypeError && /key/.test(err.message)
              ? err.message.replace(/^DwlClient: /, "")
              : `${arg(ctx, 0)} is not an http(s) URL`,
          );
        }
      }
      const spinner = startSpinner(`checking ${client.url}`);
      const checks = await smoke(client, ctx.signal).finally(() => spinner.stop());
      const ok = checks.every((c) => c.ok);
      if (ctx.json) printJson({ ok, url: client.url, checks });
      else {
        const p = ctx.paint;
        for (const c of checks)
          out(`${c.ok ? p.green("✓") : p.red("✗")} ${c.name.padEnd(8)}${c.detail} ${p.dim(`${c.ms} ms`)}\n`);
        const failed = checks.filter((c) => !c.ok).length;
        out(
          ok
            ? `${p.green("✓")} ${client.url} works (MCP endpoint: ${client.url}/mcp)\n`
            : `${p.red("✗")} ${failed} of ${checks.length} checks failed on ${client.url}\n`,
        );
      }
      return ok ? EXIT_OK : EXIT_PROGRAM_FAILED;
    },
  },
  keys: {
    new: {
      usage: "[--tenant <name>] [--encryption-key]",
      summary:
        "Make an API key: printed once with its SHA-256 hash and the DWL_API_KEYS secret that accepts it (the loader stores only the hash). Nothing is sent anywhere.",
      args: [0, 0],
      options: {
        tenant: {
          type: "string",
          arg: "<name>",
          help: "tenant the key belongs to (default `default`): its storage, sandboxes and credentials",
        },
        "encryption-key": { type: "boolean", help: "also print a fresh DWL_ENCRYPTION_KEY" },
      },
      examples: [
        "dwl keys new --tenant acme",
        "npm run deploy -- --new-key   # make one and set it on the deployed Worker",
      ],
      async run(ctx) {
        const tenant = (ctx.values.tenant as string | undefined) ?? "default";
        if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(tenant))
          throw new UsageError(
            "--tenant must be 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit",
          );
        const made = newApiKey(tenant);
        const encryptionKey = ctx.values["encryption-key"] === true ? newEncryptionKey() : undefined;
        if (ctx.json) return (printJson({ ...made, ...(encryptionKey ? { encryptionKey } : {}) }), EXIT_OK);
        const p = ctx.paint;
        out(`${p.bold("API key")} (shown once; give it to the client): ${made.key}\n`);
        out(`tenant ${tenant}, sha256 ${made.sha256}\n\n`);
        out(
          `DWL_API_KEYS accepting only this key (merge entries to keep several keys):\n  ${JSON.stringify(made.apiKeys)}\n`,
        );
        if (encryptionKey) out(`\nDWL_ENCRYPTION_KEY:\n  ${encryptionKey}\n`);
        out(
          p.dim(
            `\nSet on a deployed loader: npx wrangler secret put DWL_API_KEYS   (paste the JSON; from a DWL checkout: npm run wrangler -- secret put DWL_API_KEYS)\n`,
          ),
        );
        return EXIT_OK;
      },
    },
  },
  sandbox: {
    create: {
      usage: "<file|dir|-> [options]",
      summary: "Store a program as a sandbox: it stays addressable by id and URL.",
      args: [1, 1],
      options: { name: { type: "string", arg: "<name>", help: "display name" }, ...PROGRAM_OPTIONS },
      examples: ["dwl sandbox create ./api --name todo-api"],
      async run(ctx) {
        const { label, body } = await definition(arg(ctx, 0), ctx.values);
        const spinner = startSpinner(`bundling ${label}`);
        const info = await ctx.client.sandboxes.create(body, { signal: ctx.signal }).finally(() => spinner.stop());
        if (ctx.json) return (printJson(info), EXIT_OK);
        out(
          `${ctx.paint.green("✓")} created sandbox ${ctx.paint.bold(info.id)}${info.name ? ` "${info.name}"` : ""} (version ${info.version})\n`,
        );
        out(`  ${ctx.paint.dim("url")} ${info.url}\n`);
        return EXIT_OK;
      },
    },
    list: {
      usage: "[--limit n] [--cursor c]",
      summary: "List the tenant's sandboxes (one page).",
      args: [0, 0],
      options: {
        limit: { type: "string", arg: "<n>", help: "page size (1-100)" },
        cursor: { type: "string", arg: "<cursor>", help: "the cursor a previous page ended with" },
      },
      async run(ctx) {
        const limit = positiveInt("limit", ctx.values.limit as string | undefined);
        const cursor = ctx.values.cursor as string | undefined;
        const page = await ctx.client.sandboxes.list({
          signal: ctx.signal,
          ...(limit ? { limit } : {}),
          ...(cursor ? { cursor } : {}),
        });
        if (ctx.json) return (printJson(page), EXIT_OK);
        if (page.sandboxes.length === 0) out(ctx.paint.dim("no sandboxes\n"));
        else
          out(
            table(
              ["ID", "NAME", "VERSION", "UPDATED", "URL"],
              page.sandboxes.map((s) => [s.id, s.name ?? "", String(s.version), s.updatedAt, s.url]),
              ctx.paint,
            ),
          );
        if (page.cursor) process.stderr.write(ctx.paint.dim(`more: dwl sandbox list --cursor ${page.cursor}\n`));
        return EXIT_OK;
      },
    },
    get: {
      usage: "<id>",
      summary: "Show a sandbox's definition summary.",
      args: [1, 1],
      async run(ctx) {
        const info = await ctx.client.sandboxes.get(arg(ctx, 0), { signal: ctx.signal });
        if (ctx.json) return (printJson(info), EXIT_OK);
        return (out(describeSandbox(info, ctx.paint)), EXIT_OK);
      },
    },
    update: {
      usage: "<id> [file|dir|-] [options]",
      summary:
        "Replace a sandbox's program, and the settings given as options (the others keep their values); without a program, the settings alone. Its version goes up by one.",
      args: [1, 2],
      options: {
        name: { type: "string", arg: "<name>", help: "display name" },
        ...PROGRAM_OPTIONS,
        reset: {
          type: "string",
          multiple: true,
          arg: "<setting>",
          help: `clear a stored setting instead of keeping it: ${Object.keys(CLEARED).join(", ")} (repeatable)`,
        },
      },
      async run(ctx) {
        const { label, body } =
          ctx.args.length > 1 ? await definition(arg(ctx, 1), ctx.values) : settingsOnly(ctx.values);
        for (const setting of (ctx.values.reset as string[] | undefined) ?? []) {
          if (!Object.hasOwn(CLEARED, setting))
            throw new UsageError(`--reset ${setting}: expected one of ${Object.keys(CLEARED).join(", ")}`);
          // Cleared, a value given for it too would be dropped without a word.
          if (body[setting as keyof typeof body] !== undefined)
            throw new UsageError(`--reset ${setting} clears what the other options set for it: give one or the other`);
          Object.assign(body, { [setting]: CLEARED[setting] });
        }
        if (Object.keys(body).length === 0)
          throw new UsageError("nothing to update: give a program, or options for the settings to change");
        const spinner = startSpinner(`bundling ${label}`);
        const info = await ctx.client.sandboxes
          .update(arg(ctx, 0), body, { signal: ctx.signal })
          .finally(() => spinner.stop());
        return done(ctx, `updated sandbox ${ctx.paint.bold(info.id)} to version ${info.version}`, info);
      },
    },
    delete: {
      usage: "<id>",
      summary: "Delete a sandbox: its id answers 404 at once.",
      args: [1, 1],
      async run(ctx) {
        await ctx.client.sandboxes.delete(arg(ctx, 0), { signal: ctx.signal });
        return done(ctx, `deleted sandbox ${arg(ctx, 0)}`, { deleted: arg(ctx, 0) });
      },
    },
    url: {
      usage: "<id>",
      summary: "Print the URL its fetch handler is served at. Requests to it need the API key, like every route.",
      args: [1, 1],
      async run(ctx) {
        const info = await ctx.client.sandboxes.get(arg(ctx, 0), { signal: ctx.signal });
        if (ctx.json) return (printJson({ url: info.url }), EXIT_OK);
        return (out(`${info.url}\n`), EXIT_OK);
      },
    },
    logs: {
      usage: "<id>",
      summary: "Show the logs of a sandbox's recent requests and executions.",
      args: [1, 1],
      async run(ctx) {
        const { entries } = await ctx.client.sandboxes.logs(arg(ctx, 0), { signal: ctx.signal });
        if (ctx.json) return (printJson({ entries }), EXIT_OK);
        if (entries.length === 0) out(ctx.paint.dim("no logs yet\n"));
        for (const entry of entries) {
          const prefix = ctx.paint.dim(`${entry.time} ${entry.kind.padEnd(7)} ${entry.executionId.slice(0, 8)}`);
          // An error's entry carries its message too: shown once, as the error.
          if (entry.error)
            out(`${prefix} ${ctx.paint.red(`✗ ${entry.error.type}`)} ${entry.error.name}: ${entry.error.message}\n`);
          else
            out(`${prefix} ${renderLogs([{ level: entry.level, message: entry.message, time: 0 }], ctx.paint)[0]}\n`);
        }
        return EXIT_OK;
      },
    },
    exec: {
      usage: "<id> [--input <json|@file>] [--idempotent]",
      summary: "Call a sandbox's default function once.",
      args: [1, 1],
      options: { ...INPUT_OPTION, ...IDEMPOTENT_OPTION },
      async run(ctx) {
        const id = arg(ctx, 0);
        const body = await parseInput(ctx.values.input as string | undefined);
        return execution(ctx, id, {}, () => ctx.client.sandboxes.execute(id, body, executeOptions(ctx)));
      },
    },
  },
  files: {
    get: {
      usage: "<namespace> <key> [-o <file>]",
      summary: "Download a file (to stdout, or to -o).",
      args: [2, 2],
      options: { output: { type: "string", short: "o", arg: "<file>", help: "write to this file instead of stdout" } },
      examples: ["dwl files get demo charts/pi.svg -o pi.svg"],
      async run(ctx) {
        const [namespace, key] = [arg(ctx, 0), arg(ctx, 1)];
        const response = await ctx.client.files.get(namespace, key, { signal: ctx.signal });
        if (!response)
          throw new DwlRequestError({
            status: 404,
            type: "not_found",
            message: `no file "${key}" in namespace "${namespace}"`,
          });
        const output = ctx.values.output as string | undefined;
        const body = response.body
          ? Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>)
          : Readable.from([]);
        await pipeline(body, output ? createWriteStream(output) : process.stdout, { end: Boolean(output) });
        if (output && !ctx.json) process.stderr.write(`${ctx.paint.green("✓")} ${namespace}/${key} → ${output}\n`);
        return EXIT_OK;
      },
    },
    put: {
      usage: "<namespace> <key> <file|->",
      summary: "Upload a file (or stdin) under a key.",
      args: [3, 3],
      options: {
        "content-type": { type: "string", arg: "<type>", help: "stored content type (default: from the file name)" },
      },
      examples: ["dwl files put demo reports/today.json ./today.json"],
      async run(ctx) {
        const [namespace, key, source] = [arg(ctx, 0), arg(ctx, 1), arg(ctx, 2)];
        let bytes: Uint8Array;
        try {
          bytes = source === "-" ? await readStdinBytes() : await readFile(source);
        } catch {
          throw new UsageError(`cannot read ${source}`);
        }
        const contentType =
          (ctx.values["content-type"] as string | undefined) ??
          CONTENT_TYPES[extname(source === "-" ? key : source).toLowerCase()] ??
          "application/octet-stream";
        const info = await ctx.client.files.put(namespace, key, bytes, { contentType, signal: ctx.signal });
        return done(ctx, `stored ${namespace}/${info.key} (${info.size} bytes, ${contentType})`, info);
      },
    },
    ls: {
      usage: "<namespace> [--prefix p] [--limit n] [--cursor c]",
      summary: "List files (one page).",
      args: [1, 1],
      options: {
        prefix: { type: "string", arg: "<prefix>", help: "only keys starting with this" },
        limit: { type: "string", arg: "<n>", help: "page size (1-1000)" },
        cursor: { type: "string", arg: "<cursor>", help: "the cursor a previous page ended with" },
      },
      async run(ctx) {
        const namespace = arg(ctx, 0);
        const limit = positiveInt("limit", ctx.values.limit as string | undefined);
        const { prefix, cursor } = ctx.values as { prefix?: string; cursor?: string };
        const page = await ctx.client.files.list(namespace, {
          signal: ctx.signal,
          ...(prefix ? { prefix } : {}),
          ...(cursor ? { cursor } : {}),
          ...(limit ? { limit } : {}),
        });
        if (ctx.json) return (printJson(page), EXIT_OK);
        if (page.objects.length === 0) out(ctx.paint.dim("no files\n"));
        else
          out(
            table(
              ["SIZE", "UPLOADED", "TYPE", "KEY"],
              page.objects.map((o) => [String(o.size), o.uploaded, o.httpMetadata.contentType ?? "", o.key]),
              ctx.paint,
            ),
          );
        if (page.truncated && page.cursor)
          process.stderr.write(ctx.paint.dim(`more: dwl files ls ${namespace} --cursor ${page.cursor}\n`));
        return EXIT_OK;
      },
    },
    rm: {
      usage: "<namespace> <key>...",
      summary: "Delete files (deleting a missing key succeeds).",
      args: [2, Infinity],
      async run(ctx) {
        const [namespace, ...keys] = ctx.args as [string, ...string[]];
        for (const key of keys) await ctx.client.files.delete(namespace, key, { signal: ctx.signal });
        return done(ctx, `deleted ${keys.map((k) => `${namespace}/${k}`).join(", ")}`, { deleted: keys });
      },
    },
  },
  creds: {
    set: {
      usage: "<name> --host <host>... [--value <v|@file>] [--header h] [--format f]",
      summary:
        "Store a credential (sealed by the loader, never shown again). Without --value it is read from stdin, or asked for.",
      args: [1, 1],
      options: {
        host: { type: "string", multiple: true, arg: "<host>", help: "host it may be sent to, repeatable (required)" },
        value: {
          type: "string",
          arg: "<v|@file>",
          help: "the secret, or @file / @- (prefer stdin: the command line is visible to other users)",
        },
        header: { type: "string", arg: "<header>", help: "header that carries it (default authorization)" },
        format: { type: "string", arg: "<format>", help: "header value with {value} (default `Bearer {value}`)" },
      },
      examples: ["printenv GITHUB_TOKEN | dwl creds set github --host api.github.com"],
      async run(ctx) {
        const name = arg(ctx, 0);
        const hosts = (ctx.values.host as string[] | undefined) ?? [];
        if (hosts.length === 0) throw new UsageError("--host is required (the hosts the credential may be sent to)");
        const value = await secretValue(ctx.values.value as string | undefined, name);
        const { header, format } = ctx.values as { header?: string; format?: string };
        const info = await ctx.client.credentials.set(
          name,
          { value, hosts, ...(header ? { header } : {}), ...(format ? { format } : {}) },
          { signal: ctx.signal },
        );
        return done(ctx, `stored credential ${info.name} for ${info.hosts.join(", ")} (header ${info.header})`, info);
      },
    },
    ls: {
      usage: "",
      summary: "List credentials: names and hosts, never values.",
      args: [0, 0],
      async run(ctx) {
        const list = await ctx.client.credentials.list({ signal: ctx.signal });
        if (ctx.json) return (printJson(list), EXIT_OK);
        if (list.credentials.length === 0) return (out(ctx.paint.dim("no credentials\n")), EXIT_OK);
        return (
          out(
            table(
              ["NAME", "HOSTS", "HEADER", "UPDATED"],
              list.credentials.map((c) => [c.name, c.hosts.join(","), c.header, c.updatedAt]),
              ctx.paint,
            ),
          ),
          EXIT_OK
        );
      },
    },
    rm: {
      usage: "<name>",
      summary: "Delete a credential.",
      args: [1, 1],
      async run(ctx) {
        await ctx.client.credentials.delete(arg(ctx, 0), { signal: ctx.signal });
        return done(ctx, `deleted credential ${arg(ctx, 0)}`, { deleted: arg(ctx, 0) });
      },
    },
  },
};

/** Other spellings of subcommands. */
const ALIASES: Record<string, Record<string, string>> = {
  sandbox: { ls: "list", rm: "delete", run: "exec" },
  files: { list: "ls", delete: "rm", cat: "get" },
  creds: { list: "ls", delete: "rm", put: "set" },
};
const GROUP_ALIASES: Record<string, string> = {
  sandboxes: "sandbox",
  file: "files",
  credentials: "creds",
  run: "exec",
};

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(
    ([name, spec]) =>
      [`${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.arg ? ` ${spec.arg}` : ""}`, spec.help] as const,
  );
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return rows.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`);
}

function commandHelp(words: string, command: Command): string {
  const lines = [`Usage: dwl ${words}${command.usage ? ` ${command.usage}` : ""}`, "", command.summary];
  if (command.options) lines.push("", "Options:", ...optionLines(command.options));
  lines.push("", "Global options:", ...optionLines(GLOBAL_OPTIONS));
  if (command.examples) lines.push("", "Examples:", ...command.examples.map((e) => `  ${e}`));
  return `${lines.join("\n")}\n`;
}

function groupHelp(group: string, commands: Record<string, Command>): string {
  const rows = Object.entries(commands).map(
    ([name, c]) => [`dwl ${group} ${name} ${c.usage}`.trimEnd(), short(c.summary)] as const,
  );
  const width = Math.max(...rows.map(([u]) => u.length));
  return `Usage: dwl ${group} <command> [options]\n\nCommands:\n${rows.map(([u, s]) => `  ${u.padEnd(width)}  ${s}`).join("\n")}\n\nRun \`dwl ${group} <command> --help\` for its options.\n`;
}

/** First clause of a summary, for command lists. */
const short = (summary: string) => (summary.split(/[.:] /)[0] ?? summary).replace(/\.$/, "");

function mainHelp(): string {
  const rows: [string, string][] = [];
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const commands: [string, Command][] =
      "run" in entry
        ? [[name, entry as Command]]
        : Object.entries(entry as Record<string, Command>).map(([sub, c]) => [`${name} ${sub}`, c]);
    for (const [words, c] of commands)
      rows.push([
        `${words} ${c.usage.replace(/\s*\[options\]/, "").split(/(?:^| )\[?--?[a-z]/)[0] ?? ""}`.trimEnd(),
        short(c.summary),
      ]);
  }
  const width = Math.max(...rows.map(([u]) => u.length));
  return [
    "dwl: run JavaScript, TypeScript and Python on a Dynamic Worker Loader",
    "",
    "Usage: dwl <command> [options]",
    "",
    "Commands:",
    ...rows.map(([u, s]) => `  ${u.padEnd(width)}  ${s}`),
    "",
    "Global options:",
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: "boolean", help: "print the version" } }),
    "",
    "Exit codes: 0 done, 1 the program failed (ok: false), 2 request or usage error, 130 interrupted.",
    "Run `dwl <command> --help` for a command's options.",
    "",
  ].join("\n");
}

/** From package.json: beside the built dist/cli.js, one level up from src/cli.ts. */
function version(): string {
  for (const path of ["./package.json", "../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "@dwl/client" && pkg.version) return pkg.version;
    } catch {
      // not in this layout
    }
  }
  return "unknown";
}

type ParseOptions = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;
const toParseOptions = (specs: Record<string, OptionSpec>): ParseOptions =>
  Object.fromEntries(
    Object.entries(specs).map(([name, { type, multiple, short }]) => [
      name,
      { type, ...(multiple ? { multiple } : {}), ...(short ? { short } : {}) },
    ]),
  );

/** Runs the CLI on `argv` (without `node cli.ts`) and answers the exit code. */
export async function main(argv: string[], signal: AbortSignal = new AbortController().signal): Promise<number> {
  const paint = paintFor(process.stdout);
  const errPaint = paintFor(process.stderr);
  // First pass, lenient: find the command words (the leading positionals).
  const loose = parseArgs({
    args: argv,
    options: { ...toParseOptions(GLOBAL_OPTIONS), version: { type: "boolean" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positionals = loose.tokens.filter((t) => t.kind === "positional");
  const [first, second] = positionals;
  if (!first) {
    if (loose.values.version) return (out(`${version()}\n`), EXIT_OK);
    if (loose.values.help) return (out(mainHelp()), EXIT_OK);
    const unknown = loose.tokens.find((t) => t.kind === "option" && !Object.hasOwn(GLOBAL_OPTIONS, t.name));
    if (unknown?.kind === "option") throw new UsageError(`unknown option '${unknown.rawName}'; run \`dwl --help\``);
    process.stderr.write(mainHelp());
    return EXIT_REQUEST_ERROR;
  }
  const groupName = GROUP_ALIASES[first.value] ?? first.value;
  const entry = COMMANDS[groupName];
  if (!entry) throw new UsageError(`unknown command "${first.value}"; run \`dwl --help\``);
  let command: Command;
  let words: string;
  let used = [first.index];
  if ("run" in entry) {
    command = entry as Command;
    words = groupName;
  } else {
    const group = entry as Record<string, Command>;
    const subName = second ? (ALIASES[groupName]?.[second.value] ?? second.value) : undefined;
    if (!second || !subName || !group[subName]) {
      if (!second && loose.values.help) return (out(groupHelp(groupName, group)), EXIT_OK);
      process.stderr.write(second ? `unknown command "${groupName} ${second.value}"\n\n` : "");
      process.stderr.write(groupHelp(groupName, group));
      return EXIT_REQUEST_ERROR;
    }
    command = group[subName] as Command;
    words = `${groupName} ${subName}`;
    used = [first.index, second.index];
  }
  if (loose.values.help) return (out(commandHelp(words, command)), EXIT_OK);

  // Second pass, strict: this command's options.
  const rest = argv.filter((_, i) => !used.includes(i));
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: toParseOptions({ ...GLOBAL_OPTIONS, ...command.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    // parseArgs' own advice about `--` is beside the point here: keep its first sentence.
    throw new UsageError(
      `${((err as Error).message.split(". ")[0] ?? "").replace(/\.$/, "")}; run \`dwl ${words} --help\``,
    );
  }
  const [min, max] = command.args;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    throw new UsageError(
      `expected ${min === max ? min : `${min}${max === Infinity ? " or more" : `-${max}`}`} argument${max === 1 ? "" : "s"}, got ${parsed.positionals.length} (usage: dwl ${words} ${command.usage})`,
    );
  }
  const values = parsed.values as Values;
  const key = (values.key as string | undefined) ?? process.env.DWL_KEY ?? DEFAULT_KEY;
  let client: DwlClient;
  try {
    client = new DwlClient({ url: (values.url as string | undefined) ?? process.env.DWL_URL ?? DEFAULT_URL, key });
  } catch (err) {
    // A bad --url or --key (or DWL_URL, DWL_KEY): a usage error, not a crash.
    throw new UsageError((err as Error).message.replace(/^DwlClient: /, ""));
  }
  const json = values.json === true;
  try {
    return await command.run({ args: parsed.positionals, values, client, key, json, paint, signal });
  } catch (err) {
    if (err instanceof DwlRequestError) {
      if (err.type === "aborted") return EXIT_INTERRUPTED;
      if (json)
        printJson({
          error: {
            type: err.type,
            status: err.status,
            message: err.message,
            ...(err.issues ? { issues: err.issues } : {}),
          },
        });
      else process.stderr.write(renderRequestError(err, errPaint));
      return EXIT_REQUEST_ERROR;
    }
    throw err;
  }
}

/** Whether this module is the process's entry (a package bin is a symlink to it), not an import. */
function isEntry(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/**
 * Runs the CLI as a process: `argv` without `node cli.js`, Ctrl-C aborts the call in flight, and the
 * exit code goes to `process.exitCode`. The package bin calls it on import; the repository's
 * launcher (bin/dwl.mjs) calls it after building.
 */
export function runProcess(argv: string[] = process.argv.slice(2)): Promise<void> {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  return main(argv, controller.signal).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const paint = paintFor(process.stderr);
      if (err instanceof Interrupted) {
        process.exitCode = EXIT_INTERRUPTED;
        return;
      }
      if (err instanceof UsageError) process.stderr.write(`${paint.red(paint.bold("error:"))} ${err.message}\n`);
      else process.stderr.write(`${paint.red(paint.bold("dwl crashed:"))} ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = err instanceof UsageError ? EXIT_REQUEST_ERROR : EXIT_INTERNAL;
    },
  );
}

if (isEntry()) void runProcess();
