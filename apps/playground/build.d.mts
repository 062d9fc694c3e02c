/** Builds the playground bundle unless its inputs are unchanged (see build.mjs). */
export default function buildPlayground(options?: { force?: boolean; watch?: boolean }): Promise<string>;
