/**
 * @module main
 * `npm run dev`: the loader under workerd (run by miniflare in this process, see
 * runtime/runtime.ts) behind the supervisor on the public port (default 8787). Settings come
 * from the environment (settings.ts; docs/local-serving.md), and so do the loader's own settings
 * (apps/loader/src/settings.ts, docs/configuration.md), checked here before the runtime starts.
 * Arguments: `--var NAME:VALUE` sets a Worker var, as for `wrangler dev`.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join, resolve } from "node:path";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { apiKeyOf, configuredApiKeys, DEV_API_KEY, SUPERVISED_REQUEST_HEADER } from "@dwl/protocol";
import { Admission, type Demand, type Refusal, type Ticket } from "./admission.ts";
import { Demands } from "./demand.ts";
import {
  type Answer,
  type BodyCap,
  bodyTooLarge,
  malformedRequest,
  requestError,
  send,
  sendOnSocket,
} from "./answers.ts";
import { startControlEndpoint } from "./control.ts";
import { Flights } from "./flights.ts";
import { forwardableHeaders, RuntimeClient } from "./forward.ts";
import { OpenConnections, type OpenPlace, type OpenRefusal } from "./open-connections.ts";
import { forwardedPath, type LoaderBodyCap, routeOf, type Route } from "./routes.ts";
import { buildLoader, type LoaderBuild, readBuild } from "./runtime/build.ts";
import { Runtime } from "./runtime/runtime.ts";
import {
  MAX_CREDENTIAL_BODY_BYTES,
  maxCpuMsWithinClock,
  programBodyCap,
  readServerLimits,
} from "../../loader/src/limits.ts";
import {
  checkSettings as checkLoaderSettings,
  SettingError as LoaderSettingError,
  settingsFromEnvironment,
  testSettingsInEnvironment,
} from "../../loader/src/settings.ts";
import { readSettings, SettingError, type Settings, v8FlagsOf } from "./settings.ts";
import { Supervisor } from "./supervisor.ts";
import { UNVERIFIED_GROUP, VerifiedKeys } from "./verified-keys.ts";
import { Watchdog } from "./watchdog.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Starting the runtime leaves ~60–100 MB of garbage in this process (miniflare serialises the
 * loader's 14 MB of modules into workerd's config through buffers that grow by copying), which
 * an idle supervisor would otherwise keep resident for good: one full collection returns it.
 */
function releaseStartupGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

function fail(message: string): never {
  console.error(`[dwl] ${message}`);
  process.exit(2);
}

function workerVars(args: string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const value = arg === "--var" ? args[++i] : arg.startsWith("--var=") ? arg.slice("--var=".length) : undefined;
    const match = value === undefined ? null : /^([A-Za-z_][A-Za-z0-9_]*):(.*)$/s.exec(value);
    if (!match) fail(`unknown argument ${JSON.stringify(arg)}: npm run dev takes only --var NAME:VALUE (a Worker var)`);
    vars[match[1] as string] = match[2] as string;
  }
  return vars;
}

let settings: Settings;
try {
  settings = readSettings();
} catch (error) {
  if (error instanceof SettingError) fail(error.message);
  throw error;
}
/** The loader's own settings (apps/loader/src/settings.ts): from the environment, then `--var`. */
const extraVars = { ...settingsFromEnvironment(process.env), ...workerVars(process.argv.slice(2)) };
for (const { name, value } of testSettingsInEnvironment(process.env)) {
  if (name in extraVars) continue;
  console.error(
    `[dwl supervisor] ${name} is set in the environment, which npm run dev does not read for a setting of the tests (a shell that exports one must not change the loader): pass it as npm run dev -- --var ${name}:${value}`,
  );
}

/** Stops the start on a loader setting the loader would refuse, with the loader's own words. */
function checkLoaderVars(vars: object): void {
  try {
    checkLoaderSettings(vars);
  } catch (error) {
    if (error instanceof LoaderSettingError) fail(error.message);
    throw error;
  }
}
checkLoaderVars(extraVars);

