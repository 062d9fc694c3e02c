import { describe, expect, it } from "vitest";
import { checkUrl, EgressRuleError, formatRule, hostMatches, parseAllowRule, type EgressPolicy } from "./policy.ts";

const policy = (allow: string[], allowLoopback = false): EgressPolicy => ({
  rules: allow.map(parseAllowRule),
  allowLoopback,
});
const ANYTHING = policy(["*"]);
const ANYTHING_ANY_PORT_LOOPBACK_ALLOWED = policy(["*", "*:8080", "*:8787"], true);

const denial = (url: string, p: EgressPolicy) => {
  const result = checkUrl(url, p);
  if (result.ok) throw new Error(`expected ${url} to be refused, got ${result.host}:${result.port}`);
  return result;
};

describe("parseAllowRule", () => {
  it.each([
    ["api.example.com", { host: "api.example.com", wildcard: false }],
    ["API.Example.COM", { host: "api.example.com", wildcard: false }],
    ["api.example.com.", { host: "api.example.com", wildcard: false }],
    ["  api.example.com ", { host: "api.example.com", wildcard: false }],
    ["*.example.com", { host: "example.com", wildcard: true }],
    ["api.example.com:8443", { host: "api.example.com", port: 8443, wildcard: false }],
    ["*.example.com:8443", { host: "example.com", port: 8443, wildcard: true }],
    ["*", { host: "*", wildcard: true }],
    ["*:8443", { host: "*", port: 8443, wildcard: true }],
    ["93.184.216.34", { host: "93.184.216.34", wildcard: false }],
    ["127.1", { host: "127.0.0.1", wildcard: false }],
    ["[2606:4700:0:0::1]:443", { host: "[2606:4700::1]", port: 443, wildcard: false }],
    ["bücher.example", { host: "xn--bcher-kva.example", wildcard: false }],
    ["a-b.example.com", { host: "a-b.example.com", wildcard: false }],
  ])("reads %j", (text, rule) => {
    expect(parseAllowRule(text)).toEqual(rule);
  });

  it.each([
    ["", /empty/],
    ["https://api.example.com", /without "https:\/\/"/],
    ["ftp://api.example.com", /without "ftp:\/\/"/],
    ["api.example.com/v1", /remove "\/v1"/],
    ["api.example.com?x=1", /remove "\?x=1"/],
    ["user@api.example.com", /user info/],
    ["a@127.0.0.1", /user info/],
    ["127.0.0.1:80@example.com", /user info/],
    ["api.example.com:", /port is missing/],
    ["api.example.com:0", /from 1 to 65535/],
    ["api.example.com:65536", /from 1 to 65535/],
    ["api.example.com:http", /from 1 to 65535/],
    ["api.example.com:-1", /from 1 to 65535/],
    ["*example.com", /whole leftmost label/],
    ["api.*.example.com", /whole leftmost label/],
    ["*.*.example.com", /whole leftmost label/],
    ["**", /whole leftmost label/],
    ["*.*", /whole leftmost label/],
    ["*.*:8443", /whole leftmost label/],
    ["*.com", /at least two labels/],
    ["*.COM.", /at least two labels/],
    ["*.xn--p1ai", /at least two labels/],
    ["-bad-.com", /may not start or end with "-"/],
    ["bad-.example.com", /may not start or end with "-"/],
    ["*.-example.com", /may not start or end with "-"/],
    ["*.", /not a valid host/],
    ["*.127.0.0.1", /not to IP addresses/],
    ["*.[::1]", /not to IP addresses/],
    ["2001:db8::1", /in brackets/],
    ["[2001:db8::1", /close with "\]"/],
    ["[2001:db8::1]x", /unexpected "x"/],
    ["exa mple.com", /spaces/],
    ["foo.127", /not a valid host/],
    ["256.1.1.1", /not a valid host/],
    ["a..b", /not a valid host/],
  ])("rejects %j with a message that says what is wrong", (text, message) => {
    expect(() => parseAllowRule(text)).toThrow(EgressRuleError);
    expect(() => parseAllowRule(text)).toThrow(message);
  });

  it("names the rule in its error", () => {
    expect(() => parseAllowRule("https://x.com")).toThrow('invalid egress rule "https://x.com": write the host only');
  });

  it("writes rules back as they would appear in egress.allow", () => {
    for (const text of ["api.example.com", "*.example.com:8443", "*", "*:80", "[::1]:8080"]) {
      expect(formatRule(parseAllowRule(text))).toBe(text);
    }
  });
});

