/**
 * @module vendor
 * The npm packages of a program, built and metered apart from its own files and cached by what
 * they are (the installed name@version set, the specifiers imported, metering on or off), so a
 * new program that imports Hono gets esbuild to handle only its own files: measured, esbuild's
 * cost grows by a millisecond or more per file it loads, and acorn's re-parse by the bundle's
 * size (bench/npm.mjs).
 *
 * The packages' module is an arrow function's body, called once at the top of the program's
 * module: `var __dwl_vendor_<random> = (() => { …packages…; return [ns0, ns1]; })();`. Its fuel
 * counter is a local of that function, so no program can name it (the names stay random, and
 * out of the program's scope). The user's build leaves each bare import external
 * (`dwl-vendor:<i>`, see virtual-files.ts); rewrite.ts then turns each such import into a read
 * of the namespace object, and the two source maps are joined line by line.
 *
 * Differences from one esbuild bundle, both accepted: packages evaluate before the program's
 * own modules (not interleaved in import order), and an imported binding is read once (a
 * package that reassigns an exported `let` later is not seen). Programs that `require()`,
 * `import()` or re-export a package keep the one-bundle path.
 */
import { decode, encode, type SourceMapSegment } from "@jridgewell/sourcemap-codec";
import MagicString from "magic-string";
import type { Node } from "acorn";
import type { InstalledPackages } from "../npm/install.ts";
import { meter, parseModule, shiftMap, type ImportDeclaration, type Insertion, type Program } from "./rewrite.ts";
import { VENDOR_PREFIX } from "./virtual-files.ts";
import { randomHex } from "../hash.ts";
import { MAX_VENDOR_CACHE_BYTES } from "../limits.ts";
import { MemoryCache } from "../memory-cache.ts";

/** A pre-built packages' module, ready to be put in front of a program's own bundle. */
export interface Vendor {
  /** Module-level import statements of runtime built-ins (one line, no newline). */
  imports: string;
  /** `var <name> = (() => {` … `})();`, ending with a newline. */
  code: string;
  /** Name of the variable holding the namespace objects, by specifier index. */
  name: string;
  /**
   * Encoded map of `code`, one line per line of `code`, made once so that each program's join
   * only encodes its own lines (re-encoding Hono's ~1,900 lines took ~a quarter of a new Hono
   * program's bundling: issue 21, performance.md); with its sources and names.
   */
  mappings: string;
  /** Lines of `code` (it ends with a newline). */
  lineCount: number;
  /** The encoder's state after `mappings`, which the program's lines are encoded relative to. */
  end: MapState | undefined;
  sources: string[];
  names: string[];
}

/** Source index, line and column of the last segment that has them, and the last name index. */
interface MapState {
  source: number;
  line: number;
  column: number;
  name: number | undefined;
}

export interface VendorBuildOutput {
  code: string;
  map: string;
}

function randomSuffix(): string {
  return randomHex(6);
}

/** The entry module of the packages' build: each specifier's namespace, exported as e<i>. */
export function vendorEntry(specifiers: string[]): string {
  return specifiers.map((spec, i) => `export * as e${i} from ${JSON.stringify(spec)};\n`).join("");
}

/** Cache key of a packages' module: every installed package (immutable per name@version), the specifiers, metering. */
export function vendorKey(packages: InstalledPackages, specifiers: string[], metered: boolean): string {
  return JSON.stringify([
    metered,
    [...packages.packages.keys()].sort(),
    Object.entries(packages.root).sort(),
    specifiers,
  ]);
}

/** Same length, no code: keeps every column of the line, so the map needs no change for it. */
const blank = (text: string): string => text.replace(/[^\n]/g, " ");

/**
 * Turns esbuild's output for `vendorEntry(specifiers)` into a `Vendor`, or undefined when it
 * cannot live inside a function (top-level await).
 */
