/**
 * The `dwl` CLI as a user runs it (the bundled `cli.js` that the launcher bin/dwl.mjs and the
 * package run, in a child process) against the real loader over HTTP: output, `--json`, exit
 * codes. Plus the local program reading.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../../../test-support/dev-server.ts";
import { buildJs } from "../scripts/build.mjs";
import { programSettings, readProgram, UsageError } from "./cli/program.ts";

let server: DevServerClient;
let dir: string;
/** The CLI's bundle, in a folder of this file's own: package.node.test.ts rebuilds dist/ meanwhile. */
let built: string;
let CLI: string;
beforeAll(async () => {
  // Inside the package, where the bundle's `zod` import resolves. Starting plain JS instead of
  // the .ts sources also saves each of the ~50 runs below ~0.12 s (0.18 against 0.30 s).
  built = mkdtempSync(fileURLToPath(new URL("../.cli-test-", import.meta.url)));
  await buildJs({ force: true, outDir: built });
  CLI = join(built, "cli.js");
  dir = mkdtempSync(join(tmpdir(), "dwl-cli-"));
  write(
    "ok.ts",
    'export default (input: { n: number }) => {\n  console.log("n is", input.n);\n  console.warn("careful");\n  return { doubled: input.n * 2 };\n};\n',
  );
  write("fail.ts", "export default () => {\n  const xs: number[] = [];\n  return xs[0].toFixed(2);\n};\n");
  write("broken.ts", "export default () => {\n  const x = [;\n};\n");
  write(
    "app/index.ts",
    'import { area } from "./lib/geometry";\nexport default (input: { w: number; h: number }) => area(input);\n',
  );
  write(
    "app/lib/geometry.ts",
    "export interface Rect { w: number; h: number }\nexport const area = (r: Rect) => {\n  if (r.w < 0) throw new RangeError('negative width');\n  return r.w * r.h;\n};\n",
  );
  write("app/README.md", "not a module");
  write("input.json", '{ "w": 2, "h": 3 }');
  write(
    "server.ts",
    "export default { fetch(req: Request) { console.log('hit', new URL(req.url).pathname); return new Response('hi'); } };\n",
  );
  server = await sharedDevServer();
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (built) rmSync(built, { recursive: true, force: true });
});

function write(name: string, text: string): void {
  mkdirSync(join(dir, name, ".."), { recursive: true });
  writeFileSync(join(dir, name), text);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `dwl args…` in the fixture directory, against the test loader, without colours. */
function dwl(args: string[], options: { stdin?: string; env?: Record<string, string | undefined> } = {}): Promise<Run> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    DWL_URL: server.base,
    DWL_KEY: "dwl_local_dev",
    NO_COLOR: "1",
    FORCE_COLOR: undefined,
    ...options.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: env as NodeJS.ProcessEnv });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}