describe("hostMatches", () => {
  const wildcard = parseAllowRule("*.example.com");

  it("matches subdomains at any depth under a wildcard, but not the bare domain nor a lookalike", () => {
    expect(hostMatches("a.example.com", 443, wildcard, "https:")).toBe(true);
    expect(hostMatches("a.b.example.com", 443, wildcard, "https:")).toBe(true);
    expect(hostMatches("example.com", 443, wildcard, "https:")).toBe(false);
    expect(hostMatches("badexample.com", 443, wildcard, "https:")).toBe(false);
    expect(hostMatches("example.com.evil.net", 443, wildcard, "https:")).toBe(false);
    expect(hostMatches("a.example.co", 443, wildcard, "https:")).toBe(false);
  });

  it("matches an exact rule only on that host", () => {
    const exact = parseAllowRule("api.example.com");
    expect(hostMatches("api.example.com", 443, exact, "https:")).toBe(true);
    expect(hostMatches("API.EXAMPLE.COM.", 443, exact, "https:")).toBe(true);
    expect(hostMatches("x.api.example.com", 443, exact, "https:")).toBe(false);
    expect(hostMatches("example.com", 443, exact, "https:")).toBe(false);
  });

  it("allows only the scheme's default port when a rule has no port", () => {
    const exact = parseAllowRule("api.example.com");
    expect(hostMatches("api.example.com", 80, exact, "http:")).toBe(true);
    expect(hostMatches("api.example.com", 443, exact, "https:")).toBe(true);
    expect(hostMatches("api.example.com", 443, exact, "http:")).toBe(false);
    expect(hostMatches("api.example.com", 80, exact, "https:")).toBe(false);
    expect(hostMatches("api.example.com", 8443, exact, "https:")).toBe(false);
  });

  it("requires exactly the rule's port when it has one, on either scheme", () => {
    const rule = parseAllowRule("api.example.com:8443");
    expect(hostMatches("api.example.com", 8443, rule, "https:")).toBe(true);
    expect(hostMatches("api.example.com", 8443, rule, "http:")).toBe(true);
    expect(hostMatches("api.example.com", 443, rule, "https:")).toBe(false);
  });

  it("compares IP literals canonically, whatever the spelling on either side", () => {
    const rule = parseAllowRule("93.184.216.34");
    expect(hostMatches("1572395042", 443, rule, "https:")).toBe(true);
    expect(hostMatches("93.184.216.35", 443, rule, "https:")).toBe(false);
    const v6 = parseAllowRule("[2606:4700::1]");
    expect(hostMatches("[2606:4700:0:0:0:0:0:1]", 443, v6, "https:")).toBe(true);
  });

  it("never lets a wildcard match an IP address", () => {
    expect(hostMatches("1.0.0.127", 443, parseAllowRule("*.0.127.in-addr.arpa"), "https:")).toBe(false);
  });

  it("lets * match any host on the default ports", () => {
    const any = parseAllowRule("*");
    expect(hostMatches("anything.example", 443, any, "https:")).toBe(true);
    expect(hostMatches("[2606:4700::1]", 80, any, "http:")).toBe(true);
    expect(hostMatches("anything.example", 8080, any, "http:")).toBe(false);
  });

  it("does not match a host it cannot parse", () => {
    expect(hostMatches("*.example.com", 443, wildcard, "https:")).toBe(false);
    expect(hostMatches("", 443, parseAllowRule("*"), "https:")).toBe(false);
  });
});