const v8Flags = v8FlagsOf(settings);

const flights = new Flights();
/**
 * Admission groups by the key the loader would accept: the configured ones from the start (seeded
 * below, once the loader's vars are read), others once it has accepted them; the rest share one group.
 */
const verifiedKeys = new VerifiedKeys(settings.acceptedKeysMax);
/**
 * A client sends the same key on every request: its hash is kept for the keys seen last
 * (HASHED_KEYS_MAX; a client minting a key per request only churns this cache).
 */
const HASHED_KEYS_MAX = 1024;
const hashedKeys = new Map<string, string>();
function hashOf(key: string): string {
  let hash = hashedKeys.get(key);
  if (hash !== undefined) return hash;
  hash = createHash("sha256").update(key).digest("hex");
  if (hashedKeys.size >= HASHED_KEYS_MAX) hashedKeys.delete(hashedKeys.keys().next().value as string);
  hashedKeys.set(key, hash);
  return hash;
}

/** Headers a client may not set: the supervisor's own, and the Host-derived ones the loader must not trust. */
const CLIENT_MAY_NOT_SET = new Set([SUPERVISED_REQUEST_HEADER, "x-forwarded-host"]);

let supervisor: Supervisor | undefined;
let runtimeClient: RuntimeClient | undefined;
let markReady!: () => void;
/** Requests that arrive while the runtime starts wait for it; later ones skip the await. */
let ready: Promise<void> | undefined = new Promise<void>((resolve) => (markReady = resolve));

function refusalAnswer(refusal: Refusal): Answer {
  const wait = `${Math.ceil(refusal.expectedWaitMs / 1000)} s`;
  const bound =
    refusal.maxWaitMs < settings.queueMaxWaitMs
      ? `its own limits.timeoutMs, ${refusal.maxWaitMs} ms`
      : `DWL_QUEUE_MAX_WAIT_MS, ${refusal.maxWaitMs} ms`;
  const why = {
    expected_wait: `the expected wait in this API key's queue (about ${wait}) is longer than this run may wait (${bound})`,
    waited: `this request waited as long as it may (${bound}) in this API key's queue without its turn (about ${wait} more expected)`,
    queue_full: `the local queue is full (DWL_QUEUE_MAX, ${settings.queueMax} requests waiting)`,
    queue_memory: `the local queue holds as many request bodies as it may (DWL_QUEUE_BODY_BYTES, ${settings.queueBodyBytes} bytes)`,
  }[refusal.refused];
  return requestError(429, "rate_limited", `${why}; retry in ${refusal.retryAfterSeconds} s`, {
    "retry-after": String(refusal.retryAfterSeconds),
  });
}

/** For a request target that names no path (`*`, `host:port`, CONNECT's): the loader serves paths only. */
const noPath = () => requestError(400, "invalid_request", "the request target names no path (origin or absolute form)");

/**
 * The path to classify and forward (routes.ts `forwardedPath`), or the refusal of a request that
 * names none or no Host. An HTTP/1.1 request must name its Host (RFC 9112 §3.2); Node's own check
 * answers a bare 400 without a body, so the server leaves it to this one (the Host is never used:
 * the loader's origin is DWL_PUBLIC_ORIGIN).
 */
function pathOf(req: IncomingMessage): string | Answer {
  const path = forwardedPath(req.url ?? "/");
  if (path === undefined) return noPath();
  if (req.headers.host === undefined && req.httpVersionMinor >= 1)
    return requestError(400, "invalid_request", "an HTTP/1.1 request names its Host");
  return path;
}

/**
 * The whole body, or undefined if the client went away or it is over the cap (answered here).
 * Plain listeners rather than an async iterator: this runs for every program request, and the
 * iterator's promises and stream wrapping cost several times more CPU per small body.
 */