export function wrapVendor(output: VendorBuildOutput, count: number, metered: boolean): Vendor | undefined {
  const { code } = output;
  const program = parseModule(code);
  const s = new MagicString(code);
  const inserted: Insertion[] = [];
  // The packages' functions are created inside the function, after its counter: none runs early.
  const fuel = metered ? meter(s, program, code, inserted, false) : "";
  const suffix = randomSuffix();
  const name = `__dwl_vendor_${suffix}`;
  const hoisted: string[] = [];
  const locals: string[] = [];
  const exported = new Map<string, string>();
  let importIndex = 0;
  for (const node of program.body) {
    if (node.type === "ImportDeclaration") {
      const decl = node as ImportDeclaration;
      const from = JSON.stringify(decl.source.value);
      if (decl.specifiers.length === 0) hoisted.push(`import ${from};`);
      else {
        const ns = `__dwl_vi${importIndex++}_${suffix}`;
        hoisted.push(`import * as ${ns} from ${from};`);
        for (const sp of decl.specifiers) {
          if (sp.type === "ImportNamespaceSpecifier") locals.push(`const ${sp.local.name} = ${ns};`);
          else {
            const imported =
              sp.type === "ImportDefaultSpecifier" ? "default" : (sp.imported?.name ?? sp.imported?.value ?? "");
            locals.push(`const ${sp.local.name} = ${ns}[${JSON.stringify(imported)}];`);
          }
        }
      }
      s.overwrite(node.start, node.end, blank(code.slice(node.start, node.end)));
    } else if (node.type === "ExportNamedDeclaration" && !(node as Node & { declaration?: unknown }).declaration) {
      const specifiers = (
        node as Node & { specifiers: { local: { name: string }; exported: { name?: string; value?: string } }[] }
      ).specifiers;
      for (const sp of specifiers) exported.set(sp.exported.name ?? sp.exported.value ?? "", sp.local.name);
      s.overwrite(node.start, node.end, blank(code.slice(node.start, node.end)));
    } else if (node.type.startsWith("Export")) {
      return undefined;
    }
  }
  const namespaces: string[] = [];
  for (let i = 0; i < count; i++) {
    const local = exported.get(`e${i}`);
    if (local === undefined) return undefined;
    namespaces.push(local);
  }
  const head = `var ${name} = (() => {${fuel}${locals.join("")}\n`;
  const body = s.toString();
  const wrapped = `${head}${body}${body.endsWith("\n") ? "" : "\n"}return [${namespaces.join(", ")}];\n})();\n`;
  try {
    // Once per cached module: anything that cannot stay inside the function (top-level await) fails here.
    parseModule(`${hoisted.join("")}${wrapped}`);
  } catch {
    return undefined;
  }
  const shifted = JSON.parse(shiftMap(code, output.map, inserted, "vendor.js")) as {
    mappings: string;
    sources: string[];
    names?: string[];
  };
  // The head line has no mappings; esbuild's lines follow it.
  const lines: SourceMapSegment[][] = [[], ...decode(shifted.mappings)];
  const lineCount = wrapped.split("\n").length - 1;
  lines.length = Math.min(lines.length, lineCount);
  while (lines.length < lineCount) lines.push([]);
  return {
    imports: hoisted.join(""),
    code: wrapped,
    name,
    mappings: encode(lines),
    lineCount,
    end: endState(lines),
    sources: shifted.sources,
    names: shifted.names ?? [],
  };
}

function endState(lines: SourceMapSegment[][]): MapState | undefined {
  let end: MapState | undefined;
  let name: number | undefined;
  for (const line of lines) {
    for (const seg of line) {
      if (seg.length === 1) continue;
      end = { source: seg[1], line: seg[2], column: seg[3], name: undefined };
      if (seg.length === 5) name = seg[4];
    }
  }
  return end && { ...end, name };
}

/**
 * `lines` encoded as they would be after lines that left the encoder in state `end` (source map
 * fields other than the generated column are deltas that run on across lines): a first line of
 * segments that set that state is encoded with them, then dropped.
 */