describe("checkUrl: allowed requests", () => {
  it("allows a listed host and reports its canonical host and effective port", () => {
    const result = checkUrl("https://API.example.com./v1?q=1", policy(["api.example.com"]));
    expect(result).toMatchObject({ ok: true, host: "api.example.com", port: 443 });
    if (result.ok) expect(result.url.pathname).toBe("/v1");
  });

  it("allows a non-default port only when the rule names it", () => {
    expect(checkUrl("https://api.example.com:8443/", policy(["api.example.com:8443"]))).toMatchObject({
      ok: true,
      port: 8443,
    });
    expect(checkUrl("http://api.example.com:80/", policy(["api.example.com"]))).toMatchObject({ ok: true, port: 80 });
  });

  it("allows a public IP literal that a rule names", () => {
    expect(checkUrl("http://1572395042/", policy(["93.184.216.34"]))).toMatchObject({
      ok: true,
      host: "93.184.216.34",
    });
  });

  it("allows a NAT64 form of a public IPv4 address when listed", () => {
    expect(checkUrl("https://[64:ff9b::93.184.216.34]/", ANYTHING)).toMatchObject({
      ok: true,
      host: "[64:ff9b::5db8:d822]",
    });
  });

  it("judges the host after the user info, not the user info", () => {
    expect(checkUrl("http://127.0.0.1:80@example.com/", ANYTHING)).toMatchObject({
      ok: true,
      host: "example.com",
      port: 80,
    });
  });
});

describe("checkUrl: denied by default", () => {
  it("refuses everything when no rule is given, naming the host and how to allow it", () => {
    const result = denial("https://api.example.com/x", policy([]));
    expect(result.rule).toBe("not_allowed");
    expect(result.reason).toBe(
      'egress to api.example.com refused: no host is allowed for this run (egress is denied by default); add "api.example.com" to egress.allow',
    );
  });

  it("refuses an unlisted host and lists what is allowed", () => {
    const result = denial("https://evil.example.net/", policy(["api.example.com", "*.example.org"]));
    expect(result.rule).toBe("not_allowed");
    expect(result.reason).toBe(
      'egress to evil.example.net refused: evil.example.net is not in the egress allowlist (allowed: api.example.com, *.example.org); add "evil.example.net" to egress.allow',
    );
  });

  it("explains a port mismatch on a listed host", () => {
    const result = denial("https://api.example.com:8443/", policy(["api.example.com"]));
    expect(result.rule).toBe("not_allowed");
    expect(result.reason).toContain("egress to api.example.com:8443 refused");
    expect(result.reason).toContain("a rule without a port allows only port 443 for https:");
    expect(result.reason).toContain('add "api.example.com:8443" to egress.allow');
  });

  it("refuses http to port 443 under a rule without a port", () => {
    expect(denial("http://api.example.com:443/", policy(["api.example.com"])).rule).toBe("not_allowed");
  });

  it("shortens a long allowlist in the message", () => {
    const many = Array.from({ length: 15 }, (_, i) => `h${i}.example.com`);
    expect(denial("https://other.example.com/", policy(many)).reason).toContain("h9.example.com and 5 more");
  });
});

describe("checkUrl: schemes and malformed URLs", () => {
  it.each([
    "ftp://example.com/",
    "file:///etc/passwd",
    "ws://example.com/",
    "wss://example.com/",
    "data:text/plain,hi",
    "blob:http://example.com/x",
    "javascript:alert(1)",
    "gopher://example.com/",
  ])("refuses %s whatever the allowlist", (url) => {
    const result = denial(url, ANYTHING);
    expect(result.rule).toBe("scheme");
    expect(result.reason).toContain("only http: and https: URLs may leave the sandbox");
  });

  it.each([
    "",
    "example.com",
    "/relative/path",
    "http://",
    "http://[::1",
    "http://exa mple.com/",
    "http://256.0.0.1/",
    "http://foo.127/",
    "http://[fe80::1%25eth0]/",
  ])("refuses %j as an invalid URL", (url) => {
    expect(denial(url, ANYTHING).rule).toBe("invalid_url");
  });

  it.each(["http://*.example.com/", "http://a.b..c/", "http://./", "https://example.com../", "http://exa!mple.com/"])(
    "refuses %s, whose host the URL parser accepts but is no valid DNS name",
    (url) => {
      expect(denial(url, ANYTHING).rule).toBe("invalid_url");
    },
  );
});