function readBody(req: IncomingMessage, res: ServerResponse, cap: BodyCap): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > cap.maxBytes) {
        finish(undefined);
        // The rest is read and dropped, as past a declared length: closing now could lose the 413
        // (a socket closed with unread input sends a reset), and requestTimeout bounds the drain.
        send(res, bodyTooLarge(cap));
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
    // The client went away (or its connection failed) before the body's end.
    const onGone = () => finish(undefined);
    const finish = (body: Buffer | undefined) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
      resolve(body);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onGone);
  });
}

/** The tighter of this server's body cap and the loader's own for the route (set before `ready`). */
function bodyCapOf(route: Route): BodyCap {
  const loaderCap = route.loaderBodyCap === undefined ? Infinity : loaderBodyCaps[route.loaderBodyCap];
  return loaderCap < settings.maxBodyBytes
    ? { maxBytes: loaderCap, body: route.loaderBodyCap === "file" ? "file" : "request" }
    : { maxBytes: settings.maxBodyBytes, body: "request" };
}

/** The admission group of a request: the key the loader would accept, or the group of keys not accepted yet. */
function groupOf(req: IncomingMessage, route: Route): { keyHash: string | undefined; group: string } {
  const key = route.health ? undefined : apiKeyOf(req.headers.authorization);
  const keyHash = key === undefined ? undefined : hashOf(key);
  return { keyHash, group: keyHash === undefined ? UNVERIFIED_GROUP : verifiedKeys.groupOf(keyHash) };
}

/**
 * A slot for a program request (`release` frees it), after waiting its turn; undefined when it
 * was refused (`refuse` has answered) or the client left while it waited.
 */
async function slotFor(
  group: string,
  bodyBytes: number,
  demand: Demand,
  client: { once(event: "close", listener: () => void): unknown },
  refuse: (answer: Answer) => void,
): Promise<Ticket["release"] | undefined> {
  const ticket = admission.enter(group, bodyBytes, demand);
  if ("refused" in ticket) {
    refuse(refusalAnswer(ticket));
    return undefined;
  }
  if (!ticket.immediate) {
    const left = new Promise<"left">((resolve) => client.once("close", () => resolve("left")));
    const end = await Promise.race([ticket.admitted.then(() => "admitted" as const), ticket.outwaited, left]);
    if (end === "admitted") return ticket.release;
    ticket.release();
    if (end !== "left") refuse(refusalAnswer(end));
    return undefined;
  }
  return ticket.release;
}

/**
 * A slot weighed by the request's demand (demand.ts), with the redefinition stamp it was weighed
 * at: a request whose sandbox was redefined while it waited was weighed by the old budget, so it
 * gives the slot back and waits again by the new one.
 */
async function weighedSlotFor(
  route: Route,
  keyHash: string | undefined,
  group: string,
  body: Buffer | undefined,
  client: { once(event: "close", listener: () => void): unknown },
  refuse: (answer: Answer) => void,
): Promise<{ release: Ticket["release"]; stamp: number } | undefined> {
  for (;;) {
    const stamp = demands.stamp();
    const release = await slotFor(group, body?.length ?? 0, demands.of(route, keyHash, body), client, refuse);
    if (!release) return undefined;
    if (!demands.redefinedSince(route, stamp)) return { release, stamp };
    release();
  }
}

/**
 * `expectsContinue`: the client waits for `100 Continue` before it sends its body. It gets it once
 * the body's declared length is within the cap; refused, it sends nothing, and Node closes the
 * connection after the answer (a body never sent must not be read as the next request).
 */
