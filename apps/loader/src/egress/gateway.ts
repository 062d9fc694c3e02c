/**
 * @module egress/gateway
 * Every outbound `fetch` of a child arrives here (`globalOutbound`). The gateway applies the
 * policy fixed for the isolate (tenant, allow rules, credential names), injects credentials on
 * requests to their hosts, swaps per-run placeholders for real values, follows redirects itself
 * (re-checking every hop and never carrying a credential to a host it is not bound to), and
 * reports what happened in a response header the harness turns into the audit.
 */
import { OWN_HEADER_PREFIX } from "@dwl/protocol";
import { WorkerEntrypoint } from "cloudflare:workers";
// Header names the harness reads and writes too: one home for both sides.
import {
  EGRESS_AUDIT_HEADER,
  EGRESS_DENIED_HEADER,
  EGRESS_REDIRECT_HEADER,
  REDIRECT_STATUSES,
  RUN_TOKEN_HEADER,
} from "../sandbox/child-protocol.ts";
import { egressAllowsLoopback } from "../settings.ts";
import { beforeSideEffect, EffectNoticeError } from "../supervision/effects.ts";
import { CredentialStore, type OpenCredential } from "./credential-store.ts";
import { encryptionKey } from "./encryption-key.ts";
import { checkUrl, hostMatches, parseAllowRule, type EgressPolicy, type EgressProtocol } from "./policy.ts";
import { verifyRunToken, type RunContext } from "./run-token.ts";
import { scrubResponse } from "./scrub.ts";
import { SecretError } from "./secrets.ts";
import { MAX_EGRESS_BODY_BYTES, MAX_EGRESS_REDIRECTS } from "../limits.ts";

export interface EgressGatewayProps {
  tenant: string;
  /** `egress.allow` rules, canonical. */
  allow: string[];
  /** Credential names the program asked for. */
  credentials: string[];
}

function denied(reason: string): Response {
  return new Response(JSON.stringify({ reason }), {
    status: 403,
    headers: { [EGRESS_DENIED_HEADER]: "1", "content-type": "application/json" },
  });
}

/** The URL as the audit shows it: query values of credential-bearing requests redacted. */
function auditUrl(url: URL, redact: boolean): string {
  const copy = new URL(url);
  copy.username = "";
  copy.password = "";
  if (redact) for (const key of [...new Set(copy.searchParams.keys())]) copy.searchParams.set(key, "REDACTED");
  return copy.href;
}

