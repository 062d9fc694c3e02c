/**
 * @dwl/client as a new user gets it, on plain Node >= 20 (a Node older than 22 from PATH when
 * there is one, as on a fresh machine; else this Node with type stripping off):
 * - packed: scripts/build.mjs, `npm pack`, `npm install <tarball>` into a scratch project (zod comes
 *   from the npm registry or npm's cache), then the SDK from TypeScript (`tsc --noEmit`, types must
 *   resolve) and plain JS, and the installed `dwl` bin; `@dwl/client/ai` beside the user's own `ai`;
 * - from a checkout: `npx dwl` and `npm run dwl -- …` from another folder, with paths relative to
 *   that folder.
 * The loader is a loopback stub that echoes the request (the real one is cli.node.test.ts's).
 */
import { execFile, execFileSync } from "node:child_process";
import { once } from "node:events";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CLIENT = fileURLToPath(new URL("../", import.meta.url));
const REPO = join(CLIENT, "../..");
const TSC = join(REPO, "node_modules/typescript/bin/tsc");
/** npm may fetch zod; everything else is local. */
const STEP_TIMEOUT_MS = 45_000;

/** The oldest `node` on PATH when it predates type stripping (22.18), else undefined. */
function oldNode(): { bin: string; version: string } | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const bin = join(dir, "node");
    try {
      const version = execFileSync(bin, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
      const [major = 0, minor = 0] = version.split(".").map(Number);
      if (major < 22 || (major === 22 && minor < 18)) return { bin, version };
    } catch {
      // not there
    }
  }
  return undefined;
}

const old = oldNode();
/**
 * A user's shell: `node`/`npm`/`npx` on PATH are the old Node's when found, no npm script
 * variables (npm_*, INIT_CWD) from the test runner, no colours.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(npm_|INIT_CWD$|NODE_OPTIONS$|FORCE_COLOR$)/i.test(k)) env[k] = v;
  if (old) env.PATH = `${dirname(old.bin)}${delimiter}${env.PATH}`;
  else env.NODE_OPTIONS = "--no-experimental-strip-types";
  return {
    ...env,
    NO_COLOR: "1",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    ...extra,
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, env = userEnv()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: STEP_TIMEOUT_MS, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Type-checks `file` in `project` as a user's strict TypeScript project would, with no output.
 * nodenext: the strictest reading of the exports map. skipLibCheck keeps zod's own declarations
 * out of it (10 s more); the tests' own assertions fail if our types degrade to any.
 */
async function expectTypeChecks(project: string, config: string, file: string): Promise<void> {
  const compilerOptions = {
    target: "es2022",
    module: "nodenext",
    moduleResolution: "nodenext",
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ["es2022", "dom"],
    types: [],
  };
  writeFileSync(join(project, config), JSON.stringify({ compilerOptions, files: [file] }));
  const tsc = await run(process.execPath, [TSC, "-p", config], project);
  expect(tsc.stdout + tsc.stderr).toBe("");
  expect(tsc.code).toBe(0);
}

/** `node` as the user has it. */
const node = (args: string[], cwd: string, env?: NodeJS.ProcessEnv) =>
  run(old?.bin ?? process.execPath, args, cwd, env);