function encodeAfter(end: MapState | undefined, lines: SourceMapSegment[][]): string {
  if (!end) return encode(lines);
  const { source, line, column, name } = end;
  const setState: SourceMapSegment[] =
    name === undefined
      ? [[0, source, line, column]]
      : [
          [0, source, line, column, name],
          [1, source, line, column],
        ];
  const encoded = encode([setState, ...lines]);
  return encoded.slice(encoded.indexOf(";") + 1);
}

/** `import { a as b } from "dwl-vendor:0"` → `const { "a": b } = <vendor>[0];` (undefined: not a vendor import). */
export function externalImport(vendorName: string): (node: ImportDeclaration) => string | undefined {
  return (node) => {
    const from = node.source.value;
    if (!from.startsWith(VENDOR_PREFIX)) return undefined;
    const target = `${vendorName}[${Number(from.slice(VENDOR_PREFIX.length))}]`;
    const parts: string[] = [];
    const fields: string[] = [];
    for (const sp of node.specifiers) {
      if (sp.type === "ImportNamespaceSpecifier") parts.push(`const ${sp.local.name} = ${target};`);
      else {
        const imported =
          sp.type === "ImportDefaultSpecifier" ? "default" : (sp.imported?.name ?? sp.imported?.value ?? "");
        fields.push(`${JSON.stringify(imported)}: ${sp.local.name}`);
      }
    }
    if (fields.length > 0) parts.push(`const { ${fields.join(", ")} } = ${target};`);
    return parts.join(" ");
  };
}

/** Whether every mention of a vendor specifier in the user's bundle is an import declaration. */
export function onlyExternalImports(program: Program): boolean {
  for (const node of program.body) {
    const from = (node as Node & { source?: { value?: unknown } | null }).source?.value;
    if (typeof from === "string" && from.startsWith(VENDOR_PREFIX) && node.type !== "ImportDeclaration") return false;
  }
  return true;
}

/**
 * The program's module: the vendor's imports and function, then the user's rewritten bundle; one
 * map whose lines are the vendor's then the user's (sources and names joined).
 */
export function joinVendor(
  vendor: Vendor,
  user: { code: string; map: string },
  fileName: string,
): { code: string; map: string } {
  const userMap = JSON.parse(user.map) as { mappings: string; sources: string[]; names?: string[] };
  const sources = [...vendor.sources, ...userMap.sources];
  const names = [...vendor.names, ...(userMap.names ?? [])];
  const userLines = decode(userMap.mappings).map((line) =>
    line.map((seg): SourceMapSegment => {
      if (seg.length === 1) return seg;
      const moved: SourceMapSegment =
        seg.length === 5
          ? [seg[0], seg[1] + vendor.sources.length, seg[2], seg[3], seg[4] + vendor.names.length]
          : [seg[0], seg[1] + vendor.sources.length, seg[2], seg[3]];
      return moved;
    }),
  );
  // The imports go on the vendor's first line, which has no mappings.
  const code = `${vendor.imports}${vendor.code}${user.code}`;
  let mappings: string;
  if (vendor.lineCount === 0) mappings = encode(userLines);
  else if (userLines.length === 0) mappings = vendor.mappings;
  else mappings = `${vendor.mappings};${encodeAfter(vendor.end, userLines)}`;
  return { code, map: JSON.stringify({ version: 3, file: fileName, sources, names, mappings }) };
}

/**
 * Pre-built packages' modules by `vendorKey`, bounded by bytes; concurrent builds of one key share
 * one, and undefined (a package set only one whole bundle serves) is kept too.
 */
export function vendorCache(): MemoryCache<Vendor | undefined> {
  return new MemoryCache(MAX_VENDOR_CACHE_BYTES, (vendor) =>
    vendor ? (vendor.code.length + vendor.mappings.length) * 2 : 1,
  );
}