export class EgressGateway extends WorkerEntrypoint<Env, EgressGatewayProps> {
  override async fetch(request: Request): Promise<Response> {
    const { tenant, allow, credentials: names } = this.ctx.props;
    // The key is only needed (and only required, when deployed) once credentials are involved.
    const key = names.length > 0 ? encryptionKey(this.env) : undefined;
    const run: RunContext | null = key ? await verifyRunToken(key, request.headers.get(RUN_TOKEN_HEADER)) : null;
    const credentials: OpenCredential[] = [];
    if (key) {
      const store = new CredentialStore(this.env.KV, tenant, key);
      for (const name of names) {
        let credential: OpenCredential | null;
        try {
          credential = await store.open(name);
        } catch (err) {
          // Fail closed, and say so: without the credential the request would go out unsigned
          // or be refused as an unlisted host, and the program could not tell why.
          console.error(`[dwl] egress: credential "${name}" of tenant ${tenant} could not be opened:`, err);
          const why =
            err instanceof SecretError
              ? "it does not decrypt with this loader's encryption key; store it again"
              : "the credential store is unavailable; retry the run";
          return denied(`egress refused: credential "${name}" could not be opened (${why})`);
        }
        if (credential) credentials.push(credential);
      }
    }
    const allowLoopback = egressAllowsLoopback(this.env);
    const policy: EgressPolicy = {
      rules: [...allow.map(parseAllowRule), ...credentials.flatMap((c) => c.rules)],
      allowLoopback,
    };

    const baseHeaders = new Headers(request.headers);
    baseHeaders.delete(RUN_TOKEN_HEADER);
    // "manual" or "error": the program handles (or refuses) the redirect, so it gets the 3xx as it is.
    const followRedirects = !baseHeaders.has(EGRESS_REDIRECT_HEADER);
    baseHeaders.delete(EGRESS_REDIRECT_HEADER);
    const body = request.body ? await readCapped(request) : undefined;
    if (body === "too large")
      return denied(`egress refused: request bodies are limited to ${MAX_EGRESS_BODY_BYTES} bytes`);

    const placeholders = Object.entries(run?.placeholders ?? {});
    let method = request.method;
    let payload: ArrayBuffer | undefined = body;
    let url = request.url;
    const used = new Set<string>();
    /** The hops redirected before the last, for the audit: where each went and what it carried. */
    const redirects: { url: string; status: number; credentials?: string[] }[] = [];
    for (let hop = 0; ; hop++) {
      const check = checkUrl(url, policy);
      if (!check.ok) return denied(check.reason);
      const protocol = check.url.protocol as EgressProtocol;
      // Plain http only to this machine (local tests): anywhere else it would hand the
      // credential to every network hop, whatever DWL_EGRESS_ALLOW_LOOPBACK says.
      const secureEnough = protocol === "https:" || (allowLoopback && check.loopback);
      const appliesHere = (c: OpenCredential) =>
        secureEnough && c.rules.some((rule) => hostMatches(check.host, check.port, rule, protocol));

      const headers = new Headers(baseHeaders);
      // Placeholders: swapped for the real value where the credential applies; elsewhere the
      // first request is refused (no smuggling), and a redirect hop just loses the header.
      const bodyText = payload && placeholders.length > 0 ? new TextDecoder().decode(payload) : "";
      for (const [placeholder, name] of placeholders) {
        const credential = credentials.find((c) => c.name === name);
        const inUrl = url.includes(placeholder);
        const inBody = bodyText.includes(placeholder);
        const headerNames = [...headers].filter(([, value]) => value.includes(placeholder)).map(([n]) => n);
        if (!inUrl && !inBody && headerNames.length === 0) continue;
        const applies = credential !== undefined && appliesHere(credential);
        if (!applies || inUrl || inBody) {
          if (hop > 0 && !inUrl && !inBody) {
            for (const n of headerNames) headers.delete(n);
            continue;
          }
          const where = inUrl ? "the URL" : inBody ? "the body" : "a header";
          return denied(
            `egress to ${check.host} refused: it carries the placeholder of credential "${name}" in ${where}; ` +
              (credential
                ? `that credential may only be sent in headers to ${credential.rules.length} bound host(s) over https`
                : "that credential is not available"),
          );
        }
        // The placeholder stands for the value itself: the program writes the scheme around it
        // (`x-api-key: <placeholder>`, `token <placeholder>`); the formatted header value put
        // "Bearer " in front of it. The credential's own header is set below, formatted.
        for (const n of headerNames) headers.set(n, (headers.get(n) ?? "").replaceAll(placeholder, credential.value));
        used.add(name);
      }
      // Named credentials are injected on their hosts, replacing a header of the same name.
      for (const credential of credentials) {
        if (!appliesHere(credential)) continue;
        headers.set(credential.header, credential.headerValue);
        used.add(credential.name);
      }

      const target = new URL(check.url);
      target.username = "";
      target.password = "";
      // Every hop that leaves is an effect (a GET may still change something upstream); refused
      // ones never leave, so they are not reported.
      try {
        await beforeSideEffect(this.env, tenant, this.ctx);
      } catch (err) {
        if (err instanceof EffectNoticeError) return denied(`egress to ${check.host} refused: ${err.message}`);
        throw err;
      }
      let response: Response;
      try {
        response = await fetch(target, {
          method,
          headers,
          ...(payload !== undefined && method !== "GET" && method !== "HEAD" ? { body: payload } : {}),
          redirect: "manual",
        });
      } catch (err) {
        const reason = `the request to ${check.host} got no answer (DNS, connection or TLS failed: ${(err as Error).message})`;
        return new Response(JSON.stringify({ reason }), {
          status: 502,
          headers: {
            [EGRESS_AUDIT_HEADER]: JSON.stringify({
              url: auditUrl(target, used.size > 0),
              credentials: [...used],
              redirects,
              error: true,
            }),
          },
        });
      }
      const location = response.headers.get("location");
      if (followRedirects && REDIRECT_STATUSES.has(response.status) && location && hop < MAX_EGRESS_REDIRECTS) {
        redirects.push({
          url: auditUrl(target, used.size > 0),
          status: response.status,
          ...(used.size > 0 ? { credentials: [...used] } : {}),
        });
        url = new URL(location, target).href;
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")) {
          method = "GET";
          payload = undefined;
          baseHeaders.delete("content-type");
        }
        used.clear();
        continue;
      }
      let final = response;
      if (used.size > 0) {
        // An upstream that echoes the request would hand the credential back: the program
        // sees the placeholder instead (egress/scrub.ts).
        const placeholderOf = new Map(placeholders.map(([placeholder, name]) => [name, placeholder]));
        const scrubs = credentials.map((c) => ({
          value: c.value,
          replacement: placeholderOf.get(c.name) ?? `[credential ${c.name}]`,
        }));
        final = scrubResponse(response, scrubs);
      }
      const headersOut = new Headers(final.headers);
      for (const name of [...headersOut.keys()]) if (name.startsWith(OWN_HEADER_PREFIX)) headersOut.delete(name);
      headersOut.set(
        EGRESS_AUDIT_HEADER,
        JSON.stringify({
          url: auditUrl(target, used.size > 0),
          credentials: [...used],
          redirects,
          executionId: run?.executionId,
        }),
      );
      return new Response(final.body, { status: final.status, statusText: final.statusText, headers: headersOut });
    }
  }
}

async function readCapped(request: Request): Promise<ArrayBuffer | "too large"> {
  const bytes = await request.arrayBuffer();
  return bytes.byteLength > MAX_EGRESS_BODY_BYTES ? "too large" : bytes;
}
