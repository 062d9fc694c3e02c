// @ts-check
/**
 * Writes npm-style tar archives for the tests, with Web APIs only so that both the Node-side
 * registry (server.mjs, which gzips with node:zlib) and workerd-side tests (CompressionStream)
 * use it. Paths over 100 bytes use the ustar prefix field when they can be split, PAX `path`
 * records otherwise, as npm's packer does. `tarEntry` with other types and raw paths lets
 * fixtures write hostile archives.
 */

const BLOCK = 512;
const encoder = new TextEncoder();

/**
 * @param {Uint8Array} block
 * @param {string} text
 * @param {number} offset
 * @param {number} [length]
 */
function put(block, text, offset, length = text.length) {
  block.set(encoder.encode(text).subarray(0, length), offset);
}

/**
 * @param {string} name
 * @param {number} size
 * @param {string} type
 * @param {string} prefix
 */
export function tarHeader(name, size, type, prefix = "") {
  const h = new Uint8Array(BLOCK);
  put(h, name, 0, 100);
  put(h, "0000644\0", 100);
  put(h, "0000000\0", 108);
  put(h, "0000000\0", 116);
  put(h, `${size.toString(8).padStart(11, "0")}\0`, 124);
  put(h, "14000000000\0", 136);
  put(h, "        ", 148);
  put(h, type, 156);
  put(h, "ustar\0", 257);
  put(h, "00", 263);
  put(h, prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(h, `${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** @param {Uint8Array} data */
const padded = (data) => {
  const out = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  out.set(data);
  return out;
};

/** @param {string} key @param {string} value */
function paxRecord(key, value) {
  const bodyBytes = encoder.encode(` ${key}=${value}\n`).length;
  let length = bodyBytes + String(bodyBytes).length;
  if (String(length).length !== String(bodyBytes).length) length = bodyBytes + String(length).length;
  return `${length} ${key}=${value}\n`;
}

/**
 * One entry (header blocks + data blocks).
 * @param {string} path
 * @param {Uint8Array | string} content
 * @param {string} [type] "0" file, "5" directory, "2" symlink, …
 * @returns {Uint8Array[]}
 */
export function tarEntry(path, content, type = "0") {
  const data = typeof content === "string" ? encoder.encode(content) : content;
  if (encoder.encode(path).length <= 100) return [tarHeader(path, data.length, type), padded(data)];
  for (let i = path.indexOf("/"); i !== -1; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100 && name !== "") {
      return [tarHeader(name, data.length, type, prefix), padded(data)];
    }
  }
  const pax = encoder.encode(paxRecord("path", path));
  return [
    tarHeader("PaxHeader/long", pax.length, "x"),
    padded(pax),
    tarHeader(path.slice(0, 100), data.length, type),
    padded(data),
  ];
}

/** @param {Uint8Array[]} parts */
export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * An (uncompressed) npm-style archive with every file under `package/`.
 * @param {Record<string, string | Uint8Array>} files
 * @param {Uint8Array[]} [raw] entries appended as they are (from `tarEntry`)
 */
export function packTar(files, raw = []) {
  const parts = [];
  for (const [path, content] of Object.entries(files)) parts.push(...tarEntry(`package/${path}`, content));
  parts.push(...raw, new Uint8Array(BLOCK * 2));
  return concat(parts);
}
