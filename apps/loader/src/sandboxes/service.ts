/**
 * @module sandboxes/service
 * Persistent sandboxes: create/update (bundle once, store bundle + definition), read, delete,
 * call the default function, and serve HTTP through the program's fetch handler. Metadata comes
 * from the tenant's SandboxRegistry on every request, so deletes and updates take effect at once.
 * Writes pass the tenant's quotas (count, stored bytes, writes per minute; limits.ts) and end by
 * collecting the bundles no sandbox uses any more.
 */
import {
  SUPERVISED_REQUEST_HEADER,
  type SandboxDefinition,
  type SandboxInfo,
  type SandboxLogEntry,
  type SandboxUpdate,
} from "@dwl/protocol";
import { storageOperation } from "../bindings/storage-error.ts";
import { bundleChars, type Bundle } from "../bundle/bundle.ts";
import { CompileError } from "../compile-error.ts";
import { DwlHttpError } from "../errors.ts";
import { randomHex } from "../hash.ts";
import { publicOrigin } from "../public-origin.ts";
import { type CompiledProgram, compileProgram } from "../run/compile.ts";
import { type ExecutionContext, startClock } from "../run/context.ts";
import { pythonCompileFailure, runCompiled, serveCompiled } from "../run/pipeline.ts";
import { type CheckedProgram, checkProgramRequest } from "../run/request-check.ts";
import { httpErrorResponse, type RunReply } from "../run/respond.ts";
import type { HttpReport } from "../run/serve.ts";
import { bundleObjectKey, encodeBundle, loadBundle, saveBundle } from "./bundle-store.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import type { SandboxRecord, WriteQuota, WriteRefusal } from "./registry.ts";
import { MAX_SANDBOX_BUNDLE_BYTES } from "../limits.ts";
import { drainedAfterAnswer } from "../supervision/drain-body.ts";
import { tellRunBudget } from "../supervision/run-budget.ts";

function registry(env: Env, tenant: string) {
  return env.SANDBOXES.get(env.SANDBOXES.idFromName(tenant));
}
type Registry = ReturnType<typeof registry>;

function tooMany(max: number): DwlHttpError {
  return new DwlHttpError(
    409,
    "invalid_request",
    `this tenant already has ${max} sandboxes (DWL_MAX_SANDBOXES): delete one first`,
  );
}

/** Turns the registry's refusal of a write into its request error. */
function refused(refusal: WriteRefusal, context: ExecutionContext, id: string | undefined, bytes = 0): DwlHttpError {
  const { server } = context;
  switch (refusal.refused) {
    case "missing":
      return notFound(id ?? "");
    case "count":
      return tooMany(server.maxSandboxes);
    case "rate": {
      const seconds = String(refusal.retryAfterSeconds ?? 60);
      const message = `this tenant has written ${server.sandboxWritesPerMinute} sandboxes in the last minute (DWL_SANDBOX_WRITES_PER_MINUTE); retry in ${seconds} s`;
      return DwlHttpError.of("rate_limited", message, undefined, { "retry-after": seconds });
    }
    case "bytes":
      return DwlHttpError.of(
        "payload_too_large",
        `this tenant's sandbox bundles take ${refusal.used ?? 0} bytes; this ${bytes}-byte bundle would pass the ${server.maxSandboxStorageBytes}-byte quota (DWL_MAX_SANDBOX_STORAGE_BYTES): delete or shrink a sandbox first`,
        [{ path: ["code"], message: `over the tenant's ${server.maxSandboxStorageBytes}-byte sandbox storage` }],
      );
  }
}

function quotaOf(context: ExecutionContext): WriteQuota {
  return { maxSandboxes: context.server.maxSandboxes, writesPerMinute: context.server.sandboxWritesPerMinute };
}

/**
 * Stores a compiled bundle for a write: reserved in the registry (the bytes quota), then put in
 * R2. On failure the reservation is released and the error thrown as `failure`.
 */
