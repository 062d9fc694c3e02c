// @ts-check
/**
 * A loopback npm registry for the workerd tests: abbreviated metadata and tarballs from
 * fixtures.mjs, and a count of every request so tests can prove which cache level answered.
 *
 * Paths may start with `/ns/<name>`: a namespace with its own request counts (and its own cache
 * keys in the loader, since the registry URL differs), so a test can count exactly while other
 * test files run at the same time.
 *   GET [/ns/<n>]/<name>                     metadata (`@scope%2fname` or `@scope/name`)
 *   GET [/ns/<n>]/<name>/-/<base>-<v>.tgz    tarball
 *   GET /-/dwl/stats                         { "<ns>|packument|<name>": n, "<ns>|tarball|<name>@<v>": n }
 * Behaviours: `dwl-down` always answers 503; `dwl-flaky` answers 503 twice per namespace, then
 * works. Unknown names answer 404.
 */
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { buildFixtures } from "./fixtures.mjs";

/** @returns {Promise<{ url: string, close: () => Promise<void> }>} */
export async function startRegistry() {
  const packages = buildFixtures();
  /** @type {Map<string, number>} */
  const counts = new Map();
  const count = (/** @type {string} */ key) => {
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    return n;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://registry.test");
    const send = (/** @type {number} */ status, /** @type {string | Buffer} */ body, type = "application/json") => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    if (url.pathname === "/-/dwl/stats") return send(200, JSON.stringify(Object.fromEntries(counts)));

    const ns = /^\/ns\/([^/]+)/.exec(url.pathname)?.[1] ?? "";
    const path = ns ? url.pathname.slice(`/ns/${ns}`.length) : url.pathname;
    const origin = `http://${req.headers.host}${ns ? `/ns/${ns}` : ""}`;

    const tarball = /^\/((?:@[^/]+\/)?[^/@]+)\/-\/.+-(\d[^/]*)\.tgz$/.exec(path);
    if (tarball) {
      const [, name = "", version = ""] = tarball;
      count(`${ns}|tarball|${name}@${version}`);
      const found = packages.get(name)?.versions.get(version);
      return found ? send(200, found.tarball, "application/octet-stream") : send(404, "{}");
    }

    const name = decodeURIComponent(path.slice(1));
    const n = count(`${ns}|packument|${name}`);
    if (name === "dwl-down" || (name === "dwl-flaky" && n <= 2))
      return send(503, JSON.stringify({ error: "service unavailable" }));
    const pkg = packages.get(name);
    if (!pkg) return send(404, JSON.stringify({ error: "Not found" }));
    const base = name.split("/").at(-1);
    /** @type {Record<string, unknown>} */
    const versions = {};
    for (const [version, v] of pkg.versions) {
      const { dependencies, peerDependencies, peerDependenciesMeta, optionalDependencies } = v.manifest;
      versions[version] = {
        name,
        version,
        dependencies,
        peerDependencies,
        peerDependenciesMeta,
        optionalDependencies,
        dist: {
          tarball: `${origin}/${name}/-/${base}-${version}.tgz`,
          integrity: v.integrity ?? `sha512-${createHash("sha512").update(v.tarball).digest("base64")}`,
          shasum: createHash("sha1").update(v.tarball).digest("hex"),
          ...(v.unpackedSize ? { unpackedSize: v.unpackedSize } : {}),
        },
      };
    }
    return send(
      200,
      JSON.stringify({ name, "dist-tags": pkg.distTags, versions, modified: "2026-01-01T00:00:00.000Z" }),
      "application/vnd.npm.install-v1+json",
    );
  });

  // workerd keeps idle connections for reuse; Node's default 5 s keep-alive closing one as a test
  // reuses it surfaced as "Network connection lost" when two test runtimes ran at once.
  server.keepAliveTimeout = 120_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("test registry: no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
