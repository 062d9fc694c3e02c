/** Builds index.js, ai.js and cli.js into `outDir` (default dist/) when missing or stale; true when it built. */
export function buildJs(options?: { force?: boolean; outDir?: string }): Promise<boolean>;
/** Builds the whole publishable package into dist/ and returns its folder. */
export function buildPackage(): Promise<string>;
