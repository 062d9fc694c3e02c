/**
 * Python programs through real requests to `npm run dev` (SPEC: Python programs). Node-side with
 * its own dev server: under the vitest workerd pool's inspector, Pyodide runs ~10× slower.
 */
import { createHash } from "node:crypto";
import { ExecuteResponseSchema, type ExecuteResponse } from "@dwl/protocol";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../../test-support/dev-server.ts";
import { startEchoServer, type EchoServer } from "../../../test-support/echo-server.ts";

const OTHER_KEY = "dwl_python_other_tenant";
/** DWL_PYTHON_HEAP_BYTES of the server: 64 MiB, of which a started child uses ~31 MB. */
const HEAP_BYTES = 64 * 1024 * 1024;
/** DWL_PYTHON_MAX_CHILDREN of the server: the tests before the last two start four children. */
const MAX_CHILDREN = 4;
let server: DevServer;
let upstream: EchoServer;

beforeAll(async () => {
  upstream = await startEchoServer();
  const keys = JSON.stringify({ [createHash("sha256").update(OTHER_KEY).digest("hex")]: "other" });
  // The tests here are about the loader's Python turns and places, which a key's concurrent runs
  // must reach together: the supervisor would otherwise admit a key whose Python runs took the
  // thread long one run at a time (DWL_KEY_THREAD_MS).
  server = await startDevServer({ DWL_KEY_THREAD_MS: "1000000" }, [
    "--var",
    "DWL_EGRESS_ALLOW_LOOPBACK:true",
    "--var",
    `DWL_API_KEYS:${keys}`,
    "--var",
    `DWL_PYTHON_HEAP_BYTES:${HEAP_BYTES}`,
    "--var",
    `DWL_PYTHON_MAX_CHILDREN:${MAX_CHILDREN}`,
    "--var",
    "DWL_PYTHON_MAX_ONE_OFF:2",
  ]);
  // The first Python run of a tenant starts its child; later tests measure runs, not that.
  await run({ language: "python", code: "None" });
  await run({ language: "python", code: "None" }, OTHER_KEY);
}, 180_000);

afterAll(async () => {
  server?.stop();
  await upstream?.close();
});

