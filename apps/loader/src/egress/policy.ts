/**
 * @module egress/policy
 * The egress decision for one outbound URL: http(s) only, never a forbidden address (see
 * `forbidden.ts`), and otherwise only hosts an allow rule names. Pure: the gateway calls
 * {@link checkUrl} per request; credentials reuse {@link hostMatches} with the same rule syntax.
 *
 * Ports: a rule without a port allows only the default port of the request's scheme (80 for
 * http:, 443 for https:), so `api.example.com` never opens `api.example.com:6379`; any other port
 * must be named (`api.example.com:8443`).
 */
import { forbiddenHost } from "./forbidden.ts";
import { formatHost, parseHost, type Host } from "./host.ts";

/**
 * One allow rule. `host` is canonical (lowercase, no trailing dot, IPv4 dotted, IPv6 bracketed
 * and compressed). With `wildcard`, `host` is the domain under which any subdomain matches
 * (`*.example.com` → `{ host: "example.com", wildcard: true }`), or `"*"` for any host at all.
 * Without `port`, only the scheme's default port matches.
 */
export type EgressRule = { host: string; port?: number; wildcard: boolean };

export interface EgressPolicy {
  rules: EgressRule[];
  /**
   * Lifts the forbidden-address refusal for loopback only (127.0.0.0/8, ::1, localhost): a
   * server/test configuration flag, never derived from a request. Rules must still match.
   */
  allowLoopback: boolean;
}

export type EgressProtocol = "http:" | "https:";

export type EgressDenyRule = "scheme" | "forbidden_address" | "not_allowed" | "invalid_url";

export type EgressCheck =
  | { ok: true; url: URL; host: string; port: number /** 127.0.0.0/8, ::1 or localhost */; loopback: boolean }
  | { ok: false; reason: string; rule: EgressDenyRule };

/** The host of the rule `*`: any host (forbidden addresses are still refused). */
export const ANY_HOST = "*";

export const DEFAULT_PORTS: Readonly<Record<EgressProtocol, number>> = { "http:": 80, "https:": 443 };

const MAX_PORT = 65_535;
const MAX_URL_CHARS_IN_MESSAGE = 200;
const MAX_RULES_IN_MESSAGE = 10;

/** An allow rule that cannot be parsed; the message says what to write instead. */
export class EgressRuleError extends Error {
  constructor(
    readonly text: string,
    why: string,
  ) {
    super(`invalid egress rule ${JSON.stringify(text)}: ${why}`);
    this.name = "EgressRuleError";
  }
}

/**
 * Parses `api.example.com`, `*.example.com`, `api.example.com:8443`, `*`, `*:8443`, IPv4 and
 * bracketed IPv6 literals (`[2001:db8::1]:8443`). IP rules parse, but forbidden addresses are
 * refused by {@link checkUrl} whatever the rules say.
 *
 * @throws {EgressRuleError} for schemes, paths, user info, bad ports, misplaced `*`, invalid hosts.
 * @example parseAllowRule("*.Example.com") // { host: "example.com", wildcard: true }
 */