let stub: Server;
let stubUrl: string;
let scratch: string;
beforeAll(async () => {
  // A loader that answers every execution with ok, echoing the request body and key.
  stub = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/execute") return void res.writeHead(404).end();
      const echo = { body: JSON.parse(body) as unknown, authorization: req.headers.authorization ?? null };
      const timing = { totalMs: 1, bundleMs: 0, startMs: 0, runMs: 1, cached: false };
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ ok: true, result: echo, logs: [], egress: [], timing, executionId: "stub" }));
    });
  });
  stub.listen(0, "127.0.0.1");
  await once(stub, "listening");
  stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  scratch = mkdtempSync(join(tmpdir(), "dwl-package-"));
});
afterAll(() => {
  stub?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("the packed @dwl/client", () => {
  let project: string;
  beforeAll(async () => {
    const build = await node([join(CLIENT, "scripts/build.mjs")], REPO);
    expect(build.stderr).toBe("");
    expect(build.code).toBe(0);
    const pack = await run("npm", ["pack", join(CLIENT, "dist"), "--pack-destination", scratch, "--json"], scratch);
    expect(pack.code, pack.stderr).toBe(0);
    const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    expect(packed?.files.map((f) => f.path).sort()).toEqual(
      expect.arrayContaining([
        "LICENSE",
        "README.md",
        "ai.js",
        "cli.js",
        "index.js",
        "package.json",
        "types/client/src/ai.d.ts",
        "types/client/src/index.d.ts",
      ]),
    );
    project = join(scratch, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    const install = await run(
      "npm",
      ["install", join(scratch, packed!.filename), "--no-audit", "--no-fund", "--prefer-offline"],
      project,
    );
    expect(install.code, install.stderr).toBe(0);
  }, 2 * STEP_TIMEOUT_MS);

  it("ships ESM JS, declarations, an exports map, bin, README and LICENSE, and no .ts or workspace import", () => {
    const dir = join(project, "node_modules/@dwl/client");
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg).toMatchObject({
      type: "module",
      license: "MIT",
      bin: { dwl: "./cli.js" },
      exports: { ".": { types: expect.stringMatching(/\.d\.ts$/), import: "./index.js" } },
    });
    expect(Object.keys(pkg.dependencies as object)).toEqual(["zod"]);
    // `@dwl/client/ai` imports the user's own `ai`; installing the SDK never pulls it in.
    expect(pkg).toMatchObject({
      exports: { "./ai": { import: "./ai.js" } },
      peerDependencies: { ai: expect.any(String) },
      peerDependenciesMeta: { ai: { optional: true } },
    });
    expect(readdirSync(join(project, "node_modules"))).not.toContain("ai");
    expect(readFileSync(join(dir, "LICENSE"), "utf8")).toMatch(/^MIT License/);
    const files = readdirSync(dir, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    for (const f of files.filter((f) => /\.(js|d\.ts)$/.test(f)))
      expect(readFileSync(join(dir, f), "utf8"), f).not.toMatch(/(from\s*|import\s*\()"(@dwl\/protocol|[^"]*\.ts)"/);
  });

  it(
    "type-checks a TypeScript user's program (the types resolve, they are not any)",
    async () => {
      writeFileSync(
        join(project, "use.ts"),
        [
          'import { DwlClient, DwlRequestError, type ExecuteResponse, type SandboxInfo } from "@dwl/client";',
          "type IsAny<T> = 0 extends 1 & T ? true : false;",
          "const notAny: [IsAny<ExecuteResponse>, IsAny<SandboxInfo>, IsAny<DwlClient>] = [false, false, false];",
          'const dwl = new DwlClient({ url: "http://127.0.0.1:8787", key: "dwl_local_dev" });',
          'const run: ExecuteResponse = await dwl.execute({ code: "export default () => 1", input: 21 });',
          "const summary: string = run.ok ? JSON.stringify(run.result) : `${run.error.type}: ${run.error.message}`;",
          'const app: SandboxInfo = await dwl.sandboxes.get("demo");',
          "const status = (e: unknown): number | undefined => (e instanceof DwlRequestError ? e.status : undefined);",
          "// @ts-expect-error `code` is source text, not a number",
          "await dwl.execute({ code: 5 });",
          "export { notAny, summary, app, status };",
          "",
        ].join("\n"),
      );
      await expectTypeChecks(project, "tsconfig.json", "use.ts");
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "runs from plain JavaScript against a loader",
    async () => {
      writeFileSync(
        join(project, "use.mjs"),
        'import { DwlClient } from "@dwl/client";\nconst dwl = new DwlClient({ url: process.argv[2], key: "k1" });\nconsole.log(JSON.stringify(await dwl.execute({ code: "export default () => 1", input: 21 })));\n',
      );
      const js = await node(["use.mjs", stubUrl], project);
      expect(js.stderr).toBe("");
      expect(JSON.parse(js.stdout)).toMatchObject({
        ok: true,
        result: { body: { code: "export default () => 1", input: 21 }, authorization: "Bearer k1" },
      });
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "gives `@dwl/client/ai` to a project that has `ai`: types resolve against the user's own `ai`, and it imports",
    async () => {
      // The project's `ai` stands in for the user's `npm install ai` (no registry round trip).
      symlinkSync(realpathSync(join(CLIENT, "node_modules/ai")), join(project, "node_modules/ai"), "dir");
      writeFileSync(
        join(project, "agent.ts"),
        [
          'import { generateText, type Tool } from "ai";',
          'import { DwlClient, codeModeFunction, toAnthropicTool, toOpenAITool, type CodeModeResult } from "@dwl/client";',
          'import { codeModeTool } from "@dwl/client/ai";',
          "type IsAny<T> = 0 extends 1 & T ? true : false;",
          'const dwl = new DwlClient({ url: "http://127.0.0.1:8787", key: "dwl_local_dev" });',
          'const tool = await codeModeTool(dwl, { storage: { namespace: "agent" } });',
          "const notAny: [IsAny<typeof tool>, IsAny<CodeModeResult>] = [false, false];",
          "const asTool: Tool = tool;",
          'declare const model: Parameters<typeof generateText>[0]["model"];',
          'const run = () => generateText({ model, tools: { execute_program: tool }, prompt: "hi" });',
          "// The tool parameter types of the openai and @anthropic-ai/sdk packages, as they declare them.",
          "type OpenAITool = { type: 'function'; function: { name: string; description?: string; parameters?: { [key: string]: unknown }; strict?: boolean | null } };",
          "type AnthropicTool = { name: string; description?: string; input_schema: { type: 'object'; properties?: unknown | null; required?: Array<string> | null; [k: string]: unknown } };",
          "const fn = await codeModeFunction(dwl);",
          "const openai: OpenAITool = toOpenAITool(fn);",
          "const anthropic: AnthropicTool = toAnthropicTool(fn);",
          "export { notAny, asTool, run, openai, anthropic };",
          "",
        ].join("\n"),
      );
      await expectTypeChecks(project, "tsconfig.ai.json", "agent.ts");
      // `ai` needs Node >= 22 itself, so this runs on this Node, not the old one.
      writeFileSync(
        join(project, "agent.mjs"),
        'const { codeModeTool } = await import("@dwl/client/ai");\nconsole.log(typeof codeModeTool);\n',
      );
      const js = await run(process.execPath, ["agent.mjs"], project);
      expect(js.stderr).toBe("");
      expect(js.stdout.trim()).toBe("function");
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "installs a `dwl` bin that runs, with paths from the caller's folder",
    async () => {
      const help = await run(join(project, "node_modules/.bin/dwl"), ["--help"], project);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toContain("Usage: dwl <command> [options]");
      mkdirSync(join(project, "src"));
      writeFileSync(join(project, "src/job.js"), "export default () => 'from src/job.js';\n");
      const exec = await run("npx", ["dwl", "exec", "job.js", "--json", "--url", stubUrl], join(project, "src"));
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toContain("from src/job.js");
    },
    STEP_TIMEOUT_MS,
  );
});

describe("dwl from a checkout", () => {
  let here: string;
  beforeAll(() => {
    // Inside the repository (.dwl/ is ignored) but not its root: npx finds the root's bin.
    mkdirSync(join(REPO, ".dwl"), { recursive: true });
    here = mkdtempSync(join(REPO, ".dwl", "cli-caller-"));
    writeFileSync(join(here, "prog.js"), "export default () => 'from the caller folder';\n");
  });
  afterAll(() => {
    if (here) rmSync(here, { recursive: true, force: true });
  });

  it(
    "`npx dwl` builds and runs the CLI, reading files from the current folder",
    async () => {
      const exec = await run("npx", ["dwl", "exec", "prog.js", "--json", "--url", stubUrl], here);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toContain("from the caller folder");
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "`npm run dwl -- …` reads files from the folder it was run in, not the repository root",
    async () => {
      const exec = await run(
        "npm",
        ["run", "--silent", "dwl", "--", "exec", "prog.js", "--json", "--url", stubUrl],
        here,
      );
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toContain("from the caller folder");
    },
    STEP_TIMEOUT_MS,
  );
});
