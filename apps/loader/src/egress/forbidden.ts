/**
 * @module egress/forbidden
 * Addresses and names a sandbox may never reach, whatever its allowlist says: this machine, the
 * networks behind it, and cloud metadata services. Judged on a parsed {@link Host}, so every
 * spelling of an address lands in the same place. IPv6 forms that carry an IPv4 address
 * (mapped, compatible, SIIT, NAT64, 6to4) are judged by that IPv4 address.
 *
 * What this cannot see: a public name whose DNS answer is private (`127.0.0.1.nip.io`,
 * `localtest.me`), since names are not resolved here. Deployed Workers' fetch cannot reach
 * private ranges anyway; under local workerd it can, so local mode relies on this list alone.
 */
import { formatIPv4, formatIPv6, type Host } from "./host.ts";

/** Why a host is refused. Only `loopback` can be lifted, by the server's `allowLoopback` flag. */
export type ForbiddenCategory =
  | "loopback"
  | "unspecified"
  | "private"
  | "shared"
  | "link_local"
  | "metadata"
  | "multicast"
  | "reserved"
  | "local_name";

export interface ForbiddenHost {
  category: ForbiddenCategory;
  /** Plain words for the refusal message, e.g. "a loopback address (this machine)". */
  description: string;
}

interface Range {
  base: number;
  prefix: number;
  category: ForbiddenCategory;
  description: string;
}

const ipv4 = (dotted: string): number => dotted.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);

const range = (cidr: string, category: ForbiddenCategory, description: string): Range => {
  const [base = "", prefix = "32"] = cidr.split("/");
  return { base: ipv4(base), prefix: Number(prefix), category, description };
};

// First match wins, so the single metadata addresses come before the ranges that contain them.
const IPV4_RANGES: readonly Range[] = [
  range("169.254.169.254/32", "metadata", "the cloud metadata service (169.254.169.254)"),
  range("169.254.170.2/32", "metadata", "the container metadata service (169.254.170.2)"),
  range("100.100.100.200/32", "metadata", "the cloud metadata service (100.100.100.200)"),
  range("127.0.0.0/8", "loopback", "a loopback address (this machine, 127.0.0.0/8)"),
  range("0.0.0.0/8", "unspecified", "an unspecified 'this network' address (0.0.0.0/8, which reaches this machine)"),
  range("10.0.0.0/8", "private", "a private-network address (10.0.0.0/8)"),
  range("172.16.0.0/12", "private", "a private-network address (172.16.0.0/12)"),
  range("192.168.0.0/16", "private", "a private-network address (192.168.0.0/16)"),
  range("100.64.0.0/10", "shared", "a carrier-grade NAT address (100.64.0.0/10)"),
  range("169.254.0.0/16", "link_local", "a link-local address (169.254.0.0/16)"),
  range("192.0.0.0/24", "reserved", "a reserved protocol-assignment address (192.0.0.0/24)"),
  range("192.0.2.0/24", "reserved", "a documentation address (192.0.2.0/24)"),
  range("198.51.100.0/24", "reserved", "a documentation address (198.51.100.0/24)"),
  range("203.0.113.0/24", "reserved", "a documentation address (203.0.113.0/24)"),
  range("198.18.0.0/15", "reserved", "a benchmarking-network address (198.18.0.0/15)"),
  range("224.0.0.0/4", "multicast", "a multicast address (224.0.0.0/4)"),
  range("240.0.0.0/4", "reserved", "a reserved or broadcast address (240.0.0.0/4)"),
];

function inRange(address: number, { base, prefix }: Range): boolean {
  if (prefix === 0) return true;
  const shift = 32 - prefix;
  return address >>> shift === base >>> shift;
}

export function forbiddenIPv4(address: number): ForbiddenHost | undefined {
  const hit = IPV4_RANGES.find((r) => inRange(address, r));
  return hit && { category: hit.category, description: hit.description };
}

const embedded = (pieces: readonly number[], high: number): number =>
  (pieces[high] ?? 0) * 0x10000 + (pieces[high + 1] ?? 0);

const zeroUpTo = (pieces: readonly number[], end: number): boolean => pieces.slice(0, end).every((p) => p === 0);

/** The IPv4 address an IPv6 transition form carries, and the form's name for messages. */
function embeddedIPv4(pieces: readonly number[]): { form: string; address: number } | undefined {
  const [p0, p1, , , p4, p5] = pieces;
  if (zeroUpTo(pieces, 5) && p5 === 0xffff) return { form: "IPv4-mapped", address: embedded(pieces, 6) };
  if (zeroUpTo(pieces, 6)) return { form: "IPv4-compatible", address: embedded(pieces, 6) };
  if (zeroUpTo(pieces, 4) && p4 === 0xffff && p5 === 0)
    return { form: "IPv4-translated", address: embedded(pieces, 6) };
  if (p0 === 0x64 && p1 === 0xff9b && pieces.slice(2, 6).every((p) => p === 0)) {
    return { form: "NAT64", address: embedded(pieces, 6) };
  }
  if (p0 === 0x2002) return { form: "6to4", address: embedded(pieces, 1) };
  return undefined;
}

