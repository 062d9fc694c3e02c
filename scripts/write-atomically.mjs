/**
 * Writes a generated file under a temporary name and renames it into place: the build scripts
 * that call it (apps/loader/build-harness.mjs, apps/playground/build.mjs) may run in several of
 * the test suite's processes at once, and a reader must never see half a file.
 */
import { renameSync, writeFileSync } from "node:fs";

/** @param {string} path @param {string} text */
export function writeAtomically(path, text) {
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, text);
  renameSync(partial, path);
}
