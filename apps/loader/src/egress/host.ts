/**
 * @module egress/host
 * Our own host parser, so the egress checks never depend on a host having been normalised first:
 * IPv4 in every spelling the WHATWG URL standard accepts (1–4 parts, each decimal, `0x` hex or
 * `0` octal, trailing dot), IPv6 (compression, embedded dotted IPv4, zone ids stripped), and
 * domain names restricted to ASCII letters, digits, `-` and `_`. Anything else is refused
 * (`undefined`) rather than guessed at.
 *
 * @see https://url.spec.whatwg.org/#concept-ipv4-parser
 * @see https://url.spec.whatwg.org/#concept-ipv6-parser
 */

/** A parsed host. IPv4 as an unsigned 32-bit number, IPv6 as eight 16-bit pieces. */
export type Host =
  | { kind: "ipv4"; address: number }
  | { kind: "ipv6"; pieces: readonly number[] }
  | { kind: "domain"; name: string };

const MAX_DOMAIN_CHARS = 253;
const DOMAIN_LABEL = /^[a-z0-9_-]{1,63}$/;
// Printable ASCII without space: a raw host with anything else (spaces, controls, Unicode that
// the URL parser would map, percent-escapes decoded later) is not something we try to interpret.
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Parses a hostname, bracketed or bare IPv6 included, case-insensitively; one trailing dot is
 * ignored (`localhost.` is `localhost`). Returns `undefined` for anything that is not a valid
 * IPv4, IPv6 or ASCII domain name — including names that end in a number but are not valid IPv4
 * (`foo.127`, `256.0.0.1`), which the URL standard also rejects.
 */
export function parseHost(raw: string): Host | undefined {
  if (!PRINTABLE_ASCII.test(raw)) return undefined;
  const text = raw.toLowerCase();

  if (text.startsWith("[")) {
    if (!text.endsWith("]")) return undefined;
    return ipv6Host(text.slice(1, -1));
  }
  if (text.includes(":")) return ipv6Host(text);

  const name = text.length > 1 && text.endsWith(".") ? text.slice(0, -1) : text;
  const labels = name.split(".");
  if (labels.some((label) => label === "")) return undefined;
  if (endsInNumber(labels)) {
    const address = parseIPv4Parts(labels);
    return address === undefined ? undefined : { kind: "ipv4", address };
  }
  if (name.length > MAX_DOMAIN_CHARS || !labels.every((label) => DOMAIN_LABEL.test(label))) return undefined;
  return { kind: "domain", name };
}

/** The canonical spelling, as WHATWG URL serialises it: `127.0.0.1`, `[::ffff:7f00:1]`, `example.com`. */
export function formatHost(host: Host): string {
  switch (host.kind) {
    case "ipv4":
      return formatIPv4(host.address);
    case "ipv6":
      return `[${formatIPv6(host.pieces)}]`;
    case "domain":
      return host.name;
  }
}

export function formatIPv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join(".");
}

