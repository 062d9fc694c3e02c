/**
 * @module sandboxes/registry
 * One SQLite-backed Durable Object per tenant holds that tenant's sandboxes: existence, current
 * version, definition and bundle key, plus a bounded ring of recent log lines per sandbox.
 * Strongly consistent (unlike KV): after a delete the id answers 404 at once, and after an update
 * no request runs the old version. Bundles themselves live in R2, content-addressed per tenant.
 *
 * The registry also owns the life of those bundles and the tenant's write quotas. A write first
 * passes `admitWrite` (rate, count), then `reserveBundle` (bytes) before the bundle is stored, then
 * commits the row. A bundle no row uses and no live reservation holds is garbage: `collect()`
 * deletes its R2 object while no other call can reach this object (blockConcurrencyWhile), so a
 * concurrent write of the same program either reserved it first (and it is kept) or reserves it
 * after the object is gone (and stores it again).
 */
import type { ListPosition } from "./cursor.ts";
import { DurableObject } from "cloudflare:workers";
import type { SandboxDefinition, SandboxLogEntry } from "@dwl/protocol";
import { SANDBOX_LOG_RING } from "../limits.ts";
import { BUNDLE_RESERVATION_MS } from "../limits.ts";

/** What the registry stores of a sandbox (the definition without its sources). */
export interface SandboxRecord {
  id: string;
  name?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  entry: string;
  bundleKey: string;
  settings: Pick<SandboxDefinition, "dependencies" | "limits" | "egress" | "storage" | "tools">;
}

/** Bundles deleted per `collect()` call; the rest wait for the next write. */
const COLLECT_BATCH = 100;

/** The per-tenant write quotas (limits.ts: DWL_MAX_SANDBOXES, DWL_SANDBOX_WRITES_PER_MINUTE). */
export interface WriteQuota {
  maxSandboxes: number;
  writesPerMinute: number;
}

/**
 * Why the registry refused a write: the sandbox is `missing`, the tenant is at its `count`, over
 * its `rate` (retry after `retryAfterSeconds`), or its bundles would pass the `bytes` quota (`used`
 * now). One flat shape, as RPC types a union of object types poorly.
 */
export interface WriteRefusal {
  refused: "missing" | "count" | "rate" | "bytes";
  retryAfterSeconds?: number;
  used?: number;
}

type Row = Record<string, SqlStorageValue>;

function toRecord(row: Row): SandboxRecord {
  return {
    id: String(row.id),
    ...(row.name !== null && row.name !== undefined ? { name: String(row.name) } : {}),
    version: Number(row.version),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
    entry: String(row.entry),
    bundleKey: String(row.bundle_key),
    settings: JSON.parse(String(row.settings)) as SandboxRecord["settings"],
  };
}