describe("checkUrl: forbidden addresses, even when * is allowed", () => {
  it.each([
    // Loopback, every spelling.
    ["http://127.0.0.1/", "127.0.0.1", "loopback"],
    ["http://127.255.255.254/", "127.255.255.254", "loopback"],
    ["http://2130706433/", "127.0.0.1", "loopback"],
    ["http://0x7f000001/", "127.0.0.1", "loopback"],
    ["http://0X7F000001/", "127.0.0.1", "loopback"],
    ["http://017700000001/", "127.0.0.1", "loopback"],
    ["http://0177.0.0.1/", "127.0.0.1", "loopback"],
    ["http://0x7f.0x0.0x0.0x1/", "127.0.0.1", "loopback"],
    ["http://127.1/", "127.0.0.1", "loopback"],
    ["http://0x7f.1/", "127.0.0.1", "loopback"],
    ["http://127.0.0.1./", "127.0.0.1", "loopback"],
    ["http://127.0.0.1%2e/", "127.0.0.1", "loopback"],
    ["http://%31%32%37.0.0.1/", "127.0.0.1", "loopback"],
    ["http://１２７.0.0.1/", "127.0.0.1", "loopback"],
    ["http://127。0。0。1/", "127.0.0.1", "loopback"],
    ["http://localhost/", "localhost", "loopback"],
    ["http://LOCALHOST/", "localhost", "loopback"],
    ["http://localhost./", "localhost", "loopback"],
    ["http://api.localhost/", "api.localhost", "loopback"],
    ["http://a@127.0.0.1/", "127.0.0.1", "loopback"],
    ["http://user:pass@localhost:8080/", "localhost", "loopback"],
    ["http://example.com@127.0.0.1/", "127.0.0.1", "loopback"],
    ["http://[::1]/", "[::1]", "loopback"],
    ["http://[0:0:0:0:0:0:0:1]/", "[::1]", "loopback"],
    ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]", "loopback"],
    ["http://[::ffff:7f00:1]/", "[::ffff:7f00:1]", "loopback"],
    ["http://[::127.0.0.1]/", "[::7f00:1]", "loopback"],
    ["http://[::ffff:0:127.0.0.1]/", "[::ffff:0:7f00:1]", "loopback"],
    ["http://[64:ff9b::127.0.0.1]/", "[64:ff9b::7f00:1]", "loopback"],
    ["http://[2002:7f00:1::]/", "[2002:7f00:1::]", "loopback"],
    // This network.
    ["http://0.0.0.0/", "0.0.0.0", "unspecified"],
    ["http://0/", "0.0.0.0", "unspecified"],
    ["http://0x/", "0.0.0.0", "unspecified"],
    ["http://0.1.2.3/", "0.1.2.3", "unspecified"],
    ["http://[::]/", "[::]", "unspecified"],
    // Private networks.
    ["http://10.0.0.1/", "10.0.0.1", "private"],
    ["http://10.1/", "10.0.0.1", "private"],
    ["http://167772161/", "10.0.0.1", "private"],
    ["http://012.0.0.1/", "10.0.0.1", "private"],
    ["http://172.16.0.1/", "172.16.0.1", "private"],
    ["http://172.31.255.255/", "172.31.255.255", "private"],
    ["http://192.168.1.1/", "192.168.1.1", "private"],
    ["http://0xc0a80101/", "192.168.1.1", "private"],
    ["http://[::ffff:10.0.0.1]/", "[::ffff:a00:1]", "private"],
    ["http://[::ffff:c0a8:101]/", "[::ffff:c0a8:101]", "private"],
    ["http://[64:ff9b::10.0.0.1]/", "[64:ff9b::a00:1]", "private"],
    ["http://[64:ff9b::192.168.0.1]/", "[64:ff9b::c0a8:1]", "private"],
    ["http://[fc00::1]/", "[fc00::1]", "private"],
    ["http://[fd12:3456::1]/", "[fd12:3456::1]", "private"],
    ["http://[FD00::1]/", "[fd00::1]", "private"],
    ["http://[fec0::1]/", "[fec0::1]", "private"],
    ["http://[64:ff9b:1::1]/", "[64:ff9b:1::1]", "private"],
    // Carrier-grade NAT.
    ["http://100.64.0.1/", "100.64.0.1", "carrier-grade NAT"],
    ["http://100.127.255.255/", "100.127.255.255", "carrier-grade NAT"],
    // Link-local and metadata.
    ["http://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"],
    ["http://169.254.43518/", "169.254.169.254", "cloud metadata"],
    ["http://2852039166/", "169.254.169.254", "cloud metadata"],
    ["http://0xa9fea9fe/", "169.254.169.254", "cloud metadata"],
    ["http://0251.0376.0251.0376/", "169.254.169.254", "cloud metadata"],
    ["http://[::ffff:169.254.169.254]/", "[::ffff:a9fe:a9fe]", "cloud metadata"],
    ["http://169.254.170.2/v2/credentials", "169.254.170.2", "metadata"],
    ["http://100.100.100.200/", "100.100.100.200", "cloud metadata"],
    ["http://169.254.1.1/", "169.254.1.1", "link-local"],
    ["http://metadata.google.internal/", "metadata.google.internal", "cloud metadata"],
    ["http://METADATA.GOOGLE.INTERNAL./", "metadata.google.internal", "cloud metadata"],
    ["http://[fd00:ec2::254]/", "[fd00:ec2::254]", "cloud metadata"],
    ["http://[fd00:ec2:0:0:0:0:0:254]/", "[fd00:ec2::254]", "cloud metadata"],
    ["http://[fe80::1]/", "[fe80::1]", "link-local"],
    ["http://[febf::1]/", "[febf::1]", "link-local"],
    // Local names.
    ["http://metadata/", "metadata", "single-label"],
    ["http://intranet/", "intranet", "single-label"],
    ["http://printer.local/", "printer.local", "local-network name"],
    ["http://db.internal/", "db.internal", "local-network name"],
    ["http://router.home.arpa/", "router.home.arpa", "local-network name"],
    // Everything else that is not globally routable.
    ["http://224.0.0.1/", "224.0.0.1", "multicast"],
    ["http://255.255.255.255/", "255.255.255.255", "broadcast"],
    ["http://4294967295/", "255.255.255.255", "broadcast"],
    ["http://198.18.0.1/", "198.18.0.1", "benchmarking"],
    ["http://192.0.0.170/", "192.0.0.170", "reserved"],
    ["http://192.0.2.1/", "192.0.2.1", "documentation"],
    ["http://[ff02::1]/", "[ff02::1]", "multicast"],
    ["http://[2001:db8::1]/", "[2001:db8::1]", "documentation"],
    ["http://[2001::1]/", "[2001::1]", "Teredo"],
    ["http://[100::1]/", "[100::1]", "discard"],
    ["http://[1234::1]/", "[1234::1]", "outside 2000::/3"],
  ])("refuses %s as %s (%s)", (url, host, words) => {
    const result = denial(url, ANYTHING);
    expect(result.rule).toBe("forbidden_address");
    expect(result.reason).toContain(`egress to ${host} refused: ${host} is `);
    expect(result.reason).toContain(words);
    expect(result.reason).toContain("whatever egress.allow says");
  });

  it("refuses decimal-encoded loopback even when * is allowed", () => {
    expect(denial("http://2130706433/", ANYTHING).reason).toBe(
      "egress to 127.0.0.1 refused: 127.0.0.1 is a loopback address (this machine, 127.0.0.0/8). A sandbox may never " +
        "reach loopback, private, link-local, cloud-metadata or other internal addresses, whatever egress.allow says.",
    );
  });

  it("refuses a forbidden address that a rule names explicitly", () => {
    expect(denial("http://10.0.0.1/", policy(["10.0.0.1"])).rule).toBe("forbidden_address");
    expect(denial("http://localhost:8080/", policy(["localhost:8080"])).rule).toBe("forbidden_address");
    expect(denial("http://169.254.169.254/", policy(["*", "169.254.169.254"])).rule).toBe("forbidden_address");
  });

  it("refuses an IPv4-mapped address by what it carries", () => {
    expect(denial("http://[::ffff:127.0.0.1]/", ANYTHING).reason).toContain(
      "the IPv4-mapped form of 127.0.0.1, a loopback address",
    );
    expect(denial("http://[64:ff9b::a9fe:a9fe]/", ANYTHING).reason).toContain(
      "the NAT64 form of 169.254.169.254, the cloud metadata service",
    );
  });

  it("keeps the boundaries of each range exact", () => {
    expect(checkUrl("http://172.15.255.255/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://172.32.0.0/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://100.63.255.255/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://100.128.0.0/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://126.255.255.255/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://128.0.0.0/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://1.0.0.0/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://223.255.255.255/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://[fbff:ffff::1]/", ANYTHING).ok).toBe(false); // outside 2000::/3
    expect(checkUrl("http://[2606:4700::1]/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://[::ffff:8.8.8.8]/", ANYTHING).ok).toBe(true);
    expect(checkUrl("http://[2002:808:808::]/", ANYTHING).ok).toBe(true);
  });

  it("does not mistake a public name that contains a private address for that address", () => {
    expect(checkUrl("http://127.0.0.1.example.com/", ANYTHING)).toMatchObject({
      ok: true,
      host: "127.0.0.1.example.com",
    });
    expect(checkUrl("http://localhost.example.com/", ANYTHING)).toMatchObject({ ok: true });
  });
});

