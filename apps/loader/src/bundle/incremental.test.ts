import { describe, expect, it } from "vitest";
import type { InstalledPackage, InstalledPackages } from "../npm/install.ts";
import { getEsbuild } from "./esbuild.ts";
import { IncrementalBuilder } from "./incremental.ts";
import { delegatingPlugin, virtualFileHandlers, type SourceFiles } from "./virtual-files.ts";

const OPTIONS = {
  bundle: true,
  write: false,
  outfile: "user.js",
  format: "esm",
  platform: "neutral",
  sourcemap: "external",
  metafile: true,
  logLevel: "silent",
} as const;

function lib(version: string, body: string): InstalledPackage {
  const manifest = { name: "lib", main: "index.js" };
  return {
    id: `lib@${version}`,
    name: "lib",
    version,
    dist: { tarball: "" },
    dependencies: {},
    manifest,
    files: { "package.json": JSON.stringify(manifest), "index.js": body },
  };
}

const installed = (...pkgs: InstalledPackage[]): InstalledPackages => ({
  root: { lib: pkgs[0]!.id },
  packages: new Map(pkgs.map((p) => [p.id, p])),
});

async function build(builder: IncrementalBuilder, files: SourceFiles, packages?: InstalledPackages): Promise<string> {
  const entry = Object.keys(files)[0]!;
  const result = await builder.build(
    await getEsbuild(),
    virtualFileHandlers({ files, entry, source: (p) => files[p] ?? "", ...(packages ? { packages } : {}) }),
  );
  return result.outputFiles.find((f) => f.path.endsWith(".js"))!.text;
}

describe("IncrementalBuilder", () => {
  it("serves each build its own files and package versions, never an earlier build's", async () => {
    const builder = new IncrementalBuilder(OPTIONS);
    const program = { "main.js": 'import { v } from "lib"; export default () => v;' };
    const v1 = await build(builder, program, installed(lib("1.0.0", 'export const v = "one";')));
    const v2 = await build(builder, program, installed(lib("2.0.0", 'export const v = "two";')));
    expect(v1).toContain('"one"');
    expect(v2).toContain('"two"');
    expect(v2).not.toContain('"one"');
    // Same path, new contents (the entry), and the same package again: both as built fresh.
    const again = await build(
      builder,
      { "main.js": 'import { v } from "lib"; export default () => v + "!";' },
      installed(lib("1.0.0", 'export const v = "one";')),
    );
    expect(again).toContain('"one"');
    expect(again).toContain('v + "!"');
    expect(builder.stats.rebuilds).toBe(3);
  });

  it("gives the same output as a one-off build", async () => {
    const builder = new IncrementalBuilder(OPTIONS);
    const files = { "main.ts": 'import { v } from "lib"; const n: number = 1; export default () => v + n;' };
    const packages = installed(lib("1.0.0", "export const v = 41;"));
    const first = await build(builder, files, packages);
    const second = await build(builder, files, packages);
    const handlers = virtualFileHandlers({
      files,
      entry: "main.ts",
      source: (p) => files[p as "main.ts"] ?? "",
      packages,
    });
    const plugin = delegatingPlugin(() => handlers);
    const oneOff = await (await getEsbuild()).build({ ...OPTIONS, entryPoints: ["main.ts"], plugins: [plugin] });
    expect(second).toBe(first);
    expect(oneOff.outputFiles.find((f) => f.path.endsWith(".js"))!.text).toBe(first);
  });

  it("reports compile errors and stays usable afterwards", async () => {
    const builder = new IncrementalBuilder(OPTIONS);
    const err = await build(builder, { "main.ts": "const a: number = ;" }).catch((e: unknown) => e);
    expect((err as { errors: { location: { file: string; line: number } }[] }).errors[0]?.location).toMatchObject({
      file: "dwl:main.ts",
      line: 1,
    });
    expect(await build(builder, { "main.ts": "export default 1 as number;" })).toContain("export");
  });

  it("rebuilds a 3-file program after one file is edited with that file's new contents and the others' as before", async () => {
    const builder = new IncrementalBuilder(OPTIONS);
    const files = {
      "index.ts": 'import { b } from "./b.ts"; import { c } from "./c.ts"; export default (): string => b + c;',
      "b.ts": 'export const b: string = "b-one";',
      "c.ts": 'export const c: string = "c-one";',
    };
    const first = await build(builder, files);
    const held = builder.heldBytes;
    const edited = { ...files, "b.ts": 'export const b: string = "b-two!";' };
    const second = await build(builder, edited);
    expect(first).toContain('"b-one"');
    expect(second).toContain('"b-two!"');
    expect(second).not.toContain('"b-one"');
    expect(second).toContain('"c-one"');
    // Through the context (which keeps the parse of the two unchanged files), and only b.ts's
    // contents changed in what it holds.
    expect(builder.stats).toMatchObject({ rebuilds: 2, oneOff: 0 });
    expect(builder.heldBytes).toBe(held + 1);
    // Back to the first text: the same output as the first build.
    expect(await build(builder, files)).toBe(first);
  });

  it("runs a build that finds the context busy as a one-off build", async () => {
    const builder = new IncrementalBuilder(OPTIONS);
    const outputs = await Promise.all(
      ["a", "b", "c"].map((x) => build(builder, { "main.js": `export default "${x}";` })),
    );
    expect(outputs.map((o) => /"(\w)"/.exec(o)?.[1])).toEqual(["a", "b", "c"]);
    expect(builder.stats).toMatchObject({ rebuilds: 1, oneOff: 2 });
  });

  it("drops the context once the sources it holds pass the bound", async () => {
    const builder = new IncrementalBuilder(OPTIONS, 2_000);
    const big = (tag: string) => `export const v = "${tag}${"x".repeat(900)}";`;
    await build(
      builder,
      { "main.js": 'import { v } from "lib"; export default v;' },
      installed(lib("1.0.0", big("a"))),
    );
    expect(builder.heldBytes).toBeGreaterThan(900);
    expect(builder.stats.resets).toBe(0);
    // Replacing a path's contents does not grow what is held.
    const held = builder.heldBytes;
    await build(
      builder,
      { "main.js": 'import { v } from "lib"; export default v + 1;' },
      installed(lib("1.0.0", big("a"))),
    );
    expect(builder.heldBytes).toBe(held + 4);
    // Two more versions: over the bound, so the context goes and holds nothing.
    await build(
      builder,
      { "main.js": 'import { v } from "lib"; export default v;' },
      installed(lib("2.0.0", big("b"))),
    );
    const out = await build(
      builder,
      { "main.js": 'import { v } from "lib"; export default v;' },
      installed(lib("3.0.0", big("c"))),
    );
    expect(builder.stats.resets).toBe(1);
    expect(builder.heldBytes).toBeLessThanOrEqual(2_000);
    expect(out).toContain('"cxxx');
    // And the next build starts a fresh context that works.
    expect(
      await build(
        builder,
        { "main.js": 'import { v } from "lib"; export default v;' },
        installed(lib("1.0.0", big("a"))),
      ),
    ).toContain('"axxx');
  });
});
