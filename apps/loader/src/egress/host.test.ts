import { describe, expect, it } from "vitest";
import { formatHost, formatIPv6, parseHost, parseIPv6 } from "./host.ts";

const canonical = (raw: string): string | undefined => {
  const host = parseHost(raw);
  return host && formatHost(host);
};

/** What workerd's WHATWG URL makes of a host, or undefined when it refuses the URL. */
const urlHostname = (raw: string): string | undefined => {
  try {
    return new URL(`http://${raw}/`).hostname;
  } catch {
    return undefined;
  }
};

describe("parseHost: IPv4 spellings", () => {
  it.each([
    ["2130706433", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["0X7F000001", "127.0.0.1"],
    ["017700000001", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["0x7f.0x0.0x0.0x1", "127.0.0.1"],
    ["00000177.0.0.1", "127.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["127.0.0.0x1", "127.0.0.1"],
    ["10.1", "10.0.0.1"],
    ["127.0.0.1.", "127.0.0.1"],
    ["0", "0.0.0.0"],
    ["0x", "0.0.0.0"],
    ["0x.0x.0", "0.0.0.0"],
    ["1.0x", "1.0.0.0"],
    ["4294967295", "255.255.255.255"],
    ["169.254.43518", "169.254.169.254"],
  ])("reads %s as %s, as the URL standard does", (raw, dotted) => {
    expect(canonical(raw)).toBe(dotted);
    expect(urlHostname(raw)).toBe(dotted);
  });

  it.each([
    "4294967296",
    "0x100000000",
    "256.0.0.1",
    "1.2.3.4.5",
    "09.1",
    "1.2.3.09",
    "0xg.1",
    "foo.127",
    "foo.0x7f",
    "1.256.0.0.1",
  ])("refuses %s, which ends in a number but is not a valid IPv4 address", (raw) => {
    expect(parseHost(raw)).toBeUndefined();
    expect(urlHostname(raw)).toBeUndefined();
  });

  it("agrees with the URL parser on a thousand random spellings of random addresses", () => {
    // Deterministic LCG so a failure is reproducible.
    let seed = 0x2545f491;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const spell = (value: number): string => {
      switch (next(3)) {
        case 0:
          return `0x${"0".repeat(next(3))}${value.toString(16)}`;
        case 1:
          return value === 0 && next(2) === 0 ? "0" : `0${"0".repeat(next(3))}${value.toString(8)}`;
        default:
          return value.toString(10);
      }
    };
    for (let i = 0; i < 1000; i++) {
      const address = (next(0x10000) * 0x10000 + next(0x10000)) >>> 0;
      const bytes = [24, 16, 8, 0].map((s) => (address >>> s) & 0xff);
      const partCount = 1 + next(4);
      // The first partCount-1 parts are single bytes; the last holds the remaining bytes.
      const head = bytes.slice(0, partCount - 1);
      const tail = bytes.slice(partCount - 1).reduce((acc, b) => acc * 256 + b, 0);
      const raw = [...head, tail].map(spell).join(".") + (next(4) === 0 ? "." : "");
      expect(canonical(raw), raw).toBe(urlHostname(raw));
    }
  });
});

describe("parseHost: IPv6", () => {
  it.each([
    ["[::1]", "[::1]"],
    ["[0:0:0:0:0:0:0:1]", "[::1]"],
    ["[::]", "[::]"],
    ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]"],
    ["[::FFFF:7F00:1]", "[::ffff:7f00:1]"],
    ["[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:7f00:1]"],
    ["[::ffff:0:127.0.0.1]", "[::ffff:0:7f00:1]"],
    ["[::127.0.0.1]", "[::7f00:1]"],
    ["[64:ff9b::10.0.0.1]", "[64:ff9b::a00:1]"],
    ["[fd00:ec2::254]", "[fd00:ec2::254]"],
    ["[2001:db8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]"],
    ["[1::]", "[1::]"],
    ["[1:2:3:4:5:6:7::]", "[1:2:3:4:5:6:7:0]"],
    ["[1:0:0:2:0:0:0:3]", "[1:0:0:2::3]"],
    ["[1:0:2:3:4:5:6:7]", "[1:0:2:3:4:5:6:7]"],
  ])("reads %s as %s, as the URL standard does", (raw, expected) => {
    expect(canonical(raw)).toBe(expected);
    expect(urlHostname(raw)).toBe(expected);
  });

  it.each([
    "[1:2:3:4:5:6:7:8:9]",
    "[1::2::3]",
    "[:1]",
    "[1:]",
    "[12345::]",
    "[::ffff:127.0.0.01]",
    "[::ffff:127.0.0]",
    "[::ffff:1.2.3.4.5]",
    "[1:2:3:4:5:6:7:1.2.3.4]",
    "[g::1]",
    "[::1",
  ])("refuses %s", (raw) => {
    expect(parseHost(raw)).toBeUndefined();
    expect(urlHostname(raw)).toBeUndefined();
  });

  it("agrees with the URL parser on a thousand random spellings of random addresses", () => {
    let seed = 0x9e3779b9;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let i = 0; i < 1000; i++) {
      // Mostly-zero pieces so that compression and tie-breaking between zero runs get exercised.
      const pieces = Array.from({ length: 8 }, () => (next(3) === 0 ? next(0x10000) : 0));
      let hex = pieces.map((p) => {
        const digits = p.toString(16);
        const padded = "0".repeat(next(4 - digits.length + 1)) + digits;
        return next(2) === 0 ? padded.toUpperCase() : padded;
      });
      if (next(3) === 0) {
        const [a = 0, b = 0] = pieces.slice(6);
        hex = [...hex.slice(0, 6), `${a >>> 8}.${a & 0xff}.${b >>> 8}.${b & 0xff}`];
      }
      let text = hex.join(":");
      const zeroRun = hex.findIndex((h) => /^0+$/.test(h));
      if (zeroRun >= 0 && zeroRun < 6 && next(2) === 0) {
        let end = zeroRun;
        while (end < 6 && /^0+$/.test(hex[end] ?? "")) end++;
        text = `${hex.slice(0, zeroRun).join(":")}::${hex.slice(end).join(":")}`;
      }
      const raw = `[${text}]`;
      expect(canonical(raw), raw).toBe(urlHostname(raw));
      expect(canonical(raw), raw).toBe(`[${formatIPv6(pieces)}]`);
    }
  });

  it("drops a zone id, which the URL parser refuses outright, and keeps the address", () => {
    expect(canonical("[fe80::1%eth0]")).toBe("[fe80::1]");
    expect(canonical("[fe80::1%25eth0]")).toBe("[fe80::1]");
    expect(urlHostname("[fe80::1%25eth0]")).toBeUndefined();
  });

  it("accepts a raw unbracketed IPv6 host, in case one reaches us un-normalised", () => {
    expect(canonical("::1")).toBe("[::1]");
    expect(canonical("::FFFF:127.0.0.1")).toBe("[::ffff:7f00:1]");
  });

  it("formats with the first longest zero run compressed", () => {
    expect(formatIPv6([0, 0, 1, 0, 0, 2, 0, 0])).toBe("::1:0:0:2:0:0");
    expect(formatIPv6([1, 0, 1, 0, 1, 0, 1, 0])).toBe("1:0:1:0:1:0:1:0");
    expect(parseIPv6("::")).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe("parseHost: names", () => {
  it("lowercases and drops one trailing dot", () => {
    expect(canonical("LOCALHOST.")).toBe("localhost");
    expect(canonical("Api.Example.COM")).toBe("api.example.com");
    expect(canonical("exa_mple.com")).toBe("exa_mple.com");
    expect(canonical("xn--nxasmm1c.com")).toBe("xn--nxasmm1c.com");
  });

  it.each([
    "",
    ".",
    "..",
    "example.com..",
    "a..b",
    ".example.com",
    "exa mple.com",
    "%31%32%37.0.0.1",
    "１２７.0.0.1",
    "bücher.de",
    "*.example.com",
    "a!b.com",
    "a/b",
    "a@b",
  ])("refuses %j, which is not an ASCII host name (the URL parser maps or accepts some; we do not guess)", (raw) => {
    expect(parseHost(raw)).toBeUndefined();
  });

  it("refuses labels over 63 characters and names over 253", () => {
    expect(parseHost(`${"a".repeat(64)}.com`)).toBeUndefined();
    expect(parseHost(`${"a".repeat(63)}.com`)).toBeDefined();
    expect(parseHost(`${"a.".repeat(127)}com`)).toBeUndefined();
  });
});