export function parseAllowRule(text: string): EgressRule {
  const fail = (why: string): never => {
    throw new EgressRuleError(text, why);
  };
  const rule = text.trim().toLowerCase();
  if (rule === "") fail('it is empty; write a host such as "api.example.com"');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(rule);
  if (scheme) fail(`write the host only, without "${scheme[1]}://" (for example "api.example.com")`);
  if (rule.includes("@")) fail('it must not contain "@" (user info); write the host only');
  const pathAt = rule.search(/[/?#\\]/);
  if (pathAt >= 0) fail(`a rule names a host, not a URL; remove ${JSON.stringify(rule.slice(pathAt))}`);
  if (/\s/.test(rule)) fail("it must not contain spaces");

  let rest = rule;
  let wildcard = false;
  let subdomains = false;
  if (rest === ANY_HOST || rest.startsWith(`${ANY_HOST}:`)) {
    wildcard = true;
  } else if (rest.startsWith("*.")) {
    wildcard = true;
    subdomains = true;
    rest = rest.slice(2);
  }

  const { hostText, portText } = splitPort(rest, fail);
  const port = portText === undefined ? undefined : parsePort(portText, fail);
  const withPort = (host: string): EgressRule => (port === undefined ? { host, wildcard } : { host, port, wildcard });
  if (hostText === ANY_HOST && !subdomains) return withPort(ANY_HOST);
  if (hostText.includes("*")) {
    fail('"*" may only stand for a whole leftmost label, as in "*.example.com", or alone for any host');
  }

  const host = parseHost(toAsciiHost(hostText));
  if (!host) return fail(`${JSON.stringify(hostText)} is not a valid host name or IP address`);
  if (host.kind === "domain" && host.name.split(".").some((label) => label.startsWith("-") || label.endsWith("-"))) {
    fail(`${JSON.stringify(hostText)} is not a valid host name: a label may not start or end with "-"`);
  }
  if (wildcard && host.kind !== "domain") fail("a wildcard applies to domain names, not to IP addresses");
  // A single label is never a host a request may reach (forbidden.ts), and under a wildcard it
  // would be a whole top-level domain: `*.com` is refused as `*.*` is.
  if (subdomains && host.kind === "domain" && !host.name.includes(".")) {
    fail(
      `a wildcard needs a domain of at least two labels after "*.", as in "*.example.com", not ${JSON.stringify(hostText)}`,
    );
  }
  return withPort(formatHost(host));
}

function splitPort(rest: string, fail: (why: string) => never): { hostText: string; portText?: string } {
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) fail('an IPv6 address opened with "[" must close with "]"');
    const after = rest.slice(close + 1);
    if (after === "") return { hostText: rest };
    if (!after.startsWith(":")) fail(`unexpected ${JSON.stringify(after)} after the IPv6 address`);
    return { hostText: rest.slice(0, close + 1), portText: after.slice(1) };
  }
  const colon = rest.indexOf(":");
  if (colon < 0) return { hostText: rest };
  if (rest.indexOf(":", colon + 1) >= 0) fail('write IPv6 addresses in brackets, as in "[2001:db8::1]:8443"');
  return { hostText: rest.slice(0, colon), portText: rest.slice(colon + 1) };
}

function parsePort(text: string, fail: (why: string) => never): number {
  if (text === "") fail('the port is missing after ":"');
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= MAX_PORT)) fail(`port ${JSON.stringify(text)} is not a number from 1 to ${MAX_PORT}`);
  return port;
}

/** Internationalised names become punycode through the URL parser, as request hosts do. */
function toAsciiHost(hostText: string): string {
  if (/^[\x21-\x7e]*$/.test(hostText)) return hostText;
  try {
    return new URL(`http://${hostText}/`).hostname;
  } catch {
    return hostText; // parseHost refuses it and the caller reports it
  }
}

/**
 * Whether `rule` allows `host` on `port` for a request of scheme `protocol`. `*.example.com`
 * matches `a.example.com` and `a.b.example.com`, not `example.com` nor `badexample.com`; `*`
 * matches any host. Hosts in any spelling `parseHost` accepts are compared canonically.
 * Forbidden addresses are not checked here: that is {@link checkUrl}'s first step.
 */
export function hostMatches(host: string, port: number, rule: EgressRule, protocol: EgressProtocol): boolean {
  const wantPort = rule.port ?? DEFAULT_PORTS[protocol];
  if (port !== wantPort) return false;
  const parsed = parseHost(host);
  return parsed !== undefined && nameMatches(parsed, rule);
}

function nameMatches(host: Host, rule: EgressRule): boolean {
  if (rule.wildcard && rule.host === ANY_HOST) return true;
  const ruleHost = parseHost(rule.host);
  if (!ruleHost) return false;
  if (rule.wildcard) {
    return host.kind === "domain" && ruleHost.kind === "domain" && host.name.endsWith(`.${ruleHost.name}`);
  }
  return formatHost(host) === formatHost(ruleHost);
}

