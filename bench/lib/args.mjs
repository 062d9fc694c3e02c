// Command-line options of the A/B benches (bench/ab.mjs, bench/metering-ab.mjs).
import { resolve } from "node:path";

/** The value of `--<name>=<value>`, or `fallback`. */
export const arg = (name, fallback) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

/** `--trees=a,b`: the loader checkouts to compare, as absolute paths (default: this one). */
export const treesArg = () =>
  arg("trees", ".")
    .split(",")
    .map((tree) => resolve(tree));
