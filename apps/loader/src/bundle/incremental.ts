/**
 * @module incremental
 * One long-lived esbuild build context per loader isolate, so that a new program importing
 * packages an earlier build already used skips parsing them: esbuild keeps the AST of every file
 * a context has loaded and reuses it on `rebuild()` when the file's path (namespace and path,
 * which for packages include name@version) and its contents are both unchanged; onResolve and
 * onLoad still run for every file, and linking and printing are redone, so the output is the
 * same as a one-off build's. Hono + hono/cors: ~62 → ~30 ms of esbuild (bench/npm.mjs).
 *
 * - Each build brings its own plugin callbacks (its files and packages): the context's plugin
 *   forwards to the callbacks of the build in progress, so builds on the context run one at a
 *   time. A build that finds the context busy runs as a one-off `esbuild.build` instead of
 *   waiting (it then costs what every build cost before).
 * - Bounded: esbuild keeps one AST per distinct file path, about 20 bytes of wasm memory per
 *   byte of source. Once the files loaded through the context (latest contents per path) exceed
 *   ESBUILD_CONTEXT_SOURCE_BYTES, the context is disposed after that build and the next build
 *   starts a fresh one.
 */
import type { BuildContext, BuildOptions, BuildResult } from "esbuild-wasm/esm/browser.js";
import { ESBUILD_CONTEXT_SOURCE_BYTES } from "../limits.ts";
import type { getEsbuild } from "./esbuild.ts";
import { delegatingPlugin, type VirtualFileHandlers } from "./virtual-files.ts";

type Esbuild = Awaited<ReturnType<typeof getEsbuild>>;
type Options = Omit<BuildOptions, "entryPoints" | "plugins">;
type Result = BuildResult<Options & { write: false; metafile: true }>;

/** The context's one entry point; the plugin resolves it to the build's own entry. */
const ENTRY = "<entry>";

export class IncrementalBuilder {
  private context: Promise<BuildContext> | undefined;
  private handlers: VirtualFileHandlers | undefined;
  private busy = false;
  /** `namespace:path` → bytes of the contents the context last loaded for it. */
  private readonly sources = new Map<string, number>();
  private sourceBytes = 0;
  /** Builds served by the context, and contexts disposed for size (tests read both). */
  readonly stats = { rebuilds: 0, oneOff: 0, resets: 0 };

  constructor(
    private readonly options: Options,
    private readonly maxSourceBytes = ESBUILD_CONTEXT_SOURCE_BYTES,
  ) {}

  /** Bytes of source the context holds parsed now. */
  get heldBytes(): number {
    return this.sourceBytes;
  }

  async build(esbuild: Esbuild, handlers: VirtualFileHandlers): Promise<Result> {
    if (this.busy) {
      this.stats.oneOff++;
      return (await esbuild.build({
        ...this.options,
        entryPoints: [ENTRY],
        plugins: [delegatingPlugin(() => handlers)],
      })) as Result;
    }
    this.busy = true;
    this.handlers = this.tracking(handlers);
    try {
      this.context ??= esbuild.context({
        ...this.options,
        entryPoints: [ENTRY],
        plugins: [delegatingPlugin(() => this.current())],
      });
      const context = await this.context;
      this.stats.rebuilds++;
      return (await context.rebuild()) as Result;
    } catch (err) {
      // A compile error leaves the context as good as before; anything else may not.
      if (!(typeof err === "object" && err !== null && Array.isArray((err as { errors?: unknown }).errors)))
        await this.reset();
      throw err;
    } finally {
      this.handlers = undefined;
      if (this.sourceBytes > this.maxSourceBytes) {
        this.stats.resets++;
        await this.reset();
      }
      this.busy = false;
    }
  }

  private current(): VirtualFileHandlers {
    if (!this.handlers) throw new Error("internal: esbuild context called outside a build");
    return this.handlers;
  }

  /** `handlers` that also count what the context is left holding. */
  private tracking(handlers: VirtualFileHandlers): VirtualFileHandlers {
    return {
      resolve: (args) => handlers.resolve(args),
      load: (args) => {
        const result = handlers.load(args);
        const contents = result?.contents;
        if (contents !== undefined) {
          const key = `${args.namespace}:${args.path}`;
          const bytes = typeof contents === "string" ? contents.length : contents.byteLength;
          this.sourceBytes += bytes - (this.sources.get(key) ?? 0);
          this.sources.set(key, bytes);
        }
        return result;
      },
    };
  }

  private async reset(): Promise<void> {
    const context = this.context;
    this.context = undefined;
    this.sources.clear();
    this.sourceBytes = 0;
    if (context) await context.then((c) => c.dispose()).catch(() => {});
  }
}