async function handle(req: IncomingMessage, res: ServerResponse, expectsContinue = false): Promise<void> {
  if (ready) await ready;
  if (!supervisor) return;
  const method = req.method ?? "GET";
  const path = pathOf(req);
  if (typeof path !== "string") {
    send(res, path);
    req.resume();
    return;
  }
  const route = routeOf(method, path);
  const declaredLength = Number(req.headers["content-length"] ?? 0);
  const bodyCap = bodyCapOf(route);
  if (declaredLength > bodyCap.maxBytes) {
    send(res, bodyTooLarge(bodyCap));
    req.resume();
    return;
  }
  if (expectsContinue) res.writeContinue();
  const { keyHash, group } = groupOf(req, route);
  // Whatever the method: a GET that declares a body and is forwarded without it keeps the
  // runtime waiting for bytes that never come (and its slot held), with nothing to time it out.
  const hasBody = declaredLength > 0 || req.headers["transfer-encoding"] !== undefined;

  // A program request waits for its slot only once its whole body is here: idle connections
  // that send headers and nothing else hold no slot. A key not accepted yet streams nothing. A
  // sandbox's upload streams, unless it declares a small body: that one is read first too, so
  // that uploads which stall hold no slot of their key.
  let body: Buffer | IncomingMessage | undefined;
  const smallUpload = route.sandbox !== undefined && declaredLength > 0 && declaredLength <= settings.smallUploadBytes;
  if (hasBody && route.program && (route.buffersBody || smallUpload || group === UNVERIFIED_GROUP)) {
    body = await readBody(req, res, bodyCap);
    if (body === undefined) return;
  } else if (hasBody) body = req;

  demands.redefining(route);
  let release: Ticket["release"] = () => {};
  let stamp = demands.stamp();
  if (route.program) {
    const buffered = Buffer.isBuffer(body) ? body : undefined;
    const slot = await weighedSlotFor(route, keyHash, group, buffered, res, (answer) => {
      if (body === req) req.resume();
      send(res, answer);
    });
    if (!slot) return;
    ({ release, stamp } = slot);
  }
  // A place among open-ended answers is taken as the request goes to the runtime, not when its
  // answer begins: requests admitted together all passed a check made before any was counted
  // (300 of one key were open at once past DWL_KEY_STREAMS 100). Counted by key: only a key
  // the loader accepts gets an answer that lasts.
  let stream: OpenPlace | undefined;
  if (route.openEnded) {
    const refusal = streams.refusal(keyHash ?? group);
    if (refusal) {
      release();
      if (body === req) req.resume();
      send(res, tooManyOpen(refusal));
      return;
    }
    stream = streams.take(keyHash ?? group);
  }

  const flight = flights.open({
    method,
    route,
    group,
    body: Buffer.isBuffer(body) ? body : body ? "streamed" : undefined,
    generation: 0,
  });
  const headers = forwardableHeaders(req.rawHeaders, CLIENT_MAY_NOT_SET);
  headers.push(SUPERVISED_REQUEST_HEADER, flight.token);
  try {
    await supervisor.relay(flight, { method, path, headers, body, bodyCap }, res, () =>
      release(flight.report.threadMs),
    );
  } finally {
    stream?.close();
  }
  demands.redefining(route);
  demands.learn(route, keyHash, flight.report.runCpuMs, stamp);
  demands.learnDefinition(keyHash, flight.report.definedSandbox, flight.report.runCpuMs);
  if (keyHash !== undefined && route.authenticated) verifiedKeys.answered(keyHash, res.statusCode);
}

/** WebSocket connections relayed now, handshakes included. */
const webSockets = new OpenConnections({
  max: settings.maxWebSockets,
  perGroup: settings.keyWebSockets,
  what: "WebSocket connections",
  maxSetting: "DWL_MAX_WEBSOCKETS",
  perGroupSetting: "DWL_KEY_WEBSOCKETS",
});
/** A sandbox's HTTP requests, from when one goes to the runtime to its answer's last byte. */
const streams = new OpenConnections({
  max: settings.maxStreams,
  perGroup: settings.keyStreams,
  what: "sandbox HTTP answers",
  maxSetting: "DWL_MAX_STREAMS",
  perGroupSetting: "DWL_KEY_STREAMS",
});