async function storeBundle(
  sandboxes: Registry,
  compiled: CompiledProgram,
  context: ExecutionContext,
  failure: string,
  replacing?: string,
): Promise<void> {
  const body = encodeBundle(compiled.bundle);
  const object = bundleObjectKey(context.tenant, compiled.key);
  const refusal = await storageOperation(`the sandbox registry failed: ${failure}`, () =>
    sandboxes.reserveBundle(compiled.key, object, body.byteLength, context.server.maxSandboxStorageBytes, replacing),
  );
  if (refusal) throw refused(refusal, context, replacing, body.byteLength);
  try {
    await storageOperation(`the bundle store failed: ${failure}`, () =>
      saveBundle(context.env.FILES, context.tenant, compiled.key, compiled.bundle, body),
    );
  } catch (err) {
    await release(sandboxes, compiled.key);
    throw err;
  }
}

/** Gives back a failed write's reservation; if even that fails, the reservation expires. */
async function release(sandboxes: Registry, key: string): Promise<void> {
  try {
    await sandboxes.releaseBundle(key);
    await sandboxes.collect();
  } catch (err) {
    console.error(`dwl: could not release the bundle reservation ${key} (it expires)`, err);
  }
}

/** Deletes the bundles the tenant no longer uses; a failure is logged and retried by the next write. */
async function collect(sandboxes: Registry): Promise<void> {
  try {
    await sandboxes.collect();
  } catch (err) {
    console.error("dwl: could not collect unused sandbox bundles (the next write retries)", err);
  }
}

function notFound(id: string): DwlHttpError {
  return DwlHttpError.of("not_found", `no sandbox "${id}"`);
}

export function sandboxInfo(record: SandboxRecord, origin: string): SandboxInfo {
  return {
    id: record.id,
    ...(record.name !== undefined ? { name: record.name } : {}),
    url: `${origin}/sandboxes/${record.id}/http/`,
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    entry: record.entry,
    ...record.settings,
  };
}

/** Bundles a checked definition (nothing is stored); a program mistake is a 400 naming the source. */
async function compileDefinition(
  definition: SandboxDefinition,
  checked: CheckedProgram,
  context: ExecutionContext,
): Promise<{ compiled: CompiledProgram; entry: string }> {
  let compiled;
  const notCompiling = (message: string, file: string | undefined) =>
    DwlHttpError.of("invalid_request", `the program does not compile: ${message}`, [
      { path: file && definition.files ? ["files", file] : ["code"], message, code: "compile" },
    ]);
  try {
    compiled = await compileProgram(definition, context.server);
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    throw notCompiling(err.message, err.location?.file);
  }
  // Python compiles in its child (the loader cannot parse it), so that a Python definition with
  // a syntax error is refused here as a JavaScript one is, not created to fail at every run.
  const failure = await pythonCompileFailure({
    compiled,
    settings: definition,
    context,
    checked,
    // Its clock only names the check's egress token: the check answers nothing and logs no run.
    clock: startClock("sandbox-execute"),
  });
  if (failure) throw notCompiling(failure.message, failure.location?.file);
  const size = bundleChars(compiled.bundle).code;
  if (size > MAX_SANDBOX_BUNDLE_BYTES) {
    throw DwlHttpError.of(
      "payload_too_large",
      `the bundled program is ${size} bytes, over the ${MAX_SANDBOX_BUNDLE_BYTES}-byte sandbox limit`,
      [{ path: ["code"], message: `bundle over ${MAX_SANDBOX_BUNDLE_BYTES} bytes` }],
    );
  }
  // The entry the bundle was built from (a definition always carries code or files).
  return { compiled, entry: checked.entry ?? "index.ts" };
}

function settingsOf(definition: SandboxDefinition | SandboxUpdate): SandboxRecord["settings"] {
  const { dependencies, limits, egress, storage, tools } = definition;
  return {
    ...(dependencies ? { dependencies } : {}),
    ...(limits ? { limits } : {}),
    ...(egress ? { egress } : {}),
    ...(storage ? { storage } : {}),
    ...(tools ? { tools } : {}),
  };
}

