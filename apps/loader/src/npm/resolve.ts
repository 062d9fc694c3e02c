/**
 * @module npm/resolve
 * Resolves a program's `dependencies` (name → semver range or dist-tag) to a graph of exact
 * versions, as npm would install them: breadth first, a range is satisfied by a version already
 * chosen for that name when one fits (fewer packages), otherwise by `latest` when it fits, else
 * by the highest matching version. Each package records which version each of its own
 * dependencies resolved to, so two versions of one package can coexist. Peer dependencies use
 * the program's own choice when it lists the package (else they are installed like ordinary
 * dependencies, as npm 7+ does; optional peers are skipped). Optional dependencies are skipped:
 * they are mostly native binaries, and packages must cope with their absence anyway.
 */
import semver from "semver";
import { CompileError } from "../compile-error.ts";
import { MAX_PACKAGES, REGISTRY_CONCURRENCY } from "../limits.ts";
import { mapLimit } from "./concurrency.ts";
import type { NpmRegistry, Packument, VersionInfo } from "./registry.ts";

export interface ResolvedPackage {
  /** `name@version`. */
  id: string;
  name: string;
  version: string;
  dist: VersionInfo["dist"];
  /** Dependency name → id of the package it resolved to. */
  dependencies: Record<string, string>;
}

export interface DependencyGraph {
  /** The program's own dependencies: name → id. */
  root: Record<string, string>;
  /** Every package, in resolution order. */
  packages: Map<string, ResolvedPackage>;
}

/** npm's rules for new package names, plus the upper case that old packages still have. */
const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/i;
const DIST_TAG = /^[a-z][a-z0-9._-]*$/i;

interface Requirement {
  name: string;
  range: string;
  /** null for the program's own dependencies. */
  parent: ResolvedPackage | null;
  peer: boolean;
}

export function isValidPackageName(name: string): boolean {
  return name.length <= 214 && PACKAGE_NAME.test(name) && !name.startsWith(".") && !name.startsWith("_");
}

const requiredBy = (parent: ResolvedPackage | null) => (parent ? ` (required by ${parent.id})` : "");

/** Checks a range before any network request, so a typo fails fast. */
function checkRange(name: string, range: string, parent: ResolvedPackage | null): void {
  if (!isValidPackageName(name))
    throw new CompileError(`"${name}" is not a valid npm package name${requiredBy(parent)}`);
  if (
    range.trim() === "" ||
    semver.validRange(range, { loose: true }) !== null ||
    (DIST_TAG.test(range) && !range.includes(":"))
  )
    return;
  throw new CompileError(
    `"${name}": "${range}"${requiredBy(parent)} is not a version range DWL can install (use a semver range or a dist-tag; git, URL, file and npm: alias specifiers are not supported)`,
  );
}

/**
 * Checks every listed dependency's name and range, without the network: a bad one is the
 * program's mistake whether or not it imports the package (unimported ones are never resolved).
 */
export function checkDependencies(dependencies: Record<string, string>): void {
  for (const [name, range] of Object.entries(dependencies)) checkRange(name, range, null);
}

/** The version `range` selects, or undefined. */
export function pickVersion(
  packument: Packument,
  range: string,
  alreadyChosen: readonly string[] = [],
): string | undefined {
  const wanted = range.trim() === "" ? "*" : range.trim();
  if (semver.validRange(wanted, { loose: true }) === null) {
    const tagged = packument.distTags[wanted];
    return tagged !== undefined && packument.versions[tagged] ? tagged : undefined;
  }
  const reuse = semver.maxSatisfying([...alreadyChosen], wanted, { loose: true });
  if (reuse) return reuse;
  const latest = packument.distTags.latest;
  if (latest !== undefined && packument.versions[latest] && semver.satisfies(latest, wanted, { loose: true }))
    return latest;
  return semver.maxSatisfying(Object.keys(packument.versions), wanted, { loose: true }) ?? undefined;
}

function sortedEntries(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function resolveDependencies(
  dependencies: Record<string, string>,
  registry: NpmRegistry,
  maxPackages = MAX_PACKAGES,
): Promise<DependencyGraph> {
  const graph: DependencyGraph = { root: {}, packages: new Map() };
  const chosen = new Map<string, string[]>();
  let level: Requirement[] = sortedEntries(dependencies).map(([name, range]) => ({
    name,
    range,
    parent: null,
    peer: false,
  }));
  for (const { name, range } of level) checkRange(name, range, null);

  while (level.length > 0) {
    // Fetch this level's metadata in parallel, then choose versions in a fixed order.
    const firstBy = new Map<string, Requirement>();
    for (const req of level)
      if (!firstBy.has(req.name) && !(req.peer && graph.root[req.name])) firstBy.set(req.name, req);
    // Each name not chosen yet adds a package: fail before fetching metadata for thousands.
    const newNames = [...firstBy.keys()].filter((name) => !chosen.has(name)).length;
    if (graph.packages.size + newNames > maxPackages) {
      throw new CompileError(
        `the dependencies need more than ${maxPackages} packages, the limit (${graph.packages.size + newNames} at least)`,
      );
    }
    const packuments = new Map(
      await mapLimit(
        [...firstBy.values()],
        REGISTRY_CONCURRENCY,
        async (req) => [req.name, await registry.packument(req.name, requiredBy(req.parent))] as const,
      ),
    );

    const next: Requirement[] = [];
    for (const req of level) {
      const links = req.parent ? req.parent.dependencies : graph.root;
      const rootChoice = graph.root[req.name];
      if (req.peer && rootChoice !== undefined) {
        links[req.name] = rootChoice;
        continue;
      }
      const packument = packuments.get(req.name);
      if (!packument) throw new Error(`metadata of ${req.name} was not fetched`);
      const version = pickVersion(packument, req.range, chosen.get(req.name));
      if (version === undefined) {
        const latest = packument.distTags.latest;
        throw new CompileError(
          `no version of "${req.name}" matches "${req.range}"${requiredBy(req.parent)}${latest ? ` (latest is ${latest})` : ""}`,
        );
      }
      const id = `${req.name}@${version}`;
      links[req.name] = id;
      if (graph.packages.has(id)) continue;
      if (graph.packages.size >= maxPackages) {
        throw new CompileError(
          `the dependencies need more than ${maxPackages} packages, the limit (while adding ${id}${requiredBy(req.parent)})`,
        );
      }
      const info = packument.versions[version];
      if (!info) throw new Error(`${id} vanished from its metadata`);
      const pkg: ResolvedPackage = { id, name: req.name, version, dist: info.dist, dependencies: {} };
      graph.packages.set(id, pkg);
      chosen.set(req.name, [...(chosen.get(req.name) ?? []), version]);

      for (const [name, range] of sortedEntries(info.dependencies)) {
        if (info.optionalDependencies.includes(name)) continue;
        checkRange(name, range, pkg);
        next.push({ name, range, parent: pkg, peer: false });
      }
      for (const [name, range] of sortedEntries(info.peerDependencies)) {
        if (
          info.dependencies[name] !== undefined ||
          (info.optionalPeers.includes(name) && graph.root[name] === undefined)
        )
          continue;
        checkRange(name, range, pkg);
        next.push({ name, range, parent: pkg, peer: true });
      }
    }
    level = next;
  }
  return graph;
}