/** A key past its own bound is rate limited (429); the server past its bound is busy (503). */
const tooManyOpen = ({ whose, why }: OpenRefusal) =>
  whose === "key"
    ? requestError(429, "rate_limited", `${why}; retry when one closes`, { "retry-after": "1" })
    : requestError(503, "internal", `${why}; retry later`, { "retry-after": "1" });

/**
 * An upgrade request (a WebSocket handshake, to a sandbox's fetch handler): admitted like any
 * program request, and once answered it holds no slot, only its place among the open WebSockets.
 */
async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  if (ready) await ready;
  if (!supervisor) return void socket.destroy();
  const method = req.method ?? "GET";
  const path = pathOf(req);
  if (typeof path !== "string") return sendOnSocket(socket, path);
  if (Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined)
    return sendOnSocket(socket, requestError(400, "invalid_request", "an upgrade request carries no body"));
  const route = routeOf(method, path);
  const { keyHash, group } = groupOf(req, route);
  const refusal = webSockets.refusal(group);
  if (refusal) return sendOnSocket(socket, tooManyOpen(refusal));
  const place = webSockets.take(group);
  const answered = (status: number) => {
    if (keyHash === undefined || !route.authenticated) return;
    verifiedKeys.answered(keyHash, status);
    // An open WebSocket lasts: left among the keys not accepted yet, it would hold their group's
    // place for as long (clients reconnecting after a restart of this server would lock each other out).
    place.moveTo(verifiedKeys.groupOf(keyHash));
  };
  try {
    let release: Ticket["release"] = () => {};
    let stamp = demands.stamp();
    if (route.program) {
      const slot = await weighedSlotFor(route, keyHash, group, undefined, socket, (answer) =>
        sendOnSocket(socket, answer),
      );
      if (!slot) return;
      ({ release, stamp } = slot);
    }
    const flight = flights.open({ method, route, group, body: undefined, generation: 0 });
    const headers = forwardableHeaders(req.rawHeaders, CLIENT_MAY_NOT_SET);
    headers.push(SUPERVISED_REQUEST_HEADER, flight.token);
    const protocol = req.headers.upgrade ?? "";
    const released = () => release(flight.report.threadMs);
    await supervisor.tunnel(flight, { method, path, headers, protocol }, socket, head, released, answered);
    demands.learn(route, keyHash, flight.report.runCpuMs, stamp);
  } finally {
    place.close();
  }
}

/**
 * Answers still owed on each connection, and what to send once they are all out: pipelined
 * requests are answered in order, so the answer to a malformed request after them waits.
 */
const owed = new WeakMap<
  Duplex,
  { count: number; whenAnswered?: () => void; last?: { req: IncomingMessage; res: ServerResponse } }
>();