describe("dwl exec", () => {
  it("prints logs, the result and a timing line, and exits 0", async () => {
    const run = await dwl(["exec", "ok.ts", "--input", '{"n":21}']);
    expect(run.code).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines.slice(0, 5)).toEqual(["log   n is 21", "warn  careful", "{", '  "doubled": 42', "}"]);
    expect(lines[5]).toMatch(/^✓ ok in \d+(\.\d)? ms · bundle .* · start .* · run .* · [0-9a-f-]{36}$/);
    expect(run.stderr).toBe("");
  });

  it("shows a failure with the user's line and exits 1", async () => {
    const run = await dwl(["exec", "fail.ts"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("✗ runtime TypeError: Cannot read properties of undefined (reading 'toFixed')");
    expect(run.stdout).toContain(
      "  --> fail.ts:3:16\n    |\n  3 |   return xs[0].toFixed(2);\n    |                ^\n",
    );
    expect(run.stdout).toMatch(/\n {2}at .*fail\.ts:3:16\)?\n/);
    expect(run.stdout).toMatch(/\n✗ failed in \d+/);
  });

  it("shows a compile error at its location and exits 1", async () => {
    const run = await dwl(["exec", "broken.ts"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("✗ compile");
    expect(run.stdout).toContain("  --> broken.ts:2:");
    expect(run.stdout).toContain("  2 |   const x = [;");
    // An unlisted package: the loader's advice is JSON; the CLI's is the flag.
    write("unlisted.ts", 'import { z } from "zod";\nexport default () => typeof z;\n');
    const unlisted = await dwl(["exec", "unlisted.ts"], { env: { NO_COLOR: "1" } });
    expect(unlisted.code).toBe(1);
    expect(unlisted.stdout).toContain("with the CLI: --dep zod@*");
    // A host the run may not reach: the loader's advice names egress.allow; the CLI's, the flag.
    write("egress.ts", 'export default () => fetch("https://api.example.com/x");\n');
    const denied = await dwl(["exec", "egress.ts"], { env: { NO_COLOR: "1" } });
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain("with the CLI: --allow api.example.com");
    // A credential that does not exist: the loader's advice is the route; the CLI's, the command.
    const noCredential = await dwl(["exec", "egress.ts", "--cred", "nosuchcred"], { env: { NO_COLOR: "1" } });
    expect(noCredential.code).toBe(2);
    expect(noCredential.stderr).toContain("with the CLI: dwl creds set nosuchcred");
  });

  it("runs a directory as a multi-file program, with --input @file and --json", async () => {
    const run = await dwl(["exec", "app", "--input", "@input.json", "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, result: 6, logs: [] });
  });

  it("names the directory's files in a failure (human output)", async () => {
    const run = await dwl(["exec", "app", "--input", '{"w":-1,"h":1}']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("✗ runtime RangeError: negative width");
    expect(run.stdout).toContain("--> lib/geometry.ts:3:");
    expect(run.stdout).toContain("  3 |   if (r.w < 0) throw new RangeError('negative width');");
  });

  it("prints ok:false as JSON and exits 1 with --json", async () => {
    const run = await dwl(["exec", "fail.ts", "--json"]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { type: "runtime", name: "TypeError" } });
  });

  it("reads the program from stdin with -", async () => {
    const run = await dwl(["exec", "-", "--input", "4", "--json"], { stdin: "(n: number) => n * n" });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, result: 16 });
  });

  it("runs Python: a .py file, a directory with main.py, and stdin with --language python", async () => {
    write("calc.py", "def main(input, env):\n    return input * 3\n");
    expect(JSON.parse((await dwl(["exec", "calc.py", "--input", "5", "--json"])).stdout)).toMatchObject({
      ok: true,
      result: 15,
    });
    write("pyapp/main.py", "import helper\nhelper.VALUE\n");
    write("pyapp/helper.py", "VALUE = 'from a folder'\n");
    expect(JSON.parse((await dwl(["exec", "pyapp", "--json"])).stdout)).toMatchObject({
      ok: true,
      result: "from a folder",
    });
    const piped = await dwl(["exec", "-", "--language", "python", "--json"], { stdin: "print('hi')\n6 * 7" });
    expect(JSON.parse(piped.stdout)).toMatchObject({ ok: true, result: 42, logs: [{ level: "log", message: "hi" }] });
    expect((await dwl(["exec", "-", "--language", "cobol"], { stdin: "1" })).code).toBe(2);
    // A Python error points at the program's own line, as a JS one does.
    write(
      "raise.py",
      "def check(n):\n    if n < 0:\n        raise ValueError('negative')\n\ndef main(input, env):\n    check(-1)\n",
    );
    const failed = await dwl(["exec", "raise.py"], { env: { NO_COLOR: "1" } });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("--> raise.py:3:9");
    expect(failed.stdout).toContain("raise ValueError('negative')");
  });

  it("passes limits: --timeout-ms ends a slow program with `timeout`", async () => {
    write("slow.ts", "export default () => new Promise((r) => setTimeout(r, 5000));\n");
    const run = await dwl(["exec", "slow.ts", "--timeout-ms", "200", "--json"]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { type: "timeout" }, limits: { timeoutMs: 200 } });
  });

  it("colours log levels when asked to (FORCE_COLOR), never by default in a pipe", async () => {
    const coloured = await dwl(["exec", "ok.ts", "--input", '{"n":1}'], {
      env: { NO_COLOR: undefined, FORCE_COLOR: "1" },
    });
    expect(coloured.stdout).toContain("\x1b[33mwarn \x1b[39m careful");
    const plain = await dwl(["exec", "ok.ts", "--input", '{"n":1}'], { env: { NO_COLOR: undefined } });
    expect(plain.stdout).not.toContain("\x1b[");
  });
});

describe("request and usage errors exit 2", () => {
  it("a wrong key: a 401 on stderr", async () => {
    const run = await dwl(["exec", "ok.ts", "--key", "wrong"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("error: unauthorized (401): ");
  });

  it("an empty key or one with a space: a usage error, before any request", async () => {
    for (const key of ["", "two words"]) {
      const run = await dwl(["exec", "ok.ts", "--key", key]);
      expect(run.code, key).toBe(2);
      expect(run.stderr, key).toMatch(/key (is required|may hold only printable ASCII)/);
      expect(run.stderr, key).not.toContain("at ");
    }
  });

  it("a 400 lists the fields at fault; --json prints the error as JSON", async () => {
    const human = await dwl(["exec", "ok.ts", "--ns", "bad namespace!"]);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain("error: invalid_request (400)");
    expect(human.stderr).toContain("  storage.namespace: ");
    const json = await dwl(["exec", "ok.ts", "--ns", "bad namespace!", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: { type: "invalid_request", status: 400, issues: [{ path: ["storage", "namespace"] }] },
    });
  });

  it("no loader listening: a network error that says what to do", async () => {
    const run = await dwl(["exec", "ok.ts", "--url", "http://127.0.0.1:9"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("error: network: cannot reach http://127.0.0.1:9");
  });

  it("a connection lost mid-request: says the program may have run, not that nothing listens", async () => {
    // A server that takes the request and closes without answering.
    const { createServer } = await import("node:net");
    const closer = createServer((socket) => socket.once("data", () => socket.destroy()));
    await new Promise<void>((resolve) => closer.listen(0, "127.0.0.1", resolve));
    try {
      const port = (closer.address() as { port: number }).port;
      const run = await dwl(["exec", "ok.ts", "--url", `http://127.0.0.1:${port}`]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("was lost before the answer");
      expect(run.stderr).toContain("may have been received and run");
      expect(run.stderr).not.toContain("is the loader running");
    } finally {
      closer.close();
    }
  });

  it("bad flags, arguments and inputs never send a request", async () => {
    for (const args of [
      ["exec", "ok.ts", "--bogus"],
      ["exec"],
      ["exec", "missing.ts"],
      ["exec", "ok.ts", "--input", "{nope"],
      ["exec", "ok.ts", "--cpu-ms", "-1"],
      ["nope"],
      ["--frobnicate"],
    ]) {
      const run = await dwl(args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toMatch(/^error: /);
    }
  });
});

describe("--help", () => {
  it("answers on every command", async () => {
    const commands = [[], ["exec"], ["sandbox"], ["files"], ["creds"]];
    for (const sub of ["create", "list", "get", "update", "delete", "url", "logs", "exec"])
      commands.push(["sandbox", sub]);
    for (const sub of ["get", "put", "ls", "rm"]) commands.push(["files", sub]);
    for (const sub of ["set", "ls", "rm"]) commands.push(["creds", sub]);
    const runs = await Promise.all(commands.map((words) => dwl([...words, "--help"])));
    runs.forEach((run, i) => {
      const words = commands[i]?.join(" ") ?? "";
      expect(run.code, words).toBe(0);
      expect(run.stdout, words).toContain(words === "" ? "Usage: dwl <command>" : `Usage: dwl ${words}`);
    });
    expect(runs[0]?.stdout).toContain("--url <url>");
  });
});

describe("dwl files and creds", () => {
  it("puts, lists, gets and removes a file", async () => {
    write("chart.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
    const put = await dwl(["files", "put", "cli", "charts/chart.svg", "chart.svg"]);
    expect(put.code).toBe(0);
    expect(put.stdout).toBe("✓ stored cli/charts/chart.svg (41 bytes, image/svg+xml)\n");
    const ls = await dwl(["files", "ls", "cli"]);
    expect(ls.stdout).toMatch(/^SIZE +UPLOADED +TYPE +KEY\n41 +\S+ +image\/svg\+xml +charts\/chart\.svg\n$/);
    const get = await dwl(["files", "get", "cli", "charts/chart.svg"]);
    expect(get).toMatchObject({ code: 0, stdout: "<svg xmlns='http://www.w3.org/2000/svg'/>" });
    const rm = await dwl(["files", "rm", "cli", "charts/chart.svg"]);
    expect(rm.code).toBe(0);
    const missing = await dwl(["files", "get", "cli", "charts/chart.svg"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("not_found");
  });

  it("sets a credential from stdin, lists it without its value, removes it", async () => {
    const set = await dwl(["creds", "set", "gh", "--host", "api.github.com"], { stdin: "ghp_from_stdin\n" });
    expect(set).toMatchObject({
      code: 0,
      stdout: "✓ stored credential gh for api.github.com (header authorization)\n",
    });
    const ls = await dwl(["creds", "ls", "--json"]);
    expect(JSON.parse(ls.stdout).credentials).toMatchObject([{ name: "gh", hosts: ["api.github.com"] }]);
    expect(ls.stdout).not.toContain("ghp_from_stdin");
    expect((await dwl(["creds", "rm", "gh"])).code).toBe(0);
    expect((await dwl(["creds", "rm", "gh"])).code).toBe(2);
  });
});

describe("dwl sandbox", () => {
  it("keeps a sandbox's settings on update, and clears one with --reset", async () => {
    const created = await dwl([
      "sandbox",
      "create",
      "server.ts",
      "--allow",
      "api.example.com",
      "--ns",
      "kept",
      "--json",
    ]);
    const { id } = JSON.parse(created.stdout) as { id: string };
    const kept = JSON.parse((await dwl(["sandbox", "update", id, "server.ts", "--json"])).stdout);
    expect(kept).toMatchObject({ egress: { allow: ["api.example.com"] }, storage: { namespace: "kept" } });
    const reset = await dwl(["sandbox", "update", id, "server.ts", "--reset", "egress", "--json"]);
    const info = JSON.parse(reset.stdout) as { egress?: { allow?: string[] }; storage?: { namespace?: string } };
    expect([info.egress?.allow, info.storage?.namespace]).toEqual([undefined, "kept"]);
    const wrong = await dwl(["sandbox", "update", id, "server.ts", "--reset", "name"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("--reset name: expected one of egress, storage, limits");
    // Without a program: the settings alone, the stored program kept.
    const settings = await dwl(["sandbox", "update", id, "--ns", "moved", "--name", "renamed", "--json"]);
    expect(settings.code).toBe(0);
    expect(JSON.parse(settings.stdout)).toMatchObject({ name: "renamed", storage: { namespace: "moved" }, version: 4 });
    for (const [options, message] of [
      [["--reset", "storage", "--ns", "x"], "--reset storage clears what the other options set for it"],
      [[], "nothing to update"],
    ] as const) {
      const refused = await dwl(["sandbox", "update", id, ...options]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(message);
    }
    for (const option of [
      ["--entry", "x.ts"],
      ["--dep", "zod@3"],
      ["--language", "python"],
    ]) {
      const refused = await dwl(["sandbox", "update", id, ...option]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`${option[0]} belongs to the program`);
    }
    await dwl(["sandbox", "delete", id]);
  });

  it("creates, shows, updates, executes, logs and deletes a sandbox", async () => {
    const created = await dwl(["sandbox", "create", "server.ts", "--name", "cli-api", "--json"]);
    expect(created.code).toBe(0);
    const info = JSON.parse(created.stdout) as { id: string; url: string };

    const url = await dwl(["sandbox", "url", info.id]);
    expect(url.stdout).toBe(`${info.url}\n`);
    const list = await dwl(["sandbox", "list"]);
    expect(list.stdout).toMatch(new RegExp(`\\n${info.id} +cli-api +1 `));
    const get = await dwl(["sandbox", "get", info.id]);
    expect(get.stdout).toContain("entry        server.ts");

    const updated = await dwl(["sandbox", "update", info.id, "ok.ts"]);
    expect(updated.stdout).toBe(`✓ updated sandbox ${info.id} to version 2\n`);
    const run = await dwl(["sandbox", "exec", info.id, "--input", '{"n":5}']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"doubled": 10');

    let logs: Run;
    const until = Date.now() + 10_000;
    do logs = await dwl(["sandbox", "logs", info.id]);
    while (!logs.stdout.includes("n is 5") && Date.now() < until);
    expect(logs.stdout).toMatch(/execute [0-9a-f]{8} log {3}n is 5/);

    // A failed run's entry is shown once, as the error.
    await dwl(["sandbox", "update", info.id, "fail.ts"]);
    expect((await dwl(["sandbox", "exec", info.id])).code).toBe(1);
    const untilError = Date.now() + 10_000;
    do logs = await dwl(["sandbox", "logs", info.id]);
    while (!logs.stdout.includes("✗ runtime") && Date.now() < untilError);
    expect(logs.stdout.split("\n").filter((line) => line.includes("Cannot read properties of undefined"))).toHaveLength(
      1,
    );

    expect((await dwl(["sandbox", "delete", info.id])).stdout).toBe(`✓ deleted sandbox ${info.id}\n`);
    const gone = await dwl(["sandbox", "get", info.id]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("not_found (404)");
  });
});

describe("dwl smoke and dwl keys", () => {
  it("checks an execution, a sandbox and MCP tools/list on the URL given, and exits 0", async () => {
    const run = await dwl(["smoke", server.base], { env: { DWL_URL: "http://127.0.0.1:9" } });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^✓ execute POST \/execute → 42 /);
    expect(lines[1]).toMatch(/^✓ sandbox POST \/sandboxes → GET \/sandboxes\/[^/]+\/http\/ping → DELETE /);
    expect(lines[2]).toMatch(/^✓ mcp {5}POST \/mcp tools\/list → search, execute /);
    expect(lines[3]).toBe(`✓ ${server.base} works (MCP endpoint: ${server.base}/mcp)`);
    const { sandboxes } = (await (
      await fetch(`${server.base}/sandboxes`, { headers: { authorization: "Bearer dwl_local_dev" } })
    ).json()) as { sandboxes: { name?: string }[] };
    expect(sandboxes.filter((s) => s.name === "dwl-smoke")).toEqual([]);
  });

  it("reports each failed check with --json and exits 1 when the key is refused", async () => {
    const run = await dwl(["smoke", "--json", "--key", "dwl_wrong"]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.map((c) => [c.name, c.ok, c.detail.split(":")[0]])).toEqual([
      ["execute", false, "unauthorized (401)"],
      ["sandbox", false, "unauthorized (401)"],
      ["mcp", false, "unauthorized (401)"],
    ]);
  });

  it("makes an API key whose SHA-256 is the DWL_API_KEYS entry, and an encryption key", async () => {
    const run = await dwl(["keys", "new", "--tenant", "acme", "--encryption-key", "--json"]);
    expect(run.code).toBe(0);
    const made = JSON.parse(run.stdout) as {
      key: string;
      sha256: string;
      apiKeys: Record<string, string>;
      encryptionKey: string;
    };
    expect(made.key).toMatch(/^dwl_[A-Za-z0-9_-]{43}$/);
    expect(made.apiKeys).toEqual({ [createHash("sha256").update(made.key).digest("hex")]: "acme" });
    expect(made.encryptionKey.length).toBeGreaterThanOrEqual(32);
    expect((await dwl(["keys", "new", "--tenant", "../x"])).code).toBe(2);
  });
});

describe("reading programs (cli/program.ts)", () => {
  it("takes a directory's package.json dependencies; --dep adds and overrides", async () => {
    write("deps/index.js", "export default () => 1");
    write("deps/package.json", JSON.stringify({ dependencies: { lodash: "^4.17.0", zod: "^3" } }));
    write("deps/node_modules/lodash/index.js", "ignored");
    write("deps/.cache/x.js", "ignored");
    const program = await readProgram(join(dir, "deps"), undefined);
    expect(Object.keys(program.source.files ?? {}).sort()).toEqual(["index.js", "package.json"]);
    expect(program.source.entry).toBe("index.js");
    const body = programSettings(
      {
        dep: ["zod@^4.1.0", "@scope/pkg@1.2.3", "left-pad"],
        ns: "demo",
        allow: ["api.example.com"],
        cred: ["gh"],
        "cpu-ms": "100",
      },
      program.source,
    );
    expect(body).toMatchObject({
      dependencies: { lodash: "^4.17.0", zod: "^4.1.0", "@scope/pkg": "1.2.3", "left-pad": "latest" },
      storage: { namespace: "demo" },
      egress: { allow: ["api.example.com"], credentials: ["gh"] },
      limits: { cpuMs: 100 },
    });
  });

  it("asks for --entry when a directory has no index file", async () => {
    write("noindex/a.ts", "export const a = 1");
    write("noindex/b.ts", "export default () => 2");
    await expect(readProgram(join(dir, "noindex"), undefined)).rejects.toThrow(UsageError);
    expect((await readProgram(join(dir, "noindex"), "b.ts")).source.entry).toBe("b.ts");
  });

  it("sends a single file under its own name", async () => {
    expect((await readProgram(join(dir, "ok.ts"), undefined)).source).toMatchObject({
      entry: "ok.ts",
      files: { "ok.ts": expect.any(String) },
    });
  });
});
