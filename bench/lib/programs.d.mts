/** Types of programs.mjs, for apps/loader/src/bundle/bundle-speed.test.ts. */
export function threeFileTs(tag: string): Record<string, string>;
export function honoSource(tag: string): string;
