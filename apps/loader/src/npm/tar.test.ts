import { describe, expect, it } from "vitest";
import { concat, packTar, tarEntry, tarHeader } from "../../test/npm-registry/tar-writer.mjs";
import { gunzip, gunzipAll, TarError, TarParser, untar } from "./tar.ts";
import { packagePath, unpackTarball } from "./tarball.ts";

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await new Response(new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
}

/** `mib` MiB of zeros, gzipped (about a thousandth of the size) without holding them at once. */
async function gzipBomb(mib: number): Promise<Uint8Array> {
  const stream = new CompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const done = new Response(stream.readable).arrayBuffer();
  const zeros = new Uint8Array(1024 * 1024);
  for (let i = 0; i < mib; i++) await writer.write(zeros);
  await writer.close();
  return new Uint8Array(await done);
}

const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("untar", () => {
  it("reads plain, ustar-prefixed and PAX long paths, skipping directories and links", () => {
    const prefixed = `package/${"a".repeat(90)}/${"b".repeat(60)}.js`;
    const pax = `package/${"c".repeat(150)}/${"d".repeat(150)}.js`;
    const archive = packTar({ "index.js": "one", [prefixed.slice(8)]: "two", [pax.slice(8)]: "three" }, [
      ...tarEntry("package/dir/", "", "5"),
      ...tarEntry("package/link.js", "", "2"),
    ]);
    const files = untar(archive, 100);
    expect(files.map((f) => [f.path, text(f.data)])).toEqual([
      ["package/index.js", "one"],
      [prefixed, "two"],
      [pax, "three"],
    ]);
  });

  it("refuses a header whose checksum does not match", () => {
    const archive = packTar({ "index.js": "x" });
    archive[0] = "q".charCodeAt(0);
    expect(() => untar(archive, 100)).toThrow(/checksum/);
  });

  it("refuses an entry whose size runs past the end of the archive", () => {
    const archive = concat([tarHeader("package/index.js", 600, "0"), new Uint8Array(512)]);
    expect(() => untar(archive, 100)).toThrow(/truncated/);
  });

  it("parses an archive delivered in chunks of any size, keeping only what is asked for", () => {
    const archive = packTar({ "a.js": "x".repeat(700), "b.md": "skipped", [`${"l".repeat(120)}/c.js`]: "long" });
    for (const size of [1, 7, 512, 4096]) {
      const parser = new TarParser(100, 1024, (path) => path.endsWith(".js"));
      for (let at = 0; at < archive.byteLength; at += size) parser.push(archive.subarray(at, at + size));
      expect(parser.end().map((f) => [f.path, f.data.byteLength])).toEqual([
        ["package/a.js", 700],
        [`package/${"l".repeat(120)}/c.js`, 4],
      ]);
    }
  });

  it("refuses a kept entry over the size limit before allocating it", () => {
    const parser = new TarParser(100, 100, () => true);
    expect(() => parser.push(tarHeader("package/big.js", 1_000_000_000, "0"))).toThrow(/larger than 100 bytes/);
  });

  it("stops counting at the entry limit", () => {
    const archive = packTar(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`f${i}.js`, ""])));
    expect(() => untar(archive, 10)).toThrow(/more than 10 entries/);
  });
});

describe("gunzip", () => {
  it("stops a gzip bomb at the limit, handing on nothing past it", async () => {
    const bomb = await gzipBomb(64);
    expect(bomb.byteLength).toBeLessThan(100 * 1024);
    let handedOn = 0;
    const err = await gunzip(bomb, 1024 * 1024, (chunk) => {
      handedOn += chunk.byteLength;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarError);
    expect((err as Error).message).toMatch(/more than 1048576 bytes/);
    expect(handedOn).toBeGreaterThan(0);
    expect(handedOn).toBeLessThanOrEqual(1024 * 1024);
    await expect(gunzipAll(bomb, 1024 * 1024)).rejects.toThrow(/more than 1048576 bytes/);
  });

  it("reports data that is not gzip", async () => {
    await expect(gunzipAll(new TextEncoder().encode("plain text, not gzip"), 1024)).rejects.toThrow(
      /not a valid gzip file/,
    );
  });
});

describe("unpackTarball", () => {
  it("keeps JavaScript and JSON relative to the package root, drops the rest", async () => {
    const files = await unpackTarball(
      await gzip(
        packTar({
          "package.json": "{}",
          "dist/index.js": "js",
          "dist/index.d.ts": "types",
          "dist/index.js.map": "{}",
          "README.md": "hi",
          "data.json": "[]",
          "node_modules/x/index.js": "bundled",
        }),
      ),
    );
    expect(Object.keys(files).sort()).toEqual(["data.json", "dist/index.js", "package.json"]);
  });

  it("refuses a package with an entry that climbs out of it", async () => {
    const tarball = await gzip(packTar({ "package.json": "{}" }, tarEntry("package/../../etc/evil.js", "x")));
    await expect(unpackTarball(tarball)).rejects.toThrow(/points outside the package/);
  });

  it("refuses a tarball without package.json", async () => {
    await expect(unpackTarball(await gzip(packTar({ "index.js": "" })))).rejects.toThrow(/no package.json/);
  });

  it("normalises paths under the top directory, whatever its name", () => {
    expect(packagePath("package/dist/./a.js")).toBe("dist/a.js");
    expect(packagePath("node/lib/a.js")).toBe("lib/a.js");
    expect(packagePath("/etc/passwd")).toBeNull();
    expect(packagePath("../evil.js")).toBeNull();
    expect(packagePath("package\\..\\evil.js")).toBeNull();
  });
});