function serve(req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
  const connection = owed.get(req.socket) ?? { count: 0 };
  owed.set(req.socket, connection);
  connection.count++;
  connection.last = { req, res };
  res.once("close", () => {
    if (--connection.count === 0) connection.whenAnswered?.();
  });
  handle(req, res, expectsContinue).catch((error: unknown) => {
    console.error("[dwl supervisor] request failed:", error);
    send(res, requestError(500, "internal", "the local supervisor failed to relay this request"));
  });
}
// Node's check for a missing Host answers a bare 400: pathOf answers it in JSON.
const server = createServer({ requireHostHeader: false }, (req, res) => serve(req, res));
// Without this listener Node answers 100 Continue at once, and a body over the cap comes for nothing.
server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => serve(req, res, true));
// Any other expectation: RFC 9110 §10.1.1 allows 417; without this listener Node sends it bare.
server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
  req.resume();
  send(
    res,
    requestError(417, "invalid_request", `the expectation "${req.headers.expect}" cannot be met: only 100-continue is`),
  );
});
server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
  socket.on("error", () => socket.destroy());
  handleUpgrade(req, socket, head).catch((error: unknown) => {
    console.error("[dwl supervisor] upgrade failed:", error);
    sendOnSocket(socket, requestError(500, "internal", "the local supervisor failed to relay this request"));
  });
});
// A CONNECT (a tunnel to host:port) names no path; without this listener Node drops the connection unanswered.
server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
  socket.on("error", () => socket.destroy());
  sendOnSocket(socket, noPath());
});
server.on("clientError", (error: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
  if (error.code === "ECONNRESET" || !socket.writable) return void socket.destroy();
  const answer = malformedRequest(error.code, error.reason);
  // Node's own handler answers at once, in place of the answer still owed to a request pipelined
  // before (which the client would take for that request's) and cuts one already begun: this one
  // answers after them, in order, and then closes the connection.
  const connection = owed.get(socket);
  const reading = connection?.last;
  if (reading && !reading.req.complete && !reading.res.headersSent) {
    // The request being read (a stalled or malformed body) can never arrive whole now, and it is
    // owed an answer: this is it. The connection closes after it, which tells whatever waits for
    // its body (readBody, a relay to the runtime) that it ended.
    send(reading.res, { ...answer, headers: { ...answer.headers, connection: "close" } });
    // Answered here, it is over wherever else it is: waiting for a slot, or relayed to the runtime
    // with a body that will never end (held there until the run's timeout, its slot with it).
    reading.res.once("finish", () => reading.res.destroy());
    return;
  }
  if (connection && connection.count > 0) connection.whenAnswered = () => sendOnSocket(socket, answer);
  else sendOnSocket(socket, answer);
});
// A slow client has this long to send its whole request.
server.requestTimeout = 120_000;

const control = await startControlEndpoint(flights);
await new Promise<void>((resolve) => server.listen(settings.port, "127.0.0.1", resolve));
const address = server.address();
if (!address || typeof address !== "object") fail("the public port has no address");
const publicHost = `127.0.0.1:${address.port}`;

