// Programs the bench measures, shared with the opt-in in-process measurement
// (apps/loader/src/bundle/bundle-speed.test.ts) so both time the same text.

/**
 * Three files: a TS entry importing a TS module (enum + generics) and a JSON file; result 42.
 * `tag` changes index.ts only (a new program whose other files are unchanged).
 */
export const threeFileTs = (tag) => ({
  "index.ts": [
    `import { Op, reduce, type Pair } from "./lib/math.ts";`,
    `import data from "./data.json";`,
    ``,
    `const pairs: Pair<number>[] = data.values.map((v: number, i: number) => ({ key: i, value: v }));`,
    `export default (): number => reduce(pairs, Op.Add, 0) + data.offset;`,
    tag ? `// ${tag}` : ``,
    ``,
  ].join("\n"),
  "lib/math.ts": [
    `export enum Op { Add = "add", Mul = "mul" }`,
    `export interface Pair<T> { key: number; value: T }`,
    `export function reduce<T extends number>(items: readonly Pair<T>[], op: Op, init: number): number {`,
    `  return items.reduce((acc, { value }) => (op === Op.Add ? acc + value : acc * value), init);`,
    `}`,
    ``,
  ].join("\n"),
  "data.json": JSON.stringify({ values: [10, 20, 5], offset: 7 }),
});

/** A Hono app with CORS (dependency `hono@^4`); `tag` makes it a new program. */
export const honoSource = (tag) =>
  `import { Hono } from "hono";\nimport { cors } from "hono/cors";\nconst app = new Hono();\napp.use(cors());\napp.get("/hello/:name", (c) => c.json({ hello: c.req.param("name") }));\nexport default app; // ${tag}`;