/** RFC 5952 / WHATWG: lowercase hex, the first longest run of two or more zero pieces as `::`. */
export function formatIPv6(pieces: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < pieces.length; ) {
    if (pieces[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < pieces.length && pieces[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = pieces.map((piece) => piece.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

function ipv6Host(text: string): Host | undefined {
  // A zone id (`fe80::1%eth0`, `%25eth0` when percent-encoded) names a local interface; it never
  // changes which address is meant, so it is dropped before judging the address.
  const zone = text.indexOf("%");
  const pieces = parseIPv6(zone >= 0 ? text.slice(0, zone) : text);
  return pieces === undefined ? undefined : { kind: "ipv6", pieces };
}

/** WHATWG "ends in a number": the last label is all digits, or parses as an IPv4 number (`0x`, `0x7f`). */
function endsInNumber(labels: readonly string[]): boolean {
  const last = labels[labels.length - 1] ?? "";
  return /^[0-9]+$/.test(last) || parseIPv4Number(last) !== undefined;
}

/** One IPv4 part: `0x`/`0X` hex (empty digits = 0), a leading `0` octal, otherwise decimal. */
function parseIPv4Number(part: string): number | undefined {
  if (part === "") return undefined;
  let digits = part;
  let radix = 10;
  if (/^0x/i.test(part)) {
    digits = part.slice(2);
    radix = 16;
  } else if (part.length > 1 && part.startsWith("0")) {
    digits = part.slice(1);
    radix = 8;
  }
  if (digits === "") return 0;
  const valid = radix === 16 ? /^[0-9a-f]+$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!valid.test(digits)) return undefined;
  // Values above 2^32 are refused by the caller; precision loss beyond 2^53 cannot make one fit.
  return parseInt(digits, radix);
}

function parseIPv4Parts(parts: readonly string[]): number | undefined {
  if (parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIPv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop() ?? 0;
  if (numbers.some((n) => n > 255)) return undefined;
  // The last part fills every byte the earlier parts did not: `127.1` is 127.0.0.1.
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  return numbers.reduce((acc, n, i) => acc + n * 256 ** (3 - i), last);
}

const HEX_DIGIT = /^[0-9a-f]$/i;
const DIGIT = /^[0-9]$/;

/** The WHATWG IPv6 parser, step for step; returns eight pieces or `undefined`. */
export function parseIPv6(input: string): number[] | undefined {
  const address = [0, 0, 0, 0, 0, 0, 0, 0];
  let pieceIndex = 0;
  let compress: number | undefined;
  let p = 0;
  const at = (i: number): string => input[i] ?? "";

  if (at(p) === ":") {
    if (at(p + 1) !== ":") return undefined;
    p += 2;
    pieceIndex++;
    compress = pieceIndex;
  }
  while (p < input.length) {
    if (pieceIndex === 8) return undefined;
    if (at(p) === ":") {
      if (compress !== undefined) return undefined;
      p++;
      pieceIndex++;
      compress = pieceIndex;
      continue;
    }
    let value = 0;
    let length = 0;
    while (length < 4 && HEX_DIGIT.test(at(p))) {
      value = value * 0x10 + parseInt(at(p), 16);
      p++;
      length++;
    }
    if (at(p) === ".") {
      // Embedded dotted IPv4 (`::ffff:127.0.0.1`): strictly four decimal parts, no leading zeros.
      if (length === 0) return undefined;
      p -= length;
      if (pieceIndex > 6) return undefined;
      let numbersSeen = 0;
      while (p < input.length) {
        let ipv4Piece: number | undefined;
        if (numbersSeen > 0) {
          if (at(p) === "." && numbersSeen < 4) p++;
          else return undefined;
        }
        if (!DIGIT.test(at(p))) return undefined;
        while (DIGIT.test(at(p))) {
          const n = Number(at(p));
          if (ipv4Piece === undefined) ipv4Piece = n;
          else if (ipv4Piece === 0) return undefined;
          else ipv4Piece = ipv4Piece * 10 + n;
          if (ipv4Piece > 255) return undefined;
          p++;
        }
        address[pieceIndex] = (address[pieceIndex] ?? 0) * 0x100 + (ipv4Piece ?? 0);
        numbersSeen++;
        if (numbersSeen === 2 || numbersSeen === 4) pieceIndex++;
      }
      if (numbersSeen !== 4) return undefined;
      break;
    } else if (at(p) === ":") {
      p++;
      if (p >= input.length) return undefined;
    } else if (p < input.length) {
      return undefined;
    }
    address[pieceIndex] = value;
    pieceIndex++;
  }
  if (compress !== undefined) {
    let swaps = pieceIndex - compress;
    pieceIndex = 7;
    while (pieceIndex !== 0 && swaps > 0) {
      const other = compress + swaps - 1;
      const held = address[pieceIndex] ?? 0;
      address[pieceIndex] = address[other] ?? 0;
      address[other] = held;
      pieceIndex--;
      swaps--;
    }
  } else if (pieceIndex !== 8) {
    return undefined;
  }
  return address;
}