describe("checkUrl: the allowLoopback configuration flag", () => {
  it.each([
    ["http://127.0.0.1:8787/", "127.0.0.1"],
    ["http://2130706433:8787/", "127.0.0.1"],
    ["http://localhost:8787/", "localhost"],
    ["http://[::1]:8787/", "[::1]"],
    ["http://[::ffff:127.0.0.1]:8787/", "[::ffff:7f00:1]"],
  ])("lets %s through when the server is configured for it", (url, host) => {
    expect(checkUrl(url, ANYTHING_ANY_PORT_LOOPBACK_ALLOWED)).toMatchObject({ ok: true, host, port: 8787 });
  });

  it.each([
    "http://0.0.0.0:8787/",
    "http://10.0.0.1:8787/",
    "http://169.254.169.254/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://metadata/",
    "http://[::]:8787/",
  ])("still refuses %s, which is not loopback", (url) => {
    expect(denial(url, ANYTHING_ANY_PORT_LOOPBACK_ALLOWED).rule).toBe("forbidden_address");
  });

  it("still requires a rule for a loopback host", () => {
    const onlyPort = policy(["127.0.0.1:8787"], true);
    expect(checkUrl("http://127.0.0.1:8787/", onlyPort).ok).toBe(true);
    expect(denial("http://127.0.0.1:9999/", onlyPort).rule).toBe("not_allowed");
    expect(denial("http://localhost:8787/", onlyPort).rule).toBe("not_allowed");
  });
});

