/**
 * @module network
 * The program's way out: fetch, WebSocket, EventSource and `cloudflare:sockets` connect(). Every
 * outbound attempt is counted against `subRequests`, tagged with the run's signed token for the
 * egress gateway, and recorded in the run's egress audit (with what the gateway reports back).
 */
import type { EgressRecord } from "@dwl/protocol";
import type { ToolNetwork, ToolNetworkResult } from "../../tools/tool-entrypoint.ts";
import { REFUSE_SOCKET_GLOBAL } from "../child-globals.ts";
import {
  EGRESS_AUDIT_HEADER,
  EGRESS_DENIED_HEADER,
  EGRESS_REDIRECT_HEADER,
  REDIRECT_STATUSES,
  RUN_TOKEN_HEADER,
} from "../child-protocol.ts";
import { awaited } from "./clock.ts";
import { EgressDeniedError, LimitError } from "./errors.ts";
import { arrayPush, now, originalFetch, roundMs, stringSlice } from "./intrinsics.ts";
import { currentRun, runWith, failRun, lastRun, type RunState } from "./state.ts";

/**
 * `connect()` of `cloudflare:sockets` (the bundler swaps in a module that calls this): raw TCP
 * cannot pass the egress gateway, so the attempt is refused with a reason the model can act on,
 * and recorded in the audit like a refused fetch.
 */
function refuseSocket(address: unknown): EgressDeniedError {
  let target: string;
  try {
    const socket = address as { hostname?: unknown; port?: unknown } | null | undefined;
    target = stringSlice(typeof address === "string" ? address : `${socket?.hostname}:${socket?.port}`, 0, 256);
  } catch {
    target = "?";
  }
  const reason = `raw TCP sockets are not available to programs (cloudflare:sockets connect("${target}")); reach the network with fetch() to a host in egress.allow`;
  const run = currentRun();
  // Counted like any outbound attempt, which also bounds the audit a loop of attempts can grow.
  chargeSubrequest(run);
  if (run) arrayPush(run.egress, { method: "CONNECT", url: `tcp://${target}`, status: 0, ms: 0, denied: reason });
  return new EgressDeniedError(reason);
}

/** Counts one outbound request of `run`; over `limits.subRequests` the run fails. */
function chargeSubrequest(run: RunState | undefined): void {
  // Orphan code (see orphanRun) spends the last run's allowance, like its fuel.
  run ??= lastRun;
  if (!run) return;
  run.subRequests++;
  if (run.subRequests > run.limits.subRequests) {
    const err = new LimitError(
      "subrequest_limit",
      "SubrequestLimitError",
      `subrequest limit reached: this run may make at most ${run.limits.subRequests} outbound request(s) (limits.subRequests)`,
    );
    failRun(run, err);
    throw err;
  }
}

/** The `reason` of the gateway's JSON answer (a refusal, a request that got no answer), or `fallback`. */
async function gatewayReason(response: Response, fallback: string): Promise<string> {
  try {
    return (await response.json<{ reason?: string }>()).reason ?? fallback;
  } catch {
    return fallback;
  }
}

