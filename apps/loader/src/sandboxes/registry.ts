/**
 * @module sandboxes/registry
 * One SQLite-backed Durable Object per tenant holds that tenant's sandboxes: existence, current
 * version, definition and bundle key, plus a bounded ring of recent log lines per sandbox.
 * Strongly consistent (unlike KV): after a delete the id answers 404 at once, and after an update
 * no request runs the old version. Bundles themselves live in R2, content-addressed.
 */
import { DurableObject } from "cloudflare:workers";
import type { SandboxDefinition, SandboxLogEntry } from "@dwl/protocol";

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

/** Log lines kept per sandbox (oldest dropped first). */
export const SANDBOX_LOG_RING = 200;

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
    `);
  }

  count(): number {
    return Number(this.sql.exec("SELECT COUNT(*) AS n FROM sandboxes").one().n);
  }

  /** Creates a sandbox unless the tenant already has `max`; returns null when full. */
  create(record: Omit<SandboxRecord, "version" | "createdAt" | "updatedAt">, max: number): SandboxRecord | null {
    const count = Number(this.sql.exec("SELECT COUNT(*) AS n FROM sandboxes").one().n);
    if (count >= max) return null;
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

  /** Oldest first, `limit` per page; the cursor is the last id's creation order. */
  list(limit: number, after?: string): { records: SandboxRecord[]; cursor?: string } {
    const rows = after
      ? this.sql.exec("SELECT * FROM sandboxes WHERE (created_at, id) > (SELECT created_at, id FROM sandboxes WHERE id = ?) ORDER BY created_at, id LIMIT ?", after, limit + 1).toArray()
      : this.sql.exec("SELECT * FROM sandboxes ORDER BY created_at, id LIMIT ?", limit + 1).toArray();
    const records = rows.slice(0, limit).map(toRecord);
    return rows.length > limit ? { records, cursor: records.at(-1)?.id ?? "" } : { records };
  }

  update(id: string, change: Pick<SandboxRecord, "entry" | "bundleKey" | "settings"> & { name?: string }): SandboxRecord | null {
    const existing = this.get(id);
    if (!existing) return null;
    this.sql.exec(
      "UPDATE sandboxes SET version = version + 1, updated_at = ?, entry = ?, bundle_key = ?, settings = ?, name = ? WHERE id = ?",
      new Date().toISOString(),
      change.entry,
      change.bundleKey,
      JSON.stringify(change.settings),
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
    for (const entry of entries.slice(-SANDBOX_LOG_RING)) this.sql.exec("INSERT INTO logs (sandbox_id, entry) VALUES (?, ?)", id, JSON.stringify(entry));
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
