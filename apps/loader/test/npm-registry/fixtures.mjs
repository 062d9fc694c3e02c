// @ts-check
/**
 * The packages the test registry serves: real ones packed from the workspace's own node_modules
 * (pnpm keeps each published package's files as published), and small synthetic ones for
 * resolution rules, runtime quirks and every refusal the loader must make. Tarballs are packed
 * when first requested, so starting the registry costs milliseconds.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { packTar, tarEntry } from "./tar-writer.mjs";

/**
 * @param {Record<string, string | Uint8Array>} files
 * @param {Uint8Array[]} [raw]
 */
const packTarball = (files, raw = []) => gzipSync(packTar(files, raw), { level: 9 });

const PNPM_STORE = fileURLToPath(new URL("../../../../node_modules/.pnpm/", import.meta.url));

/**
 * Real packages served in every version the pnpm store holds (the workspace's lockfile decides:
 * hono, zod twice, trace-mapping twice, …). Tests that name versions follow the lockfile.
 */
const REAL_PACKAGES = [
  "hono",
  "zod",
  "semver",
  "@jridgewell/trace-mapping",
  "@jridgewell/resolve-uri",
  "@jridgewell/sourcemap-codec",
  "@jridgewell/gen-mapping",
  "@jridgewell/remapping",
  "acorn",
  "acorn-walk",
];

/**
 * @typedef {{ manifest: Record<string, any>, tarball: Buffer, integrity?: string, unpackedSize?: number }} Version
 * @typedef {{ versions: Map<string, Version>, distTags: Record<string, string> }} Package
 */

/** @param {string} dir @returns {Record<string, Buffer>} */
function readTree(dir) {
  /** @type {Record<string, Buffer>} */
  const files = {};
  const walk = (/** @type {string} */ at) => {
    for (const entry of readdirSync(at)) {
      const full = join(at, entry);
      if (statSync(full).isDirectory()) {
        if (entry !== "node_modules") walk(full);
      } else files[relative(dir, full).split("\\").join("/")] = readFileSync(full);
    }
  };
  walk(dir);
  return files;
}

/** Every version of `name` in the pnpm store (directories `<name>@<version>[_<peer suffix>]`). */
function packReal(/** @type {string} */ name) {
  const base = `${name.replace("/", "+")}@`;
  const dirs = readdirSync(PNPM_STORE).filter(
    (d) => d.startsWith(base) && /^\d+\.\d+\.\d+(?:_.*)?$/.test(d.slice(base.length)),
  );
  if (dirs.length === 0) throw new Error(`test registry: ${name} is not in ${PNPM_STORE}`);
  return dirs.map((dir) => {
    const root = join(PNPM_STORE, dir, "node_modules", name);
    return lazy(JSON.parse(readFileSync(join(root, "package.json"), "utf8")), () => packTarball(readTree(root)));
  });
}

/**
 * A version whose tarball is packed on first use: the big hostile fixtures cost seconds to gzip,
 * and most test runs never ask for them.
 * @param {Record<string, any>} manifest
 * @param {() => Buffer} pack
 */
function lazy(manifest, pack) {
  /** @type {Buffer | undefined} */
  let tarball;
  return {
    manifest,
    get tarball() {
      return (tarball ??= pack());
    },
  };
}

/** @param {Record<string, any>} manifest @param {Record<string, string | Uint8Array>} files */
const synthetic = (manifest, files) =>
  lazy(manifest, () => packTarball({ "package.json": JSON.stringify(manifest), ...files }));