export async function createSandbox(
  definition: SandboxDefinition,
  context: ExecutionContext,
  origin: string,
): Promise<SandboxInfo> {
  // The whole definition is checked now (sizes, entry, egress, tools), not at the first request.
  const checked = await checkProgramRequest(definition, context);
  const sandboxes = registry(context.env, context.tenant);
  const notCreated = "the sandbox was not created; retry the request";
  // Count and rate are checked before compiling (the costly part), so a refused create stores nothing.
  const refusal = await storageOperation(`the sandbox registry failed: ${notCreated}`, () =>
    sandboxes.admitWrite(quotaOf(context)),
  );
  if (refusal) throw refused(refusal, context, undefined);
  const { compiled, entry } = await compileDefinition(definition, checked, context);
  const id = `sb_${randomHex(10)}`;
  // The bundle first, then the row: until the row commits, the registry's reservation keeps the
  // bundle from collection, and a failed create leaves at most an unused bundle the next sweep takes.
  await storeBundle(sandboxes, compiled, context, notCreated);
  let record: SandboxRecord | null;
  try {
    record = await storageOperation(`the sandbox registry failed: ${notCreated}`, () =>
      sandboxes.create(
        {
          id,
          ...(definition.name !== undefined ? { name: definition.name } : {}),
          entry,
          bundleKey: compiled.key,
          settings: settingsOf(definition),
        },
        context.server.maxSandboxes,
      ),
    );
  } catch (err) {
    // The row may have been written before the call failed: only this request knows its id.
    const forgotten = await forgetRow(sandboxes, id);
    await release(sandboxes, compiled.key);
    if (forgotten) throw err;
    throw DwlHttpError.of(
      "internal",
      `the sandbox registry failed: sandbox "${id}" may remain; delete it (DELETE /sandboxes/${id}) and retry`,
    );
  }
  if (!record) {
    await release(sandboxes, compiled.key);
    throw tooMany(context.server.maxSandboxes);
  }
  // Nothing of this create to collect; a sweep an earlier write could not finish is retried here.
  await collect(sandboxes);
  return sandboxInfo(record, origin);
}

/** Deletes a half-created sandbox's row; false when that failed too (the row may remain). */
async function forgetRow(sandboxes: Registry, id: string): Promise<boolean> {
  try {
    await sandboxes.delete(id);
    return true;
  } catch (err) {
    console.error(`dwl: could not delete the registry row of the failed create of ${id}`, err);
    return false;
  }
}

export async function updateSandbox(
  id: string,
  update: SandboxUpdate,
  context: ExecutionContext,
  origin: string,
): Promise<SandboxInfo> {
  const sandboxes = registry(context.env, context.tenant);
  const unchanged = "the sandbox was not changed; retry the request";
  const refusal = await storageOperation(`the sandbox registry failed: ${unchanged}`, () =>
    sandboxes.admitWrite(quotaOf(context), id),
  );
  if (refusal) throw refused(refusal, context, id);
  // Settings the update does not name keep their stored values, as its name does: "new code for
  // my app" kept the name but silently moved the app to the default namespace and dropped its
  // egress, credentials, tools and limits. Dependencies belong to the code and come with it.
  // What it is checked and compiled with; what is written is only what it names (settingsOf), merged
  // by the registry with what is stored then: a settings update that lands while this one compiles
  // (npm downloads take seconds) is kept, not overwritten with what was read here.
  const { dependencies, ...stored } = (await getSandbox(id, context)).settings;
  if (update.code === undefined && update.files === undefined)
    return updateSettings(
      id,
      update,
      { ...stored, ...(dependencies ? { dependencies } : {}), ...update },
      context,
      origin,
    );
  const definition: SandboxDefinition = { ...stored, ...update };
  const checked = await checkProgramRequest(definition, context);
  const { compiled, entry } = await compileDefinition(definition, checked, context);
  // The bundle first: the sandbox keeps running its current version until the row points here.
  await storeBundle(sandboxes, compiled, context, unchanged, id);
  let record: SandboxRecord | null;
  try {
    record = await storageOperation(
      `the sandbox registry failed to record the update: GET /sandboxes/${id} shows which version is current; retry the request`,
      () =>
        sandboxes.update(id, {
          entry,
          bundleKey: compiled.key,
          settings: settingsOf(update),
          ...(update.name !== undefined ? { name: update.name } : {}),
        }),
    );
  } catch (err) {
    await release(sandboxes, compiled.key);
    throw err;
  }
  if (!record) {
    await release(sandboxes, compiled.key);
    throw notFound(id);
  }
  // The previous version's bundle, if no other sandbox of the tenant uses it.
  await collect(sandboxes);
  return sandboxInfo(record, origin);
}