/** A rule as it would be written in `egress.allow`. */
export function formatRule(rule: EgressRule): string {
  const host = !rule.wildcard || rule.host === ANY_HOST ? rule.host : `*.${rule.host}`;
  return rule.port === undefined ? host : `${host}:${rule.port}`;
}

/**
 * Decides one outbound request. Order: a parseable absolute URL, an http:/https: scheme, a host
 * that is not forbidden (loopback excepted under `allowLoopback`), then an allow rule.
 * The URL is parsed with WHATWG `URL` (user info is not the host: `http://a@127.0.0.1` is
 * 127.0.0.1) and its hostname parsed again by `parseHost`, which refuses rather than guesses.
 * Denials carry a `reason` naming the host and the rule, written for the program's author.
 */
export function checkUrl(url: string, policy: EgressPolicy): EgressCheck {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return deny(
      "invalid_url",
      `egress refused: ${quote(url)} is not a valid absolute URL (write it as "https://host/path")`,
    );
  }
  const protocol = parsed.protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    return deny(
      "scheme",
      `egress to ${quote(parsed.href)} refused: only http: and https: URLs may leave the sandbox, not ${protocol}`,
    );
  }
  const host = parseHost(parsed.hostname);
  if (!host) {
    return deny(
      "invalid_url",
      `egress refused: ${quote(parsed.hostname)} in ${quote(parsed.href)} is not a valid host name`,
    );
  }
  const name = formatHost(host);
  const forbidden = forbiddenHost(host);
  if (forbidden && !(forbidden.category === "loopback" && policy.allowLoopback)) {
    return deny(
      "forbidden_address",
      `egress to ${name} refused: ${name} is ${forbidden.description}. A sandbox may never reach loopback, private, ` +
        "link-local, cloud-metadata or other internal addresses, whatever egress.allow says.",
    );
  }
  const port = parsed.port === "" ? DEFAULT_PORTS[protocol] : Number(parsed.port);
  if (policy.rules.some((rule) => hostMatches(name, port, rule, protocol))) {
    return { ok: true, url: parsed, host: name, port, loopback: forbidden?.category === "loopback" };
  }
  return deny("not_allowed", notAllowedReason(host, port, protocol, policy.rules));
}

function notAllowedReason(host: Host, port: number, protocol: EgressProtocol, rules: readonly EgressRule[]): string {
  const name = formatHost(host);
  const defaultPort = DEFAULT_PORTS[protocol];
  const target = port === defaultPort ? name : `${name}:${port}`;
  const sameHost = rules.filter((rule) => nameMatches(host, rule));
  if (sameHost.length > 0) {
    return (
      `egress to ${target} refused: the egress allowlist has ${listRules(sameHost)} but not port ${port} ` +
      `(a rule without a port allows only port ${defaultPort} for ${protocol}); add "${name}:${port}" to egress.allow`
    );
  }
  if (rules.length === 0) {
    return `egress to ${target} refused: no host is allowed for this run (egress is denied by default); add "${target}" to egress.allow`;
  }
  return `egress to ${target} refused: ${name} is not in the egress allowlist (allowed: ${listRules(rules)}); add "${target}" to egress.allow`;
}

function listRules(rules: readonly EgressRule[]): string {
  const shown = rules.slice(0, MAX_RULES_IN_MESSAGE).map(formatRule).join(", ");
  const more = rules.length - MAX_RULES_IN_MESSAGE;
  return more > 0 ? `${shown} and ${more} more` : shown;
}

function quote(text: string): string {
  const short = text.length > MAX_URL_CHARS_IN_MESSAGE ? `${text.slice(0, MAX_URL_CHARS_IN_MESSAGE)}…` : text;
  return JSON.stringify(short);
}

function deny(rule: EgressDenyRule, reason: string): EgressCheck {
  return { ok: false, reason, rule };
}
