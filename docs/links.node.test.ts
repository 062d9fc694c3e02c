/**
 * Keeps the documentation from drifting away from the repository: every relative link in
 * README.md and docs/*.md names a file that exists (and, into a Markdown file, a heading that
 * exists), the README links nowhere outside the repository, and every path named in the Layout
 * of docs/architecture.md exists.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL("../", import.meta.url).pathname;
const pages = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The text of a Markdown file without fenced code blocks (links there are examples, not links). */
const prose = (text: string) => text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[ \t]*$/gm, "");

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");

/** Every anchor a Markdown file has, with GitHub's -1, -2… suffixes for repeated headings. */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const match of prose(readFileSync(file, "utf8")).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(match[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Markdown link and image targets (inline form), outside code. */
function linksOf(text: string): string[] {
  const inline = prose(text).replace(/`[^`\n]*`/g, "");
  return [
    ...inline.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g),
    ...inline.matchAll(/<((?:https?|mailto):[^>\s]+)>/g),
  ].map((m) => m[1]!);
}

describe("the documentation's links", () => {
  it.each(pages)("%s: every relative link names an existing file and heading", (page) => {
    const broken: string[] = [];
    for (const link of linksOf(readFileSync(join(root, page), "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // checked below for the README
      const [path = "", anchor] = link.split("#", 2);
      const target = path ? join(dirname(join(root, page)), decodeURIComponent(path)) : join(root, page);
      if (!existsSync(target)) {
        broken.push(`${link}: no file ${relative(root, target)}`);
        continue;
      }
      if (
        anchor !== undefined &&
        target.endsWith(".md") &&
        statSync(target).isFile() &&
        !anchorsOf(target).has(decodeURIComponent(anchor))
      ) {
        broken.push(`${link}: ${relative(root, target)} has no heading #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("the README links only inside the repository", () => {
    const outside = linksOf(readFileSync(join(root, "README.md"), "utf8")).filter((link) =>
      /^[a-z][a-z0-9+.-]*:|^\/\//i.test(link),
    );
    expect(outside).toEqual([]);
  });
});

describe("docs/architecture.md's Layout", () => {
  it("names only paths that exist", () => {
    const text = readFileSync(join(root, "docs/architecture.md"), "utf8");
    const block = /^## Layout\n[\s\S]*?^```\n([\s\S]*?)^```$/m.exec(text)?.[1];
    expect(block, "a ``` block under ## Layout").toBeTruthy();
    const missing: string[] = [];
    const exists = (candidates: string[], name: string) => candidates.some((dir) => existsSync(join(root, dir, name)));
    let base = ""; // the last top-level entry's folder
    let folder = ""; // the folder the current entry's description is relative to
    for (const line of block!.split("\n")) {
      let description = line;
      const top = /^(\S(?:.*?\S)?)(?:\s{2,}(.*))?$/.exec(line);
      const nested = /^ {2}(\S(?:.*?\S)?)(?:\s{2,}(.*))?$/.exec(line);
      const entry = top ?? nested;
      if (entry) {
        const parent = top ? "" : base;
        for (const name of entry[1]!.split(/,\s*/)) if (!exists([parent], name)) missing.push(`${parent}${name}`);
        const first = `${parent}${entry[1]!.split(/,\s*/)[0]!}`;
        folder = first.endsWith("/") ? first : `${dirname(first)}/`.replace(/^\.\//, "");
        if (top) base = folder;
        description = entry[2] ?? "";
      }
      // Names in the description: files with an extension, or folders written with a trailing slash.
      for (const match of description.matchAll(
        /(?<![\w./*-])([\w-][\w./-]*\.(?:ts|mjs|js|json|toml|md|sh)|[\w-]+\/)(?![\w/-])/g,
      )) {
        if (!exists([folder, base, ""], match[1]!)) missing.push(`${match[1]} (in the description of ${folder})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