/** The build to serve: DWL_LOADER_BUILD's as it is, else a new one. */
async function loaderBuild(): Promise<LoaderBuild> {
  if (settings.loaderBuild) {
    try {
      const build = readBuild(resolve(root, settings.loaderBuild));
      console.log(
        `[dwl] serving the loader build in ${build.dir} (DWL_LOADER_BUILD) as it is, not built from the sources`,
      );
      return build;
    } catch (error) {
      fail(`DWL_LOADER_BUILD: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  // Beside the state it serves: two loaders started at once (a test, a bench) never share a build.
  return buildLoader(root, join(resolve(root, settings.stateDir), "dwl-build")).catch((error: unknown) =>
    fail(String(error instanceof Error ? error.message : error)),
  );
}
const build = await loaderBuild();
const loaderVars: Record<string, string> = {
  DWL_MODE: "local",
  DWL_PUBLIC_ORIGIN: `http://${publicHost}`,
  DWL_SUPERVISOR_URL: control.url,
  ...extraVars,
};
// wrangler.toml's [vars] under these: a bad value there stops the start too, before workerd runs.
const allLoaderVars = { ...(build.workerOptions.bindings as object | undefined), ...loaderVars };
checkLoaderVars(allLoaderVars);
const loaderLimits = readServerLimits(allLoaderVars);
// The loader always runs in local mode here: the dev key is accepted besides the configured ones.
const configuredKeys = configuredApiKeys(String((allLoaderVars as Record<string, unknown>).DWL_API_KEYS ?? "{}"));
verifiedKeys.configure([hashOf(DEV_API_KEY), ...(configuredKeys ?? []).map(({ hash }) => hash)]);

/**
 * A computing run holds the runtime's one thread until its clock budget (limits.ts
 * clockBudgetMs) is spent, and the runtime answers no health check meanwhile: a budget
 * past DWL_WATCHDOG_MS would restart the runtime and cut every other run short. Runs may use 80 %
 * of the watchdog's time.
 */
function cpuMsWithinWatchdog(): number {
  const { maxCpuMs } = loaderLimits;
  const cap = maxCpuMsWithinClock(settings.watchdogMs * 0.8, loaderLimits);
  if (maxCpuMs > cap && "DWL_MAX_CPU_MS" in allLoaderVars) {
    console.log(
      `[dwl] DWL_MAX_CPU_MS=${maxCpuMs} is lowered to ${cap}: a run computing longer would trip the watchdog (DWL_WATCHDOG_MS=${settings.watchdogMs}); raise DWL_WATCHDOG_MS for more`,
    );
  }
  return Math.min(maxCpuMs, cap);
}
const maxCpuMs = cpuMsWithinWatchdog();
loaderVars.DWL_MAX_CPU_MS = String(maxCpuMs);

const keyCpuMs = settings.keyCpuMs ?? maxCpuMs;
const admission = new Admission({
  perKey: settings.keyConcurrency,
  total: settings.runtimeConcurrency,
  keyCpuMs,
  keyThreadMs: settings.keyThreadMs,
  queueMax: settings.queueMax,
  queueBodyBytes: settings.queueBodyBytes,
  maxWaitMs: settings.queueMaxWaitMs,
});
const demands = new Demands({
  defaultCpuMs: loaderLimits.defaultCpuMs,
  maxCpuMs,
  unknownSandboxCpuMs: keyCpuMs,
  defaultTimeoutMs: loaderLimits.defaultTimeoutMs,
  maxTimeoutMs: loaderLimits.maxTimeoutMs,
});

/**
 * The loader refuses a body past its own cap as soon as it knows, and workerd may then close the
 * connection with the rest of the body unread: the reset can reach this process before the 413
 * does, and the request would look lost. Cut there first, with the loader's own answer.
 */
const loaderBodyCaps: Record<LoaderBodyCap, number> = {
  program: programBodyCap(loaderLimits),
  file: loaderLimits.maxFileBytes,
  credential: MAX_CREDENTIAL_BODY_BYTES,
};
const runtime = new Runtime({
  root,
  build,
  stateDir: settings.stateDir,
  v8Flags,
  ...(settings.inspectorPort ? { inspectorPort: settings.inspectorPort } : {}),
  // Local mode: the dev key works and credentials use the documented dev encryption key.
  vars: loaderVars,
});
await runtime.start();
runtimeClient = new RuntimeClient(runtime.origin, publicHost);
supervisor = new Supervisor(runtime, runtimeClient, flights, {
  secret: control.secret,
  heapLimitMb: settings.heapLimitMb,
  maxResidentMb: settings.maxResidentMb,
  watchdogMs: settings.watchdogMs,
  webSocketLag: { clientBytes: settings.webSocketLagBytes, totalBytes: settings.webSocketsLagBytes },
  suspectAloneMs: settings.suspectAloneMs,
});
const recycle =
  settings.recycleIdleMs > 0 ? { idleMs: settings.recycleIdleMs, residentMb: settings.recycleResidentMb } : undefined;
const watchdog = new Watchdog(runtime, supervisor, {
  watchdogMs: settings.watchdogMs,
  maxResidentMb: settings.maxResidentMb,
  recycle,
  ...(settings.drainResidentMb > 0 && {
    drain: { residentMb: settings.drainResidentMb, waitMs: settings.drainWaitMs },
  }),
});
watchdog.start();
releaseStartupGarbage();
// Each restart serialises the config again.
runtime.on("up", releaseStartupGarbage);
markReady();
ready = undefined;
console.log(`[dwl] loader ready on http://${publicHost} (supervised; runtime on ${runtime.origin})`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    watchdog.stop();
    runtimeClient?.close();
    server.close();
    control.server.close();
    setTimeout(() => process.exit(0), 3_000).unref();
    void runtime.stop().finally(() => process.exit(0));
  });
}