// Pins what workerd's WHATWG URL does before our own parser sees the host, so a runtime change
// that stops normalising shows up here (our parser copes either way; see host.test.ts).
describe("workerd URL parsing, as the checks rely on it", () => {
  const hostname = (url: string): string => new URL(url).hostname;

  it("normalises every IPv4 spelling to dotted decimal", () => {
    for (const url of [
      "http://2130706433/",
      "http://0x7f000001/",
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://0x7f.1/",
      "http://127.0.0.1./",
    ]) {
      expect(hostname(url)).toBe("127.0.0.1");
    }
  });

  it("keeps the trailing dot of a domain name", () => {
    expect(hostname("http://localhost./")).toBe("localhost.");
    expect(hostname("http://metadata.google.internal./")).toBe("metadata.google.internal.");
  });

  it("rewrites embedded IPv4 in IPv6 as hex pieces", () => {
    expect(hostname("http://[::ffff:127.0.0.1]/")).toBe("[::ffff:7f00:1]");
    expect(hostname("http://[::127.0.0.1]/")).toBe("[::7f00:1]");
  });

  it("refuses IPv6 zone ids", () => {
    expect(() => new URL("http://[fe80::1%25eth0]/")).toThrow();
  });

  it("takes the host after the last @ of the authority, and ends the authority at a backslash", () => {
    expect(hostname("http://127.0.0.1:80@example.com/")).toBe("example.com");
    expect(hostname("http://a@b@127.0.0.1/")).toBe("127.0.0.1");
    expect(hostname("http://example.com\\@127.0.0.1/")).toBe("example.com");
  });

  it("accepts hosts that are no DNS names: *, empty labels, lone dots", () => {
    expect(hostname("http://*.example.com/")).toBe("*.example.com");
    expect(hostname("http://a.b..c/")).toBe("a.b..c");
    expect(hostname("http://./")).toBe(".");
  });

  it("drops an explicit default port and keeps a cross-scheme one", () => {
    expect(new URL("https://example.com:443/").port).toBe("");
    expect(new URL("http://example.com:0080/").port).toBe("");
    expect(new URL("http://example.com:443/").port).toBe("443");
  });
});