/** @returns {Map<string, Package>} */
export function buildFixtures() {
  /** @type {Map<string, Package>} */
  const packages = new Map();
  /** @param {{ manifest: Record<string, any>, tarball: Buffer }} v @param {Partial<Version>} [extra] */
  const add = (v, extra = {}) => {
    const { name, version } = v.manifest;
    let pkg = packages.get(name);
    if (!pkg) packages.set(name, (pkg = { versions: new Map(), distTags: {} }));
    // Object.assign, not a spread: a spread would read (and so pack) a lazy tarball now.
    pkg.versions.set(version, Object.assign(v, extra));
    return pkg;
  };

  for (const name of REAL_PACKAGES) for (const version of packReal(name)) add(version);

  // Resolution rules: several versions, dist-tags, prereleases.
  for (const version of ["1.0.0", "1.2.0", "2.0.0", "3.0.0-beta.1"]) {
    add(
      synthetic(
        { name: "dwl-versions", version, type: "module", main: "index.js" },
        { "index.js": `export default ${JSON.stringify(version)};` },
      ),
    );
  }
  const versions = packages.get("dwl-versions");
  if (versions) versions.distTags = { latest: "1.2.0", next: "3.0.0-beta.1" };
  add(
    synthetic(
      {
        name: "dwl-nested",
        version: "1.0.0",
        type: "module",
        main: "index.js",
        dependencies: { "dwl-versions": "^2.0.0" },
      },
      { "index.js": `import v from "dwl-versions";\nexport default "nested sees " + v;` },
    ),
  );
  add(
    synthetic(
      {
        name: "dwl-peer-user",
        version: "1.0.0",
        type: "module",
        main: "index.js",
        peerDependencies: { "dwl-versions": "^1.0.0" },
      },
      { "index.js": `import v from "dwl-versions";\nexport default "peer sees " + v;` },
    ),
  );
  add(
    synthetic(
      {
        name: "dwl-optional-peer",
        version: "1.0.0",
        main: "index.js",
        peerDependencies: { "dwl-absent": "*" },
        peerDependenciesMeta: { "dwl-absent": { optional: true } },
      },
      {
        "index.js": `let found;\ntry { found = require("dwl-absent"); } catch (e) { found = null; }\nmodule.exports = found === null ? "optional peer absent" : "present";`,
      },
    ),
  );

  // Exports conditions, subpaths, `imports`, a PAX-long path, CommonJS requiring Node built-ins.
  const longDir = `deep/${"d".repeat(120)}/${"e".repeat(120)}`;
  add(
    synthetic(
      {
        name: "@dwl/conditions",
        version: "1.0.0",
        type: "module",
        exports: {
          ".": { node: "./node.js", workerd: "./workerd.js", default: "./default.js" },
          "./feature": { import: "./feature.mjs", require: "./feature.cjs" },
          "./long": `./${longDir}/long.js`,
          "./data.json": "./data.json",
          "./package.json": "./package.json",
        },
        imports: { "#internal": "./internal.js" },
      },
      {
        "node.js": `export default "node build";`,
        "workerd.js": `import secret from "#internal";\nexport default "workerd build, " + secret;`,
        "default.js": `export default "default build";`,
        "internal.js": `export default "internal import";`,
        "feature.mjs": `export const kind = "esm feature";`,
        "feature.cjs": `exports.kind = "cjs feature";`,
        [`${longDir}/long.js`]: `export default "long path";`,
        "data.json": JSON.stringify({ answer: 42 }),
        "types.d.ts": "export {};",
      },
    ),
  );
  add(
    synthetic(
      { name: "dwl-cjs-builtins", version: "1.0.0", main: "index.js", dependencies: { "@dwl/conditions": "^1.0.0" } },
      {
        "index.js": [
          `const EventEmitter = require("events");`,
          `const { Buffer } = require("node:buffer");`,
          `const feature = require("@dwl/conditions/feature");`,
          `class Bell extends EventEmitter {}`,
          `module.exports = () => { const bell = new Bell(); let heard = ""; bell.on("ring", (x) => { heard = x; }); bell.emit("ring", Buffer.from("ding").toString("hex")); return heard + " " + feature.kind; };`,
        ].join("\n"),
      },
    ),
  );
  add(
    synthetic(
      { name: "dwl-needs-sea", version: "1.0.0", type: "module", main: "index.js" },
      { "index.js": `import { isSea } from "node:sea";\nexport default isSea;` },
    ),
  );
  // An npm package named like a Node built-in: listed, the bare name is the package.
  add(
    synthetic(
      { name: "punycode", version: "2.3.1", main: "index.js" },
      { "index.js": `module.exports = { from: "npm", toASCII: (s) => "npm:" + s };` },
    ),
  );
  add(
    synthetic(
      { name: "dwl-spin", version: "1.0.0", type: "module", main: "index.js" },
      { "index.js": `export function spin() {\n  let n = 0;\n  for (;;) n++;\n}` },
    ),
  );
  add(
    synthetic(
      { name: "dwl-throws", version: "1.0.0", type: "module", main: "index.js" },
      { "index.js": `export function explode(why) {\n  throw new Error("package says " + why);\n}` },
    ),
  );

  // Cache probes: used by exactly one test each, so request counts are exact.
  for (const name of ["dwl-cache-e2e", "dwl-cache-unit"]) {
    add(
      synthetic(
        { name: `${name}-dep`, version: "1.0.0", type: "module", main: "index.js" },
        { "index.js": `export const dep = "dep";` },
      ),
    );
    add(
      synthetic(
        { name, version: "1.0.0", type: "module", main: "index.js", dependencies: { [`${name}-dep`]: "^1.0.0" } },
        { "index.js": `import { dep } from "${name}-dep";\nexport const probe = (x) => "probe " + dep + " " + x;` },
      ),
    );
  }

  // Two packages that import each other; b calls a's function declaration before a's body has run.
  add(
    synthetic(
      { name: "dwl-cycle-a", version: "1.0.0", type: "module", main: "index.js", dependencies: { "dwl-cycle-b": "1" } },
      {
        "index.js": `import { fromB } from "dwl-cycle-b";\nexport function double(n) {\n  return n * 2;\n}\nexport default () => fromB;`,
      },
    ),
  );
  add(
    synthetic(
      { name: "dwl-cycle-b", version: "1.0.0", type: "module", main: "index.js", dependencies: { "dwl-cycle-a": "1" } },
      { "index.js": `import { double } from "dwl-cycle-a";\nexport const fromB = double(21);` },
    ),
  );

  // CommonJS only esbuild's interop serves: exports named only unbound, and a module-level `this`.
  add(
    synthetic(
      { name: "dwl-cjs-define", version: "1.0.0", main: "index.js" },
      { "index.js": `Object.defineProperty(exports, "answer", { value: 42, enumerable: true });` },
    ),
  );
  add(
    synthetic(
      { name: "dwl-umd-this", version: "1.0.0", type: "module", main: "index.js" },
      {
        "index.js": `import "./legacy.js";\nexport const ok = 1;`,
        "legacy.js": `(function (root) {\n  root.tag = 1;\n})(this);`,
      },
    ),
  );

  // ES module packages of exactly 300 files (the loader's MAX_LINKED_PACKAGE_FILES) and of 301.
  for (const [version, count] of [
    ["1.0.0", 300],
    ["2.0.0", 301],
  ]) {
    /** @type {Record<string, string>} */
    const files = {};
    const parts = Array.from({ length: count - 1 }, (_, i) => `f${i}`);
    files["index.js"] =
      `${parts.map((p) => `import ${p} from "./${p}.js";`).join("\n")}\nexport default ${parts.join(" + ")};`;
    for (const p of parts) files[`${p}.js`] = "export default 1;";
    add(synthetic({ name: "dwl-linked-files", version, type: "module", main: "index.js" }, files));
  }

  // Refusals.
  add(
    synthetic(
      {
        name: "dwl-fanout",
        version: "1.0.0",
        main: "index.js",
        dependencies: Object.fromEntries(Array.from({ length: 205 }, (_, i) => [`dwl-leaf-${i}`, "1.0.0"])),
      },
      { "index.js": "" },
    ),
  );
  for (let i = 0; i < 205; i++)
    add(
      synthetic(
        { name: `dwl-leaf-${i}`, version: "1.0.0", main: "index.js" },
        { "index.js": `module.exports = ${i};` },
      ),
    );

  const traversal = { name: "dwl-traversal", version: "1.0.0", main: "index.js" };
  add(
    lazy(traversal, () =>
      packTarball({ "package.json": JSON.stringify(traversal), "index.js": "" }, [
        ...tarEntry("package/../../../etc/evil.js", "pwned"),
      ]),
    ),
  );

  const bomb = { name: "dwl-gzip-bomb", version: "1.0.0", main: "index.js" };
  add(
    lazy(bomb, () =>
      packTarball({
        "package.json": JSON.stringify(bomb),
        "index.js": "",
        "zeros.bin": new Uint8Array(40 * 1024 * 1024),
      }),
    ),
  );

  const many = { name: "dwl-many-files", version: "1.0.0", main: "index.js" };
  add(
    lazy(many, () =>
      packTarball({
        "package.json": JSON.stringify(many),
        ...Object.fromEntries(Array.from({ length: 25_000 }, (_, i) => [`f/${i}.js`, ""])),
      }),
    ),
  );

  const huge = { name: "dwl-huge-tarball", version: "1.0.0", main: "index.js" };
  add(
    lazy(huge, () => packTarball({ "package.json": JSON.stringify(huge), "noise.bin": randomBytes(11 * 1024 * 1024) })),
  );

  add(synthetic({ name: "dwl-declared-huge", version: "1.0.0", main: "index.js" }, { "index.js": "" }), {
    unpackedSize: 30 * 1024 * 1024,
  });

  const heavy = `export default ${JSON.stringify("x".repeat(8 * 1024 * 1024))};`;
  for (const name of ["dwl-heavy-a", "dwl-heavy-b", "dwl-heavy-c"]) {
    add(synthetic({ name, version: "1.0.0", type: "module", main: "index.js" }, { "index.js": heavy }));
  }
  add(
    synthetic(
      { name: "dwl-big-bundle", version: "1.0.0", type: "module", main: "index.js" },
      { "index.js": `export default ${JSON.stringify("y".repeat(6 * 1024 * 1024))};` },
    ),
  );

  const tampered = synthetic(
    { name: "dwl-bad-integrity", version: "1.0.0", main: "index.js" },
    { "index.js": "module.exports = 1;" },
  );
  add(tampered, { integrity: `sha512-${createHash("sha512").update("something else").digest("base64")}` });

  const notGzip = { name: "dwl-not-gzip", version: "1.0.0" };
  add(
    lazy(notGzip, () =>
      Buffer.concat([gzipSync(Buffer.from("x")).subarray(0, 10), Buffer.from("garbage that is not deflate")]),
    ),
  );

  // Registry behaviour: see server.mjs.
  add(
    synthetic(
      { name: "dwl-flaky", version: "1.0.0", type: "module", main: "index.js" },
      { "index.js": `export default "came through";` },
    ),
  );

  for (const pkg of packages.values()) {
    if (!pkg.distTags.latest)
      pkg.distTags.latest =
        [...pkg.versions.keys()]
          .filter((v) => !v.includes("-"))
          .sort(compareVersions)
          .at(-1) ?? "";
  }
  return packages;
}

/** @param {string} a @param {string} b */
function compareVersions(a, b) {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}