async function run(body: Record<string, unknown>, key?: string): Promise<ExecuteResponse> {
  const res = await server.post("/execute", body, key);
  const json = await res.json();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${JSON.stringify(json)}`);
  return ExecuteResponseSchema.parse(json);
}

function ok(res: ExecuteResponse) {
  if (!res.ok) throw new Error(`expected ok, got ${JSON.stringify(res.error)}; logs ${JSON.stringify(res.logs)}`);
  return res;
}

function failed(res: ExecuteResponse) {
  if (res.ok) throw new Error(`expected a failure, got ${JSON.stringify(res.result)}`);
  return res;
}

describe("Python programs", { timeout: 60_000 }, () => {
  it("answers the last expression, with print as log lines and sys.stderr as error lines", async () => {
    const res = ok(
      await run({
        language: "python",
        code: 'import sys\nprint("sampled", 3)\nprint("careful", file=sys.stderr)\n{"pi": round(3.14159, 2), "t": (1, 2)}',
      }),
    );
    expect(res.result).toEqual({ pi: 3.14, t: [1, 2] });
    expect(res.logs.map(({ level, message }) => [level, message])).toEqual([
      ["log", "sampled 3"],
      ["error", "careful"],
    ]);
  });

  it("calls main(input, env), sync or async, and takes .py files as Python without `language`", async () => {
    const sync = ok(
      await run({ files: { "main.py": "def main(input, env):\n    return input['n'] * 2" }, input: { n: 21 } }),
    );
    expect(sync.result).toBe(42);
    // A `request` reaches no Python program: said, as for a JS program without a fetch handler.
    const requested = ok(
      await run({ files: { "main.py": "def main(input):\n    return 1" }, request: { path: "/x" } }),
    );
    expect(requested.logs).toEqual([
      expect.objectContaining({
        level: "warn",
        message: expect.stringContaining("a Python program has no fetch handler"),
      }),
    ]);
    const files = {
      "main.py": "import helpers\nasync def main(input):\n    return helpers.double(input)",
      "helpers.py": "def double(x):\n    return [x, x]",
    };
    expect(ok(await run({ files, input: "a" })).result).toEqual(["a", "a"]);
    expect(ok(await run({ files: { "app.py": "7 * 6" }, entry: "app.py" })).result).toBe(42);
    // Relative imports, packages as folders, and .json files read as data from the program's folder.
    const packaged = {
      "main.py":
        "from .lib.maths import triple\nimport json\nwith open('data.json') as f:\n    data = json.load(f)\ntriple(data['n'])",
      "lib/maths.py": "from . import constants\ndef triple(x):\n    return x * constants.THREE",
      "lib/constants.py": "THREE = 3",
      "data.json": '{"n": 14}',
    };
    expect(ok(await run({ files: packaged })).result).toBe(42);
  });

  it("puts the entry's own folder first on sys.path, as CPython does for a script, for that run only", async () => {
    const files = {
      "src/app.py":
        "import m3\nfrom lib import shared\nwith open('data.json') as f:\n    data = f.read()\n[m3.Z, shared.S, data]",
      "src/m3.py": "Z = 'beside the entry'",
      "lib/shared.py": "S = 'from the root'",
      "data.json": '"read from the root"',
    };
    expect(ok(await run({ files, entry: "src/app.py" })).result).toEqual([
      "beside the entry",
      "from the root",
      '"read from the root"',
    ]);
    // An entry at the root does not see into src/, this run's or the last one's.
    const rooted = failed(await run({ files: { "main.py": "import m3", "src/m3.py": "Z = 1" } }));
    expect(rooted.error).toMatchObject({ type: "runtime", name: "ModuleNotFoundError" });
  });

  it("reaches env.KV and env.FILES, scoped like JS, and a saved file downloads from /files", async () => {
    const code = [
      "async def main(input, env):",
      "    await env.KV.put('count', '1', {'expirationTtl': 3600})",
      "    await env.FILES.put('chart.svg', '<svg xmlns=\"http://www.w3.org/2000/svg\"/>', {'httpMetadata': {'contentType': 'image/svg+xml'}})",
      "    listed = await env.KV.list()",
      "    stored = await env.FILES.get('chart.svg')",
      "    return [await env.KV.get('count'), [k['name'] for k in listed['keys']], await stored.text()]",
    ].join("\n");
    const res = ok(await run({ language: "python", code, storage: { namespace: "py-storage" } }));
    expect(res.result).toEqual(["1", ["count"], '<svg xmlns="http://www.w3.org/2000/svg"/>']);
    const download = await fetch(`${server.base}/files/py-storage/chart.svg`, {
      headers: { authorization: "Bearer dwl_local_dev" },
    });
    expect(download.headers.get("content-type")).toBe("image/svg+xml");
    expect(await download.text()).toContain("<svg");
    // Another tenant's program sees none of it.
    const other = ok(
      await run(
        {
          language: "python",
          code: "async def main(input, env):\n    return await env.KV.get('count')",
          storage: { namespace: "py-storage" },
        },
        OTHER_KEY,
      ),
    );
    expect(other.result).toBeNull();
  });

  it("keeps None as null in every result, hands JSON null to Python as None, and encodes JS objects it returns as JS does", async () => {
    const code = [
      "import json",
      "async def main(input, env):",
      "    await env.KV.put('nulls', json.dumps({'a': None, 'l': [None, 1]}), {'metadata': {'m': None}})",
      "    await env.FILES.put('f.txt', 'hi')",
      "    stored = await env.KV.get('nulls', 'json')",
      "    listed = await env.KV.list({'prefix': 'nulls'})",
      "    return {",
      "        'result': {'none': None, 'nested': [None, {'b': None}], 'input': input},",
      "        'fromKv': [stored['a'] is None, stored['l'][0] is None, listed['keys'][0]['metadata']['m'] is None],",
      "        'head': await env.FILES.head('f.txt'),",
      "        'listed': (await env.FILES.list()).objects,",
      "    }",
    ].join("\n");
    const res = ok(await run({ language: "python", code, input: { x: null }, storage: { namespace: "py-nulls" } }));
    const result = res.result as Record<string, unknown>;
    expect(result.result).toEqual({ none: null, nested: [null, { b: null }], input: { x: null } });
    expect(result.fromKv).toEqual([true, true, true]);
    expect(result.head).toMatchObject({ key: "f.txt", size: 2, uploaded: expect.any(String) });
    expect(result.listed).toEqual([expect.objectContaining({ key: "f.txt", size: 2 })]);
  });

  it("keeps output without a final newline in its own run's logs, never in the next run's", async () => {
    const first = ok(
      await run({
        language: "python",
        code: "import sys\nprint('no newline', end='')\nsys.stderr.write('err tail')\n1",
      }),
    );
    expect(first.logs.map(({ level, message }) => [level, message])).toEqual([
      ["log", "no newline"],
      ["error", "err tail"],
    ]);
    const next = ok(await run({ language: "python", code: "print('next')\n2" }));
    expect(next.logs.map(({ message }) => message)).toEqual(["next"]);
  });

  it("sends requests only through the egress gateway: denied by default, allowed and audited when listed, credentials by placeholder", async () => {
    const fetchCode = (url: string, headers = "{}") =>
      `from pyodide.http import pyfetch\nasync def main(input, env):\n    r = await pyfetch("${url}", headers=${headers})\n    return [r.status, (await r.json())['headers'].get('authorization')]`;
    const denied = failed(await run({ language: "python", code: fetchCode(`${upstream.url}/denied`) }));
    expect(denied.error).toMatchObject({ type: "egress_denied", name: "EgressDeniedError" });
    expect(denied.error.stack).toContain('File "main.py"');
    expect(denied.egress[0]).toMatchObject({ url: `${upstream.url}/denied` });

    const host = new URL(upstream.url).host;
    const put = await fetch(`${server.base}/credentials/pyapi`, {
      method: "PUT",
      headers: { authorization: "Bearer dwl_local_dev", "content-type": "application/json" },
      body: JSON.stringify({ value: "real-secret", hosts: [host] }),
    });
    expect(put.status).toBeLessThan(300);
    const allowed = ok(
      await run({
        language: "python",
        code: fetchCode(`${upstream.url}/allowed`, `{"authorization": "Bearer " + env.SECRETS["pyapi"]}`),
        egress: { credentials: ["pyapi"] },
      }),
    );
    // The upstream got the value; the program saw only its placeholder, even in the echo.
    const seen = (await (await fetch(`${upstream.url}/__seen?path=/allowed`)).json()) as {
      headers: Record<string, string>;
    };
    expect(seen.headers.authorization).toBe("Bearer real-secret");
    expect(allowed.result).toEqual([200, expect.stringMatching(/^Bearer dwl_secret_pyapi_/)]);
    expect(JSON.stringify(allowed)).not.toContain("real-secret");
    expect(allowed.egress).toMatchObject([{ method: "GET", status: 200, credentials: ["pyapi"] }]);
  });

  it("ends an infinite loop as cpu_limit, even one that catches everything, while another tenant keeps answering", async () => {
    const loop = run({
      language: "python",
      code: "n = 0\nwhile True:\n    try:\n        while True:\n            n += 1\n    except BaseException:\n        pass",
      limits: { cpuMs: 200 },
    });
    const other = await run({ language: "python", code: "sum(x * x for x in range(100))" }, OTHER_KEY);
    expect(ok(other).result).toBe(328350);
    const res = failed(await loop);
    expect(res.error.type).toBe("cpu_limit");
    // The meter is not a module a program can import, nor a global of __main__.
    const reach = ok(
      await run({
        language: "python",
        code: "import sys, __main__\n[k for k in sys.modules if 'dwl' in k] + [k for k in vars(__main__) if 'dwl' in k or 'runner' in k or k in ('sys', 'types')]",
      }),
    );
    expect(reach.result).toEqual([]);
    // Comprehensions count too.
    expect(failed(await run({ language: "python", code: "[i for i in range(10**9)]" })).error.type).toBe("cpu_limit");
  });

  it("turns a memory bomb into memory_limit for that run only, at DWL_PYTHON_HEAP_BYTES", async () => {
    const res = failed(
      await run({
        language: "python",
        code: "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))",
        limits: { cpuMs: 1000 },
      }),
    );
    expect(res.error).toMatchObject({ type: "memory_limit", name: "MemoryLimitError" });
    expect(res.error.message).toContain(String(HEAP_BYTES));
    // 40 MiB fits the default 128 MiB heap, not this server's 64 MiB; 8 MiB fits both.
    expect(failed(await run({ language: "python", code: "len(bytearray(40 * 1024 * 1024))" })).error.type).toBe(
      "memory_limit",
    );
    expect(ok(await run({ language: "python", code: "len(bytearray(8 * 1024 * 1024))" })).result).toBe(8 * 1024 * 1024);
  });

  it("charges time.sleep as CPU, so a long one ends the run as cpu_limit at once instead of holding the runtime", async () => {
    const started = Date.now();
    const slept = failed(await run({ language: "python", code: "import time\ntime.sleep(15)\n1" }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(slept.error.type).toBe("cpu_limit");
    expect(slept.logs.map(({ message }) => message).join("\n")).toContain("await asyncio.sleep(15)");
    const short = ok(await run({ language: "python", code: "import time\ntime.sleep(0.005)\n1" }));
    expect(short.result).toBe(1);
  });

  it("ends a program that waits too long as timeout", async () => {
    const res = failed(
      await run({ language: "python", code: "import asyncio\nawait asyncio.sleep(30)\n1", limits: { timeoutMs: 500 } }),
    );
    expect(res.error.type).toBe("timeout");
  });

  it("starts every run with no exception being handled, after runs cut off at their deadline and at their CPU limit", async () => {
    const asleep = { language: "python", code: "import asyncio\nawait asyncio.sleep(30)", limits: { timeoutMs: 300 } };
    expect(failed(await run(asleep)).error.type).toBe("timeout");
    for (let i = 0; i < 2; i++)
      expect(failed(await run({ language: "python", code: "while True: pass" })).error.type).toBe("cpu_limit");
    const probe = failed(
      await run({ language: "python", code: "import sys\nprint(repr(sys.exception()))\n{}['missing']" }),
    );
    expect(probe.logs.map(({ message }) => message)).toEqual(["None"]);
    expect(probe.error.stack).toBe(
      "Traceback (most recent call last):\n  File \"main.py\", line 3, in <module>\n    {}['missing']\n    ~~^^^^^^^^^^^\nKeyError: 'missing'\n",
    );
  });

  it("meters the program's code its report runs (a result's __repr__, an exception's __str__), and keeps a failing __str__ the program's error", async () => {
    // Uncharged, this loop took ~1-2 s past a 50 ms budget; `while True` there held the thread for good.
    const spin = "        n = 0\n        while n < 20_000_000:\n            n += 1\n";
    const repr = failed(
      await run({ language: "python", code: `class R:\n    def __repr__(self):\n${spin}        return 'r'\nR()` }),
    );
    expect(repr.error.type).toBe("cpu_limit");
    const str = failed(
      await run({
        language: "python",
        code: `class E(Exception):\n    def __str__(self):\n${spin}        return 'e'\nraise E()`,
      }),
    );
    expect(str.error.type).toBe("cpu_limit");
    const broken = failed(
      await run({
        language: "python",
        code: "class E(Exception):\n    def __str__(self):\n        raise ValueError('no')\nraise E()",
      }),
    );
    expect(broken.error).toMatchObject({ type: "runtime", name: "E", message: "<exception str() failed>" });
    expect(broken.error.stack).not.toMatch(/dwl runner|\/home\/pyodide|_pyodide/);
  });

  it("reports a SyntaxError as compile with the file and line, and an exception with a traceback of the user's files only", async () => {
    const syntax = failed(
      await run({ files: { "main.py": "import util\nutil.go()", "util.py": "def go(:\n    pass" } }),
    );
    expect(syntax.error).toMatchObject({
      type: "compile",
      name: "SyntaxError",
      // `(` at column 7 is fine; the `:` at column 8 is where the syntax breaks.
      location: { file: "util.py", line: 1, column: 8, lineText: "def go(:" },
    });
    const indented = failed(await run({ language: "python", code: "x = 1\n  y = 2" }));
    expect(indented.error).toMatchObject({ type: "compile", name: "IndentationError", location: { line: 2 } });
    const thrown = failed(
      await run({ files: { "main.py": "import util\nutil.divide(1)", "util.py": "def divide(x):\n    return x / 0" } }),
    );
    expect(thrown.error).toMatchObject({ type: "runtime", name: "ZeroDivisionError", message: "division by zero" });
    expect(thrown.error.stack).toContain('File "main.py", line 2');
    expect(thrown.error.stack).toContain('File "util.py", line 2, in divide');
    expect(thrown.error.stack).not.toMatch(/dwl runner|\/home\/pyodide|_pyodide/);
  });

  it("keeps the cause of a chained exception in the traceback, trimmed to the user's files too", async () => {
    const chained = failed(
      await run({
        files: {
          "main.py":
            "import util\ntry:\n    util.load({})\nexcept KeyError as err:\n    raise RuntimeError('config is incomplete') from err",
          "util.py": "def load(config):\n    return config['url']",
        },
      }),
    );
    expect(chained.error).toMatchObject({ type: "runtime", name: "RuntimeError", message: "config is incomplete" });
    const stack = chained.error.stack ?? "";
    expect(stack).toContain('File "util.py", line 2, in load');
    expect(stack).toContain("KeyError: 'url'");
    expect(stack).toContain("direct cause of the following exception");
    expect(stack.indexOf("KeyError")).toBeLessThan(stack.indexOf("RuntimeError: config is incomplete"));
    expect(stack).not.toMatch(/dwl runner|\/home\/pyodide|_pyodide/);
  });

  it("draws different random numbers in every child, though all start from one snapshot", async () => {
    const draw = (namespace: string) =>
      run({ language: "python", code: "import random\n[random.random() for _ in range(3)]", storage: { namespace } });
    const [a, b] = await Promise.all([draw("py-random-a"), draw("py-random-b")]);
    expect(ok(a).result).not.toEqual(ok(b).result);
  });

  it("starts every run from a clean namespace, and keeps tenants apart", async () => {
    ok(
      await run({ files: { "main.py": "import state\nstate.value = 'mine'\nsecret = 1", "state.py": "value = None" } }),
    );
    const after = ok(
      await run({
        files: { "main.py": "import state\n[state.value, 'secret' in globals()]", "state.py": "value = 'fresh'" },
      }),
    );
    expect(after.result).toEqual(["fresh", false]);
    ok(await run({ language: "python", code: "import builtins\nbuiltins.leaked = 'tenant local'" }));
    const other = ok(
      await run({ language: "python", code: "import builtins\ngetattr(builtins, 'leaked', None)" }, OTHER_KEY),
    );
    expect(other.result).toBeNull();
  });

  it("refuses a program mixing languages, or npm dependencies for Python, naming the field", async () => {
    const mixed = await server.post("/execute", { files: { "main.py": "1", "index.js": "1" } });
    expect(mixed.status).toBe(400);
    expect(((await mixed.json()) as { error: { message: string } }).error.message).toContain(
      'a program is JavaScript/TypeScript or Python, not both: index.js and main.py are mixed (set "language" to say which',
    );
    const noEntry = await server.post("/execute", { files: { "a.py": "1", "b.py": "2" } });
    expect(noEntry.status).toBe(400);
    expect(((await noEntry.json()) as { error: { message: string } }).error.message).toContain("add main.py");
    const deps = await server.post("/execute", { language: "python", code: "1", dependencies: { hono: "4" } });
    expect(deps.status).toBe(400);
    expect(JSON.stringify(await deps.json())).toContain("dependencies");
  });

  it("runs through the MCP execute tool, and search finds how to write it", async () => {
    const client = new Client({ name: "dwl-python-test", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`), {
        requestInit: { headers: { authorization: "Bearer dwl_local_dev" } },
      }),
    );
    try {
      const text = (result: unknown) =>
        (result as { content: { text: string }[] }).content.map((c) => c.text).join("\n");
      expect(text(await client.callTool({ name: "search", arguments: { query: "python pyfetch" } }))).toContain(
        "async def main(input, env)",
      );
      const ran = await client.callTool({
        name: "execute",
        arguments: { language: "python", code: "print('from mcp')\n6 * 7" },
      });
      expect(ran.isError).toBeFalsy();
      expect(text(ran)).toContain("42");
      expect(text(ran)).toContain("from mcp");
    } finally {
      await client.close();
    }
  });

  it("runs as a persistent sandbox", async () => {
    const created = await server.post("/sandboxes", {
      files: { "main.py": "def main(input, env):\n    return {'hello': input}" },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const res = await server.post(`/sandboxes/${id}/execute`, { input: "py" });
    expect(ExecuteResponseSchema.parse(await res.json())).toMatchObject({ ok: true, result: { hello: "py" } });
    const http = await fetch(`${server.base}/sandboxes/${id}/http/`, {
      headers: { authorization: "Bearer dwl_local_dev" },
    });
    expect(http.status).toBe(500);
    expect(((await http.json()) as { error: { message: string } }).error.message).toContain("no fetch handler");
  });

  it("refuses a sandbox whose Python does not compile, as a JavaScript one, without running any of it", async () => {
    const refusals: [Record<string, unknown>, string[]][] = [
      [{ language: "python", code: "def f(:\n    pass" }, ["code"]],
      [{ files: { "main.py": "import util\nprint(util.x)", "util.py": "x = (1,\n" } }, ["files", "util.py"]],
      [{ files: { "main.py": "def main(input, env):\n    return input\nreturn 1" } }, ["files", "main.py"]],
      // Fails only when compiled, at its import: still this file's error.
      [{ files: { "main.py": "import util\n", "util.py": "return 5\n" } }, ["files", "util.py"]],
      [{ files: { "main.py": "x = 1\n", "util.py": "y = 1\u0000\n" } }, ["files", "util.py"]],
      // A scope with no warm child of its own (this tenant's places are taken by now): another of
      // the tenant's children compiles it, and no place is taken for it.
      [{ language: "python", code: "x = = 1", storage: { namespace: "py-check-elsewhere" } }, ["code"]],
      [{ language: "python", code: "x = = 1", egress: { allow: ["example.com"] } }, ["code"]],
    ];
    for (const [definition, path] of refusals) {
      const res = await server.post("/sandboxes", definition);
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as {
        error: { type: string; message: string; issues: { path: string[]; code: string }[] };
      };
      expect(error.type).toBe("invalid_request");
      expect(error.message).toMatch(/^the program does not compile: (main|util)\.py:\d+:\d+: /);
      expect(error.issues[0]).toMatchObject({ path, code: "compile" });
    }
    // Compiled, not run: top-level await and a name error at run time are no compile errors, and
    // the top-level write has not happened when the sandbox is created.
    const key = `check-${crypto.randomUUID()}`;
    const created = await server.post("/sandboxes", {
      files: { "main.py": `await env.KV.put(${JSON.stringify(key)}, "ran")\nundefined_name` },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const probe = ok(await run({ language: "python", code: `await env.KV.get(${JSON.stringify(key)})` }));
    expect(probe.result).toBeNull();
    // An update that does not compile is refused and leaves the sandbox as it was.
    const update = await fetch(`${server.base}/sandboxes/${id}`, {
      method: "PUT",
      headers: { authorization: "Bearer dwl_local_dev", "content-type": "application/json" },
      body: JSON.stringify({ files: { "main.py": "while True print(1)" } }),
    });
    expect(update.status).toBe(400);
    const after = ExecuteResponseSchema.parse(await (await server.post(`/sandboxes/${id}/execute`, {})).json());
    expect(after).toMatchObject({ ok: false, error: { type: "runtime", name: "NameError" } });
    expect(ok(await run({ language: "python", code: `await env.KV.get(${JSON.stringify(key)})` })).result).toBe("ran");
  });

  it("calls main once, whether the program guards its own call with __name__ or makes it at the top level", async () => {
    const main = "async def main(input=None, env=None):\n    print('side effect')\n    return input";
    const guarded = ok(
      await run({ language: "python", code: `${main}\n\nif __name__ == "__main__":\n    await main()`, input: 5 }),
    );
    expect([guarded.result, guarded.logs.map((l) => l.message)]).toEqual([5, ["side effect"]]);
    const called = ok(await run({ language: "python", code: `${main}\n\nawait main(6)`, input: 5 }));
    expect([called.result, called.logs.map((l) => l.message)]).toEqual([6, ["side effect"]]);
    // A script whose guarded block calls no main still runs it.
    const script = ok(await run({ language: "python", code: 'if __name__ == "__main__":\n    print("script")' }));
    expect(script.logs.map((l) => l.message)).toEqual(["script"]);
  });

  it("runs overlapping programs of one namespace each with its own files, and each once", async () => {
    // Each awaits while the others start: one interpreter per namespace, one working directory.
    // The default namespace, whose child beforeAll started: past DWL_PYTHON_MAX_CHILDREN a new
    // scope's runs each get a one-off child, and share nothing to begin with.
    const program = (tag: string) => ({
      language: "python",
      files: {
        "main.py": `import asyncio, json\nfrom helper import TAG\nasync def main(input):\n    await asyncio.sleep(0.05)\n    with open("data.json") as f:\n        data = json.load(f)\n    await asyncio.sleep(0.05)\n    return [input, TAG, data]\n`,
        "helper.py": `TAG = "${tag}"\n`,
        "data.json": JSON.stringify(`data of ${tag}`),
      },
      limits: { cpuMs: 2_000, timeoutMs: 20_000 },
    });
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => run({ ...program(i % 2 ? "odd" : "even"), input: i })),
    );
    expect(runs.map((r) => ok(r).result)).toEqual(
      Array.from({ length: 6 }, (_, i) => [i, i % 2 ? "odd" : "even", `data of ${i % 2 ? "odd" : "even"}`]),
    );
    // A run answered at its deadline while it awaits never gets to clean up after itself: the
    // next run is held until that deadline only, and imports its own helper, not the stale one.
    const stuck = run({
      ...program("stuck"),
      files: { ...program("stuck").files, "main.py": "import asyncio\nimport helper\nawait asyncio.sleep(60)" },
      limits: { timeoutMs: 1_000 },
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = ok(await run({ ...program("next"), input: "after" }));
    expect(next.result).toEqual(["after", "next", "data of next"]);
    expect(failed(await stuck).error.type).toBe("timeout");
    // A run whose deadline passes while it waits does not let the one behind it start beside the
    // run that has the interpreter.
    const holding = run({
      ...program("holding"),
      files: {
        ...program("holding").files,
        "main.py": "import asyncio, json\nawait asyncio.sleep(3)\njson.load(open('data.json'))",
      },
      limits: { cpuMs: 2_000, timeoutMs: 15_000 },
    });
    // Well after it has the interpreter (it sleeps 3 s there).
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const expiring = run({ ...program("expiring"), limits: { cpuMs: 2_000, timeoutMs: 300 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const behind = run({ ...program("behind"), input: "behind" });
    expect(ok(await holding).result).toBe("data of holding");
    expect(failed(await expiring).error.type).toBe("timeout");
    expect(ok(await behind).result).toEqual(["behind", "behind", "data of behind"]);
    // A holder that expires while others wait behind it hands the interpreter on at its deadline.
    const queued = [
      run({ ...program("first"), input: "first" }),
      run({
        language: "python",
        code: "import asyncio\nawait asyncio.sleep(5)",
        limits: { cpuMs: 2_000, timeoutMs: 600 },
      }),
      run({ language: "python", code: "raise ValueError('own error')", limits: { cpuMs: 2_000, timeoutMs: 20_000 } }),
      run({ language: "python", code: "'last'", limits: { cpuMs: 2_000, timeoutMs: 20_000 } }),
    ];
    const queuedFrom = Date.now();
    const answers = await Promise.all(queued);
    const [expired, own, last] = answers.slice(1) as [ExecuteResponse, ExecuteResponse, ExecuteResponse];
    expect([failed(expired).error.type, failed(own).error.name, ok(last).result]).toEqual([
      "timeout",
      "ValueError",
      "last",
    ]);
    expect(Date.now() - queuedFrom).toBeLessThan(8_000);
    // The interpreter is left as it was: a later error's traceback is the program's own.
    const after = failed(await run({ language: "python", code: "{}['missing']" }));
    expect(after.error.stack).toMatch(/^Traceback \(most recent call last\):\n {2}File "main\.py", line 1/);
  });

  it("ends a script that exits with 0 or None as ok, and shows warnings at the program's own path", async () => {
    for (const code of ["import sys\nprint('bye')\nsys.exit(0)", "exit()", "import sys\nsys.exit()"]) {
      expect(ok(await run({ language: "python", code })).result, code).toBeNull();
    }
    const exited = failed(await run({ language: "python", code: "import sys\nsys.exit(2)" }));
    expect(exited.error).toMatchObject({ type: "runtime", name: "SystemExit", message: "2" });
    const warned = ok(
      await run({
        language: "python",
        code: "import os, warnings\nwarnings.warn('careful')\nsorted(k for k, v in os.environ.items() if '/tmp' in v or '/work' in v or k == '_')",
      }),
    );
    expect(warned.result).toEqual([]);
    expect(warned.logs.map((l) => l.message).join("\n")).toMatch(/^main\.py:2: UserWarning: careful/);
    // A circular result is named as a JS program's is, not taken for depth.
    const circular = failed(await run({ language: "python", code: "a = []\na.append(a)\na" }));
    expect(circular.error).toMatchObject({
      name: "ResultError",
      message: "the result cannot be serialised to JSON: it contains a circular reference",
    });
    // asyncio.run fails with its own message, without the runner's warning about the coroutine it left.
    const blocking = failed(
      await run({ language: "python", code: "import asyncio\nasync def work():\n    return 1\nasyncio.run(work())" }),
    );
    expect(blocking.error.message).toContain("asyncio.run() and other blocking waits");
    expect(blocking.logs.map((l) => l.message).join("\n")).not.toMatch(/dwl runner|tracemalloc/);
  });

  it("gives a script the run's input and env as globals", async () => {
    const res = ok(
      await run({
        language: "python",
        code: "await env.KV.put('script-key', str(input['n']))\nint(await env.KV.get('script-key')) * 2",
        input: { n: 21 },
      }),
    );
    expect(res.result).toBe(42);
  });

  it("answers env's plain data (FILES.list, FILES.head, KV.list) as dicts whose keys read as attributes too", async () => {
    const code = [
      "import json",
      "await env.FILES.put('py/a.txt', 'hello')",
      "page = await env.FILES.list({'prefix': 'py/'})",
      "head = await env.FILES.head('py/a.txt')",
      "await env.KV.put('k1', 'v')",
      "keys = await env.KV.list()",
      "got = await env.FILES.get('py/a.txt')",
      "try:\n    head.sizee\nexcept AttributeError as err:\n    missing = str(err)",
      "[[o['key'] for o in page['objects']], [o.key for o in page.objects], head['size'], head.size, json.loads(json.dumps(head))['key'], keys['list_complete'], keys.list_complete, await got.text(), [k.name for k in keys.keys], missing.split(' (')[0]]",
    ].join("\n");
    const res = ok(
      await run({ language: "python", code, storage: { namespace: "py-records" }, limits: { cpuMs: 2000 } }),
    );
    expect(res.result).toEqual([
      ["py/a.txt"],
      ["py/a.txt"],
      5,
      5,
      "py/a.txt",
      true,
      true,
      "hello",
      ["k1"],
      "'sizee': this answer has no such key",
    ]);
  });

  it("answers dates and times as ISO strings and a Decimal as its digits, as JS answers a Date", async () => {
    const code =
      "import datetime, decimal\n[datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.time(6, 7), decimal.Decimal('0.10')]";
    expect(ok(await run({ language: "python", code, limits: { cpuMs: 2000 } })).result).toEqual([
      "2024-01-02",
      "2024-01-02T03:04:05",
      "06:07:00",
      "0.10",
    ]);
  });

  it("says to use pyfetch when a program reaches for urllib, within the default cpuMs in a new child", async () => {
    const res = failed(
      await run({
        language: "python",
        code: "import urllib.request, email.mime.text\nurllib.request.urlopen('http://127.0.0.1:9/x')",
        egress: { allow: ["127.0.0.1:9"] },
        // A scope of its own: a new child, where no earlier run imported them (their first import
        // took ~150-220 ms of CPU, past the default 50 ms, until the snapshot held them).
        storage: { namespace: "py-urllib-new-child" },
      }),
    );
    expect(res.error.message).toContain("use `from pyodide.http import pyfetch` and `await pyfetch(url)`");
    expect(res.egress).toEqual([]);
  });

  it("says what to write instead of asyncio.run, and names a JS error from env by its own name", async () => {
    const blocking = failed(
      await run({
        language: "python",
        code: "import asyncio\nasync def go():\n    return 1\nasyncio.run(go())",
        limits: { cpuMs: 2_000 },
      }),
    );
    expect(blocking.error.message).toContain("Use `await main()` at the top level");
    const badKey = failed(
      await run({
        language: "python",
        code: "async def main(input, env):\n    await env.KV.get('')",
        limits: { cpuMs: 2_000 },
      }),
    );
    expect(badKey.error).toMatchObject({ type: "runtime", name: "StorageKeyError" });
    expect(badKey.error.message).toMatch(/^invalid key/);
    const dict = failed(
      await run({
        language: "python",
        code: "async def main(input, env):\n    await env.KV.put('k', 5)",
        limits: { cpuMs: 2_000 },
      }),
    );
    expect(dict.error.message).toContain("in Python, json.dumps");
  });

  it("ends the runs of a child whose Pyodide failed fatally at once, those waiting their turn too, and the next run gets a new child", async () => {
    const overflow =
      "import sys, asyncio\nsys.setrecursionlimit(10**6)\ndef f(n): return f(n + 1)\nprint('before')\nawait asyncio.sleep(1)\nf(0)";
    const culpritRun = run({ language: "python", code: overflow, limits: { cpuMs: 2000 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Sent while the culprit runs: it waits for its turn in that interpreter.
    const waiting = run({ language: "python", code: "'never runs'" });
    const culprit = failed(await culpritRun);
    expect(culprit.error).toMatchObject({ type: "runtime", name: "PythonFatalError" });
    expect(culprit.error.message).toMatch(/C stack overflow.*the next one starts a new Python runtime/);
    // Pyodide's own report of the failure (a C-level stack dump of internal paths) is not logged.
    expect(culprit.logs.map((l) => l.message)).toEqual(["before"]);
    const neighbour = failed(await waiting);
    expect(neighbour.error.name).toBe("PythonFatalError");
    expect(ok(await run({ language: "python", code: "1 + 1" })).result).toBe(2);

    const exited = failed(await run({ language: "python", code: "import os\nos._exit(3)" }));
    expect(exited.error).toMatchObject({ type: "runtime", name: "PythonFatalError" });
    expect(exited.error.message).toContain("ended the Python interpreter (os._exit");
    expect(ok(await run({ language: "python", code: "2 + 2" })).result).toBe(4);
  });

  it("past DWL_PYTHON_MAX_CHILDREN, runs each program in a one-off child that keeps nothing", async () => {
    // A warm child keeps interpreter state between runs of its scope (docs/python.md)...
    const mark = "import builtins\nbuiltins.mark = 'kept'";
    const read = "import builtins\nprint('ran')\ngetattr(builtins, 'mark', None)";
    ok(await run({ language: "python", code: mark }, OTHER_KEY));
    expect(ok(await run({ language: "python", code: read }, OTHER_KEY)).result).toBe("kept");
    // ...a scope past the bound gets a new child for every run.
    const over = { storage: { namespace: "py-over-bound" } };
    ok(await run({ language: "python", code: mark, ...over }));
    const again = ok(await run({ language: "python", code: read, ...over }));
    expect(again.result).toBeNull();
    expect(again.logs.map((l) => l.message)).toEqual(["ran"]);
    // A child replaced after a fatal failure (the test above) keeps its place: workerd keeps the
    // isolate and its memory, so its scope's replacement found none free and runs one-off too.
    ok(await run({ language: "python", code: mark }));
    expect(ok(await run({ language: "python", code: read })).result).toBeNull();
  });

  it("runs a tenant's one-off children its share of DWL_PYTHON_MAX_ONE_OFF at a time, and refuses a run that waited its whole timeoutMs with 429", async () => {
    // Each run reads a counter, awaits, then writes it back: runs that overlap lose increments.
    // Of the server's 2 one-off places, one tenant holds at most 1.
    const increment = {
      language: "python",
      code: "import asyncio\nn = int(await env.KV.get('count') or 0)\nawait asyncio.sleep(1)\nawait env.KV.put('count', str(n + 1))\nn + 1",
      storage: { namespace: "py-one-off-turns" },
      limits: { cpuMs: 2_000, timeoutMs: 20_000 },
    };
    const counts = await Promise.all([run(increment), run(increment), run(increment)]);
    expect(counts.map((r) => ok(r).result).sort()).toEqual([1, 2, 3]);

    const holder = run({
      language: "python",
      code: "import asyncio\nawait asyncio.sleep(3)\n'held'",
      storage: { namespace: "py-one-off-holder" },
      limits: { cpuMs: 2_000, timeoutMs: 20_000 },
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Another tenant's run takes the other place at once.
    const other = await run(
      { language: "python", code: "'other tenant'", storage: { namespace: "py-one-off-other" } },
      OTHER_KEY,
    );
    expect(ok(other).result).toBe("other tenant");
    const refused = await server.post("/execute", {
      language: "python",
      code: "'never runs'",
      storage: { namespace: "py-one-off-refused" },
      limits: { timeoutMs: 1_000 },
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe("rate_limited");
    expect(body.error.message).toContain("DWL_PYTHON_MAX_ONE_OFF");
    expect(ok(await holder).result).toBe("held");
  });

  it("answers a run that reached its CPU limit and then failed Pyodide fatally with that failure, and the next run gets a new child", async () => {
    // The other tenant's scope still has its warm child (the tests above): the culprit and the
    // next run meet in it, as they do not in one-off children.
    const deep = "import sys\nsys.setrecursionlimit(10**6)\ndef f(n): return f(n + 1)\nf(0)";
    const culprit = failed(await run({ language: "python", code: deep, limits: { cpuMs: 50 } }, OTHER_KEY));
    expect(culprit.error).toMatchObject({ type: "runtime", name: "PythonFatalError" });
    expect(culprit.error.message).toContain("C stack overflow");
    expect(ok(await run({ language: "python", code: "1 + 1" }, OTHER_KEY)).result).toBe(2);
  });
});