async function harnessFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const run = currentRun();
  // A run that has failed (out of CPU, or stopped because its client went away) sends nothing more.
  if (run?.cpuError) throw run.cpuError;
  const request = new Request(input, init);
  chargeSubrequest(run);
  const headers = new Headers(request.headers);
  headers.delete(RUN_TOKEN_HEADER);
  headers.delete(EGRESS_REDIRECT_HEADER);
  if (run?.runToken) headers.set(RUN_TOKEN_HEADER, run.runToken);
  if (request.redirect !== "follow") headers.set(EGRESS_REDIRECT_HEADER, request.redirect);
  const started = now();
  const record: EgressRecord = { method: request.method, url: request.url, status: 0, ms: 0 };
  run?.egress.push(record);
  try {
    const response = await awaited(originalFetch(new Request(request, { headers })));
    if (response.headers.get(EGRESS_DENIED_HEADER)) {
      const reason = await gatewayReason(response, "egress refused by the gateway");
      record.denied = reason;
      throw new EgressDeniedError(reason);
    }
    record.status = response.status;
    if (request.redirect === "error" && REDIRECT_STATUSES.has(response.status)) {
      throw new TypeError(
        `fetch failed: ${request.url} answered a redirect (${response.status}) and redirect is "error"`,
      );
    }
    const audit = response.headers.get(EGRESS_AUDIT_HEADER);
    if (audit === null) return response;
    let unanswered = false;
    try {
      const { url, credentials, redirects, error } = JSON.parse(audit) as {
        url?: unknown;
        credentials?: unknown;
        redirects?: unknown;
        error?: unknown;
      };
      if (typeof url === "string") record.url = url;
      if (Array.isArray(credentials) && credentials.length > 0) record.credentials = credentials;
      if (Array.isArray(redirects) && redirects.length > 0) record.redirects = redirects;
      unanswered = error === true;
    } catch {
      // a malformed audit header only costs the audit detail
    }
    if (unanswered) {
      // As fetch does when no response comes: a TypeError, never a response the upstream did not send.
      const reason = await gatewayReason(response, "the request got no answer");
      record.status = 0;
      record.error = reason;
      throw new TypeError(`fetch failed: ${reason}`);
    }
    const clean = new Response(response.body, response);
    clean.headers.delete(EGRESS_AUDIT_HEADER);
    // As fetch gives them: the gateway's answer is a new Response with neither (url "", never
    // redirected), and code that resolves links or pages against res.url went wrong.
    const redirected = (record.redirects?.length ?? 0) > 0;
    Object.defineProperty(clean, "url", { value: redirected ? record.url : request.url, enumerable: true });
    Object.defineProperty(clean, "redirected", { value: redirected, enumerable: true });
    return clean;
  } finally {
    record.ms = roundMs(now() - started);
  }
}

/**
 * The network a tool call gets (tools/tool-entrypoint.ts `egressFetch`): the harness's fetch, as
 * the run that called the tool, so a tool's requests are counted, audited and policed exactly
 * like the program's. Refusals come back as values (an error thrown across RPC loses its name).
 */
export function toolNetwork(run: RunState | undefined): ToolNetwork {
  return (request) =>
    runWith(run, async (): Promise<ToolNetworkResult> => {
      if (!run || run.failure) return { denied: "egress refused: the run that called this tool has ended" };
      try {
        return { response: await harnessFetch(request) };
      } catch (err) {
        if (err instanceof EgressDeniedError) return { denied: err.message };
        if (err instanceof LimitError) return { limit: err.message };
        if (err instanceof TypeError) return { failed: err.message };
        throw err;
      }
    });
}

/**
 * Installs the hooks, in this order: connect()'s refusal, fetch, then WebSocket and EventSource,
 * which open connections without calling fetch: they are counted and audited here too (the
 * gateway's policy applies to them as to any outbound request).
 */
export function installNetwork(): void {
  Object.defineProperty(globalThis, REFUSE_SOCKET_GLOBAL, {
    value: refuseSocket,
    writable: false,
    configurable: false,
    enumerable: false,
  });
  // Kept apart from globalThis.fetch, which the program may replace: tools use this one.
  globalThis.fetch = harnessFetch as typeof fetch;
  const global = globalThis as unknown as Record<string, unknown>;
  for (const name of ["WebSocket", "EventSource"]) {
    const Original = global[name];
    if (typeof Original !== "function") continue;
    const Wrapped = class extends (Original as new (url: unknown, ...rest: unknown[]) => object) {
      constructor(url: unknown, ...rest: unknown[]) {
        const run = currentRun();
        chargeSubrequest(run);
        if (run) arrayPush(run.egress, { method: "GET", url: String(url), status: 0, ms: 0 });
        super(url, ...rest);
      }
    };
    Object.defineProperty(Wrapped, "name", { value: name });
    global[name] = Wrapped;
  }
}
