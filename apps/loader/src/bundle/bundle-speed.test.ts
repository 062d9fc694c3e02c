/**
 * Bundle-miss speed of a new program importing Hono (packages installed): packages from their
 * pre-built module (bundle/vendor.ts) against one whole esbuild bundle, measured in one run,
 * interleaved (issue 21). Not part of the suite (timing has no place in a unit test): run with
 *   DWL_TEST_VERBOSE=1 sh scripts/bootstrap.sh npx vitest run --project workerd --mode bundle-speed apps/loader/src/bundle/bundle-speed.test.ts
 */
import { decode, encode } from "@jridgewell/sourcemap-codec";
import { honoSource, threeFileTs } from "../../../../bench/lib/programs.mjs";
import { describe, expect, it } from "vitest";
import { measureInterleaved } from "../../../../test-support/interleaved.ts";
import { namespacedRegistry } from "../../test/npm-registry/registry.ts";
import { installDependencies } from "../npm/install.ts";
import { BUILD_OPTIONS, bundleProgram, USER_MODULE, type BundleInput, type BundleOptions } from "./bundle.ts";
import { getEsbuild } from "./esbuild.ts";
import { rewriteBundle } from "./rewrite.ts";
import { joinVendor, vendorEntry, wrapVendor } from "./vendor.ts";
import { delegatingPlugin, type SourceFiles, virtualFileHandlers } from "./virtual-files.ts";

const SAMPLES = 40;
const WARMUP = 40;

/** bench/run.mjs's 3-file TypeScript program; `tag` changes index.ts only, as there. */
const tsProgram = (tag: string): BundleInput => ({ entry: "index.ts", meter: true, files: threeFileTs(tag) });

/** bench/npm.mjs's Hono program. */
const honoProgram = (tag: string): BundleInput => ({
  entry: "index.ts",
  meter: true,
  dependencies: { hono: "^4" },
  files: {
    "index.ts": honoSource(tag),
  },
});

/** `--mode` of the vitest command line, as Vite hands it to the test. */
const mode = (import.meta as unknown as { env: { MODE?: string } }).env.MODE;

const measure = (cases: Record<string, (i: number) => Promise<unknown>>) =>
  measureInterleaved(cases, { samples: SAMPLES, warmup: WARMUP });

describe.runIf(mode === "bundle-speed")("bundle-miss speed", () => {
  it("splits a 3-file TypeScript bundle miss into its phases", async () => {
    const esbuild = await getEsbuild();
    const transform = (file: string, source: string) =>
      esbuild.transform(source, {
        loader: "ts",
        format: "esm",
        target: "es2022",
        sourcemap: "external",
        sourcefile: file,
      });
    const files = tsProgram("x").files;
    const built = await bundleProgram(tsProgram("x"));
    const samples = await measure({
      "nothing (the two timers around every sample)": async () => {},
      "3-file TS, bundleProgram (miss)": (i) => bundleProgram(tsProgram(`miss ${i}`)),
      "3-file TS, esbuild.transform of index.ts only (what a per-file cache redoes)": (i) =>
        transform("index.ts", `${files["index.ts"]}// ${i}\n`),
      "3-file TS, esbuild.transform of both .ts files": (i) =>
        Promise.all([
          transform("index.ts", `${files["index.ts"]}// ${i}\n`),
          transform("lib/math.ts", files["lib/math.ts"]!),
        ]),
      "3-file TS, metering the bundle (rewriteBundle)": async () =>
        rewriteBundle(
          { code: built.code, fileName: USER_MODULE, source: { name: "x" } },
          { wrapScript: false, meter: true },
        ),
    });
    expect(Object.values(samples).every((xs) => xs.length === SAMPLES)).toBe(true);
  }, 900_000);

  it("joins a Hono program with its packages' module, as before (every line encoded per program) and now", async () => {
    const npm = { registry: namespacedRegistry("bundle-speed") };
    const packages = await installDependencies({ hono: "^4" }, npm);
    const entry = "<packages>.js";
    const files: SourceFiles = { [entry]: vendorEntry(["hono", "hono/cors"]) };
    const handlers = virtualFileHandlers({ files, entry, source: (p) => files[p] ?? "", packages });
    const result = await (await getEsbuild()).build({
      ...BUILD_OPTIONS,
      write: false,
      metafile: false,
      entryPoints: [entry],
      plugins: [delegatingPlugin(() => handlers)],
    });
    const output = (suffix: string) => result.outputFiles.find((f) => f.path.endsWith(suffix))!.text;
    const vendor = wrapVendor({ code: output(".js"), map: output(".js.map") }, 2, true)!;
    const own = (i: number) => ({
      code: `const app = 1;\nexport default app; // ${i}\n`,
      map: JSON.stringify({ version: 3, sources: ["index.ts"], names: [], mappings: "AAAA;AACA" }),
    });
    const vendorLines = decode(vendor.mappings);
    const samples = await measure({
      "Hono, bundleProgram (packages' module, miss)": (i) => bundleProgram(honoProgram(`join ${i}`), npm),
      "Hono, join as before (the packages' ~1,900 lines encoded again)": async (i) => {
        const joined = joinVendor(vendor, own(i), USER_MODULE);
        const user = JSON.parse(own(i).map) as { mappings: string };
        return encode([...vendorLines, ...decode(user.mappings)]).length + joined.code.length;
      },
      "Hono, join now (the program's lines only)": async (i) => joinVendor(vendor, own(i), USER_MODULE),
    });
    expect(Object.values(samples).every((xs) => xs.length === SAMPLES)).toBe(true);
  }, 900_000);

  it("compares the packages' module with one whole bundle", async () => {
    const npm = { registry: namespacedRegistry("bundle-speed") };
    const cases: Record<string, [(tag: string) => BundleInput, BundleOptions]> = {
      "Hono, whole bundle": [honoProgram, { prebuiltPackages: false }],
      "Hono, packages' module": [honoProgram, {}],
    };
    const samples = await measure(
      Object.fromEntries(
        Object.entries(cases).map(([name, [program, options]]) => [
          name,
          (i: number) => bundleProgram(program(`${name} ${i}`), npm, options),
        ]),
      ),
    );
    expect(Object.values(samples).every((xs) => xs.length === SAMPLES)).toBe(true);
  }, 900_000);
});