/**
 * An update without code: the stored program under the settings `update` names, checked as a
 * definition's are (`merged`: with the stored ones).
 */
async function updateSettings(
  id: string,
  update: SandboxUpdate,
  merged: SandboxRecord["settings"],
  context: ExecutionContext,
  origin: string,
): Promise<SandboxInfo> {
  await checkProgramRequest(merged, context);
  const record = await storageOperation(
    `the sandbox registry failed to record the update: GET /sandboxes/${id} shows which version is current; retry the request`,
    () =>
      registry(context.env, context.tenant).updateSettings(id, {
        settings: settingsOf(update),
        ...(update.name !== undefined ? { name: update.name } : {}),
      }),
  );
  if (!record) throw notFound(id);
  return sandboxInfo(record, origin);
}

export async function getSandbox(id: string, context: ExecutionContext): Promise<SandboxRecord> {
  const record = await registry(context.env, context.tenant).get(id);
  if (!record) throw notFound(id);
  return record;
}

export async function listSandboxes(
  context: ExecutionContext,
  limit: number,
  cursor?: string,
): Promise<{ records: SandboxRecord[]; cursor?: string }> {
  const { records, more } = await registry(context.env, context.tenant).list(
    limit,
    cursor === undefined ? undefined : decodeCursor(cursor),
  );
  const last = records.at(-1);
  return more && last ? { records, cursor: encodeCursor(last) } : { records };
}

export async function deleteSandbox(id: string, context: ExecutionContext): Promise<void> {
  const sandboxes = registry(context.env, context.tenant);
  if (!(await sandboxes.delete(id))) throw notFound(id);
  await collect(sandboxes);
}

export async function sandboxLogs(id: string, context: ExecutionContext): Promise<SandboxLogEntry[]> {
  const sandboxes = registry(context.env, context.tenant);
  if (!(await sandboxes.get(id))) throw notFound(id);
  return sandboxes.logs(id);
}

async function bundleOf(record: SandboxRecord, env: Env, tenant: string): Promise<Bundle> {
  const bundle = await loadBundle(env.FILES, tenant, record.bundleKey);
  if (!bundle)
    throw DwlHttpError.of(
      "internal",
      `the stored bundle of sandbox "${record.id}" is missing: update the sandbox to rebuild it`,
    );
  return bundle;
}

function logEntries(
  executionId: string,
  kind: SandboxLogEntry["kind"],
  outcome: Pick<HttpReport, "logs" | "error">,
): SandboxLogEntry[] {
  const time = new Date().toISOString();
  const entries: SandboxLogEntry[] = outcome.logs.map((l) => ({
    time,
    executionId,
    kind,
    level: l.level,
    message: l.message,
  }));
  if (outcome.error)
    entries.push({
      time,
      executionId,
      kind,
      level: "error",
      message: `${outcome.error.name}: ${outcome.error.message}`,
      error: outcome.error,
    });
  return entries;
}