interface Range6 {
  /** Leading pieces that must match, after masking the last one with `mask`. */
  pieces: readonly number[];
  mask: number;
  category: ForbiddenCategory;
  description: string;
}

// First match wins: the AWS metadata address sits inside the unique-local range.
const IPV6_RANGES: readonly Range6[] = [
  {
    pieces: [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254],
    mask: 0xffff,
    category: "metadata",
    description: "the cloud metadata service (fd00:ec2::254)",
  },
  {
    pieces: [0x0064, 0xff9b, 0x0001],
    mask: 0xffff,
    category: "private",
    description: "a local-use NAT64 address (64:ff9b:1::/48)",
  },
  {
    pieces: [0xfc00],
    mask: 0xfe00,
    category: "private",
    description: "a unique-local (private) IPv6 address (fc00::/7)",
  },
  { pieces: [0xfe80], mask: 0xffc0, category: "link_local", description: "a link-local IPv6 address (fe80::/10)" },
  { pieces: [0xfec0], mask: 0xffc0, category: "private", description: "a site-local IPv6 address (fec0::/10)" },
  { pieces: [0xff00], mask: 0xff00, category: "multicast", description: "a multicast IPv6 address (ff00::/8)" },
  {
    pieces: [0x2001, 0x0000],
    mask: 0xffff,
    category: "reserved",
    description: "a Teredo tunnel address (2001::/32), which hides an IPv4 address",
  },
  {
    pieces: [0x2001, 0x0db8],
    mask: 0xffff,
    category: "reserved",
    description: "a documentation IPv6 address (2001:db8::/32)",
  },
  {
    pieces: [0x0100, 0, 0, 0],
    mask: 0xffff,
    category: "reserved",
    description: "a discard-only IPv6 address (100::/64)",
  },
];

function inRange6(pieces: readonly number[], r: Range6): boolean {
  const last = r.pieces.length - 1;
  return r.pieces.every((want, i) => (i === last ? ((pieces[i] ?? 0) & r.mask) === want : pieces[i] === want));
}

export function forbiddenIPv6(pieces: readonly number[]): ForbiddenHost | undefined {
  if (pieces.every((p) => p === 0))
    return { category: "unspecified", description: "the unspecified IPv6 address (::)" };
  if (zeroUpTo(pieces, 7) && pieces[7] === 1)
    return { category: "loopback", description: "the IPv6 loopback address (::1, this machine)" };

  const carried = embeddedIPv4(pieces);
  if (carried) {
    const inner = forbiddenIPv4(carried.address);
    if (!inner) return undefined;
    return {
      category: inner.category,
      description: `the ${carried.form} form of ${formatIPv4(carried.address)}, ${inner.description}`,
    };
  }

  const hit = IPV6_RANGES.find((r) => inRange6(pieces, r));
  if (hit) return { category: hit.category, description: hit.description };
  // Everything outside global unicast (2000::/3) that is not one of the forms above is reserved.
  if (((pieces[0] ?? 0) & 0xe000) !== 0x2000) {
    return { category: "reserved", description: `a reserved IPv6 address (${formatIPv6(pieces)} is outside 2000::/3)` };
  }
  return undefined;
}

const METADATA_NAMES = new Set(["metadata.google.internal", "instance-data.ec2.internal"]);

// Special-use suffixes that only ever resolve inside a local network (RFC 6761, RFC 8375, and
// ICANN's 2024 reservation of `.internal`); `localhost` itself is loopback and handled first.
const LOCAL_SUFFIXES = [".local", ".internal", ".home.arpa", ".localdomain"];

export function forbiddenDomain(name: string): ForbiddenHost | undefined {
  if (name === "localhost" || name.endsWith(".localhost")) {
    return { category: "loopback", description: "a loopback name (localhost, this machine)" };
  }
  if (METADATA_NAMES.has(name)) return { category: "metadata", description: "a cloud metadata service name" };
  if (LOCAL_SUFFIXES.some((suffix) => name.endsWith(suffix) || name === suffix.slice(1))) {
    return { category: "local_name", description: "a local-network name (reserved for private use)" };
  }
  // `http://metadata/`, `http://intranet/`: a single label is completed with the resolver's local
  // search domains, so it names a host on the loader's own network.
  if (!name.includes(".")) {
    return {
      category: "local_name",
      description: "a single-label name, which resolves through the local network's search domains",
    };
  }
  return undefined;
}

/** Whether a host is always refused, and why; `undefined` when it may be allowed by a rule. */
export function forbiddenHost(host: Host): ForbiddenHost | undefined {
  switch (host.kind) {
    case "ipv4":
      return forbiddenIPv4(host.address);
    case "ipv6":
      return forbiddenIPv6(host.pieces);
    case "domain":
      return forbiddenDomain(host.name);
  }
}
