/** Types of tar-writer.mjs (test support shared by the Node registry and workerd tests). */
export function tarHeader(name: string, size: number, type: string, prefix?: string): Uint8Array;
export function tarEntry(path: string, content: Uint8Array | string, type?: string): Uint8Array[];
export function concat(parts: Uint8Array[]): Uint8Array;
export function packTar(files: Record<string, string | Uint8Array>, raw?: Uint8Array[]): Uint8Array;