/** POST /sandboxes/:id/execute: calls the default function with `input`, like /execute. */
export async function executeSandbox(
  id: string,
  input: unknown,
  context: ExecutionContext,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<RunReply> {
  const clock = startClock("sandbox-execute");
  const record = await getSandbox(id, context);
  const settings = { ...record.settings, input };
  const checked = await checkStored(record, settings, context);
  const bundle = await bundleOf(record, context.env, context.tenant);
  const reply = await runCompiled({ compiled: storedProgram(record, bundle), settings, context, checked, clock });
  waitUntil(
    registry(context.env, context.tenant).appendLogs(
      id,
      logEntries(clock.executionId, "execute", { logs: reply.logs, ...(reply.ok ? {} : { error: reply.error }) }),
    ),
  );
  return reply;
}

/** ANY /sandboxes/:id/http/*: the program's fetch handler answers, streaming both ways. */
export async function serveSandboxHttp(
  id: string,
  request: Request,
  path: string,
  context: ExecutionContext,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<Response> {
  const { env, tenant } = context;
  const clock = startClock("sandbox-http");
  const record = await getSandbox(id, context);
  const bundle = await bundleOf(record, env, tenant);
  if (bundle.python) {
    // Answered as a JS program without a fetch handler is: Python programs have only main().
    const error = {
      type: "runtime",
      name: "TypeError",
      message: "this sandbox is a Python program, which has no fetch handler: call it with POST /sandboxes/:id/execute",
    } as const;
    return httpErrorResponse(error, clock.executionId);
  }
  const checked = await checkStored(record, record.settings, context);
  const upload = drainedAfterAnswer(request);
  let outcome: Awaited<ReturnType<typeof serveCompiled>>;
  try {
    outcome = await serveCompiled(
      { compiled: storedProgram(record, bundle), settings: record.settings, context, checked, clock },
      forwardedRequest(id, request, path, env, upload.body),
    );
  } catch (err) {
    // The loader's own error answer goes out once the upload is read, as the program's would.
    await upload.answered(new Response(null, { status: 204 }));
    throw err;
  }
  const { response, served } = outcome;
  waitUntil(registry(env, tenant).appendLogs(id, logEntries(clock.executionId, "request", served.report)));
  const answer = await upload.answered(response);
  tellRunBudget(answer.headers, checked.limits.cpuMs, env);
  return answer;
}

/**
 * The stored settings checked again, with the call's input: what they name may be gone since (a
 * deleted credential). That is the sandbox's state, not a fault of the caller's request: 409
 * `not_configured`, naming the stored setting and how to fix it.
 */
async function checkStored(
  record: SandboxRecord,
  settings: SandboxRecord["settings"] & { input?: unknown },
  context: ExecutionContext,
): Promise<CheckedProgram> {
  try {
    return await checkProgramRequest(settings, context);
  } catch (err) {
    const stored = (err as DwlHttpError).issues?.every((issue) => issue.path[0] !== "input");
    if (!(err instanceof DwlHttpError) || err.type !== "invalid_request" || !stored) throw err;
    throw new DwlHttpError(
      409,
      "not_configured",
      `sandbox "${record.id}" cannot run as stored: ${err.message}; update it (PUT /sandboxes/${record.id}) or restore what it names`,
      err.issues,
    );
  }
}

/**
 * A stored sandbox's program: its stored bundle, always kept warm, in an isolate of its own. Keyed
 * by the sandbox too, not by its bundle alone: two sandboxes of one program (an app template, one
 * per end user) would otherwise share module state, each seeing what the other's requests left.
 */
function storedProgram(record: SandboxRecord, bundle: Bundle): CompiledProgram {
  return { bundle, key: `${record.bundleKey}/${record.id}`, cached: true, pinned: true };
}

/**
 * The request the program's fetch handler sees: its own path and query (`path`, as sent), on the
 * public origin. Joined as text, not resolved against the origin: `new URL("//evil.com/x", origin)`
 * is a protocol-relative reference that would put evil.com in the host.
 */
function forwardedRequest(
  id: string,
  request: Request,
  path: string,
  env: Env,
  body: ReadableStream<Uint8Array> | null,
): Request {
  const headers = new Headers(request.headers);
  // The tenant's API key authorises the call to the loader, and the supervisor's token names the
  // request to the supervisor; neither is the program's to see.
  headers.delete("authorization");
  headers.delete(SUPERVISED_REQUEST_HEADER);
  headers.set("x-forwarded-prefix", `/sandboxes/${id}/http`);
  const own = path.startsWith("/") ? path : `/${path}`;
  return new Request(`${publicOrigin(env, request.url)}${own}`, {
    method: request.method,
    headers,
    // The program's redirects are its answer, for the client to follow or not: followed here, a
    // login's 303 lost its Set-Cookie and a redirect loop ran the program 21 times.
    redirect: "manual",
    ...(request.method === "GET" || request.method === "HEAD" ? {} : { body }),
  });
}