export class SandboxRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS sandboxes (
        id TEXT PRIMARY KEY, name TEXT, version INTEGER NOT NULL, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, entry TEXT NOT NULL, bundle_key TEXT NOT NULL, settings TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, sandbox_id TEXT NOT NULL, entry TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS logs_by_sandbox ON logs (sandbox_id, seq);
      CREATE INDEX IF NOT EXISTS sandboxes_by_bundle ON sandboxes (bundle_key);
      CREATE TABLE IF NOT EXISTS bundles (
        key TEXT PRIMARY KEY, object TEXT NOT NULL, bytes INTEGER NOT NULL, pending INTEGER NOT NULL, reserved_until INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS write_bucket (id INTEGER PRIMARY KEY CHECK (id = 0), tokens REAL NOT NULL, at INTEGER NOT NULL);
    `);
  }

  /**
   * Admits one create (`id` undefined) or update of `id`: the sandbox must exist (update) or the
   * tenant must have room (create), then a token of the write rate is taken. A token bucket holding
   * up to one minute's writes, so a burst of `writesPerMinute` passes and then one per interval.
   */
  admitWrite(quota: WriteQuota, id?: string): WriteRefusal | null {
    if (id !== undefined ? !this.get(id) : this.count() >= quota.maxSandboxes)
      return { refused: id !== undefined ? "missing" : "count" };
    const now = Date.now();
    const row = this.sql.exec("SELECT tokens, at FROM write_bucket WHERE id = 0").toArray()[0];
    const perMs = quota.writesPerMinute / 60_000;
    const tokens = row
      ? Math.min(quota.writesPerMinute, Number(row.tokens) + (now - Number(row.at)) * perMs)
      : quota.writesPerMinute;
    if (tokens < 1)
      return {
        refused: "rate",
        retryAfterSeconds: perMs > 0 ? Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)) : 60,
      };
    this.sql.exec("INSERT OR REPLACE INTO write_bucket (id, tokens, at) VALUES (0, ?, ?)", tokens - 1, now);
    return null;
  }

  /**
   * Holds `key` (stored at `object`, `bytes` long) against collection until its row commits, unless
   * the tenant's bundles would then exceed `maxBytes`. The bundle `replacing`'s sandbox alone uses
   * is not counted: an update frees it.
   */
  reserveBundle(key: string, object: string, bytes: number, maxBytes: number, replacing?: string): WriteRefusal | null {
    const until = Date.now() + BUNDLE_RESERVATION_MS;
    if (this.sql.exec("SELECT 1 FROM bundles WHERE key = ?", key).toArray().length > 0) {
      this.sql.exec(
        "UPDATE bundles SET pending = pending + 1, reserved_until = MAX(reserved_until, ?) WHERE key = ?",
        until,
        key,
      );
      return null;
    }
    let used = Number(this.sql.exec("SELECT COALESCE(SUM(bytes), 0) AS n FROM bundles").one().n);
    const old = replacing !== undefined ? this.get(replacing)?.bundleKey : undefined;
    if (
      old !== undefined &&
      Number(this.sql.exec("SELECT COUNT(*) AS n FROM sandboxes WHERE bundle_key = ?", old).one().n) === 1
    ) {
      used -= Number(this.sql.exec("SELECT COALESCE(SUM(bytes), 0) AS n FROM bundles WHERE key = ?", old).one().n);
    }
    if (used + bytes > maxBytes) return { refused: "bytes", used };
    this.sql.exec(
      "INSERT INTO bundles (key, object, bytes, pending, reserved_until) VALUES (?, ?, ?, 1, ?)",
      key,
      object,
      bytes,
      until,
    );
    return null;
  }

  /** Ends a failed write's reservation, so the next `collect()` may take its bundle if unused. */
  releaseBundle(key: string): void {
    this.sql.exec("UPDATE bundles SET pending = MAX(pending - 1, 0) WHERE key = ?", key);
  }

  /** Total bytes of the tenant's stored (or reserved) bundles. */
  bundleBytes(): number {
    return Number(this.sql.exec("SELECT COALESCE(SUM(bytes), 0) AS n FROM bundles").one().n);
  }

  /**
   * Deletes the R2 objects of bundles no sandbox uses and no write holds, then forgets them. A
   * failed R2 delete keeps the rows, so the next call retries; never throws (the writes that call
   * it have already committed).
   */
  async collect(): Promise<number> {
    try {
      return await this.ctx.blockConcurrencyWhile(async () => {
        const garbage = this.sql
          .exec(
            "SELECT key, object FROM bundles WHERE (pending = 0 OR reserved_until < ?) AND key NOT IN (SELECT bundle_key FROM sandboxes) LIMIT ?",
            Date.now(),
            COLLECT_BATCH,
          )
          .toArray();
        if (garbage.length === 0) return 0;
        await this.env.FILES.delete(garbage.map((row) => String(row.object)));
        for (const row of garbage) this.sql.exec("DELETE FROM bundles WHERE key = ?", String(row.key));
        return garbage.length;
      });
    } catch (err) {
      console.error("dwl: collecting unused sandbox bundles failed (the next write retries)", err);
      return 0;
    }
  }

  /**
   * Turns the write's reservation of `key` into the row's use of it; throws if the bundle was
   * collected meanwhile (a write slower than BUNDLE_RESERVATION_MS), never committing a row whose
   * bundle is gone.
   */
  private commitBundle(key: string): void {
    if (this.sql.exec("SELECT 1 FROM bundles WHERE key = ?", key).toArray().length === 0) {
      throw new Error(`bundle ${key} is not reserved (the write took over ${BUNDLE_RESERVATION_MS} ms)`);
    }
    this.releaseBundle(key);
  }

  count(): number {
    return Number(this.sql.exec("SELECT COUNT(*) AS n FROM sandboxes").one().n);
  }

  /** Creates a sandbox unless the tenant already has `max`; returns null when full (the write's reservation stays: release it). */
  create(record: Omit<SandboxRecord, "version" | "createdAt" | "updatedAt">, max: number): SandboxRecord | null {
    if (this.count() >= max) return null;
    this.commitBundle(record.bundleKey);
    const now = new Date().toISOString();
    this.sql.exec(
      "INSERT INTO sandboxes (id, name, version, created_at, updated_at, entry, bundle_key, settings) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
      record.id,
      record.name ?? null,
      now,
      now,
      record.entry,
      record.bundleKey,
      JSON.stringify(record.settings),
    );
    return this.get(record.id);
  }

  get(id: string): SandboxRecord | null {
    const rows = this.sql.exec("SELECT * FROM sandboxes WHERE id = ?", id).toArray();
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** Oldest first, `limit` per page, after `after` (sandboxes/cursor.ts); `more` when a page follows. */
  list(limit: number, after?: ListPosition): { records: SandboxRecord[]; more: boolean } {
    const rows = after
      ? this.sql
          .exec(
            "SELECT * FROM sandboxes WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?",
            after.createdAt,
            after.id,
            limit + 1,
          )
          .toArray()
      : this.sql.exec("SELECT * FROM sandboxes ORDER BY created_at, id LIMIT ?", limit + 1).toArray();
    return { records: rows.slice(0, limit).map(toRecord), more: rows.length > limit };
  }

  /**
   * A new version of `id` with another program. `change.settings` are the settings the update
   * names, merged here with those stored now (the update's dependencies replace the stored ones:
   * they belong to the program); null if it is gone.
   */
  update(
    id: string,
    change: Pick<SandboxRecord, "entry" | "bundleKey" | "settings"> & { name?: string },
  ): SandboxRecord | null {
    const existing = this.get(id);
    if (!existing) return null;
    const { dependencies: _replaced, ...kept } = existing.settings;
    const settings = { ...kept, ...change.settings };
    this.commitBundle(change.bundleKey);
    this.sql.exec(
      "UPDATE sandboxes SET version = version + 1, updated_at = ?, entry = ?, bundle_key = ?, settings = ?, name = ? WHERE id = ?",
      new Date().toISOString(),
      change.entry,
      change.bundleKey,
      JSON.stringify(settings),
      change.name ?? existing.name ?? null,
      id,
    );
    return this.get(id);
  }

  /**
   * A new version of `id` with the same program (entry and bundle) and the settings `change`
   * names, merged here with those stored now; null if it is gone.
   */
  updateSettings(id: string, change: Pick<SandboxRecord, "settings"> & { name?: string }): SandboxRecord | null {
    const existing = this.get(id);
    if (!existing) return null;
    this.sql.exec(
      "UPDATE sandboxes SET version = version + 1, updated_at = ?, settings = ?, name = ? WHERE id = ?",
      new Date().toISOString(),
      JSON.stringify({ ...existing.settings, ...change.settings }),
      change.name ?? existing.name ?? null,
      id,
    );
    return this.get(id);
  }

  delete(id: string): boolean {
    const existed = this.get(id) !== null;
    this.sql.exec("DELETE FROM sandboxes WHERE id = ?", id);
    this.sql.exec("DELETE FROM logs WHERE sandbox_id = ?", id);
    return existed;
  }

  appendLogs(id: string, entries: SandboxLogEntry[]): void {
    if (entries.length === 0 || !this.get(id)) return;
    for (const entry of entries.slice(-SANDBOX_LOG_RING))
      this.sql.exec("INSERT INTO logs (sandbox_id, entry) VALUES (?, ?)", id, JSON.stringify(entry));
    this.sql.exec(
      "DELETE FROM logs WHERE sandbox_id = ? AND seq NOT IN (SELECT seq FROM logs WHERE sandbox_id = ? ORDER BY seq DESC LIMIT ?)",
      id,
      id,
      SANDBOX_LOG_RING,
    );
  }

  logs(id: string): SandboxLogEntry[] {
    return this.sql
      .exec("SELECT entry FROM logs WHERE sandbox_id = ? ORDER BY seq", id)
      .toArray()
      .map((row) => JSON.parse(String(row.entry)) as SandboxLogEntry);
  }
}
