/**
 * @module tools/notes
 * Operator tool `env.NOTES`: a small searchable notebook in the tenant's storage namespace, so
 * an agent can keep findings between runs. Stored in KV under `notes/` of the run's namespace
 * (the same place `env.KV` sees, with the same key rules).
 */
import { scopePrefix } from "../bindings/keys.ts";
import type { RpcResult } from "../bindings/rpc-result.ts";
import { ToolEntrypoint } from "./tool-entrypoint.ts";
import { MAX_NOTE_CHARS, MAX_NOTES_LISTED } from "../limits.ts";

export interface Note {
  id: string;
  title: string;
  text: string;
  tags: string[];
  createdAt: string;
}

export const NOTES_DECLARATION = `/** A searchable notebook kept in the tenant's storage namespace (persists between runs). */
interface Notes {
  /** Saves a note and returns it with its new id. text: at most 65,536 characters. */
  add(title: string, text: string, tags?: string[]): Promise<Note>;
  /** The note with this id, or null. */
  get(id: string): Promise<Note | null>;
  /** Notes whose title, text or tags contain every word of the query (case-insensitive), newest first. */
  search(query: string, limit?: number): Promise<Note[]>;
  /** All notes (optionally with a tag), newest first, at most 1,000. */
  list(tag?: string): Promise<Note[]>;
  /** Deletes a note; true if it existed. */
  remove(id: string): Promise<boolean>;
}
interface Note { id: string; title: string; text: string; tags: string[]; createdAt: string }
// env.NOTES: Notes  (enable with tools: ["notes"])`;

export class NotesTool extends ToolEntrypoint {
  private get prefix(): string {
    return `${scopePrefix(this.ctx.props.tenant, this.ctx.props.namespace)}notes/`;
  }

  async #all(): Promise<Note[]> {
    const notes: Note[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.env.KV.list({ prefix: this.prefix, ...(cursor ? { cursor } : {}) });
      for (const key of page.keys) {
        const note = await this.env.KV.get<Note>(key.name, "json");
        if (note) notes.push(note);
        if (notes.length >= MAX_NOTES_LISTED) break;
      }
      cursor = page.list_complete || notes.length >= MAX_NOTES_LISTED ? undefined : page.cursor;
    } while (cursor);
    return notes.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  }

  add(title: string, text: string, tags: string[] = []): Promise<RpcResult<Note>> {
    return this.toolCall(async () => {
      if (typeof title !== "string" || title.length === 0 || title.length > 200)
        throw new TypeError("title must be a string of 1-200 characters");
      if (typeof text !== "string" || text.length > MAX_NOTE_CHARS)
        throw new RangeError(`text must be a string of at most ${MAX_NOTE_CHARS} characters`);
      if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string" || t.length > 50) || tags.length > 20)
        throw new TypeError("tags must be at most 20 strings of at most 50 characters");
      const note: Note = { id: crypto.randomUUID(), title, text, tags, createdAt: new Date().toISOString() };
      await this.env.KV.put(this.prefix + note.id, JSON.stringify(note));
      return note;
    });
  }

  get(id: string): Promise<RpcResult<Note | null>> {
    return this.toolCall(async () =>
      /^[0-9a-f-]{36}$/.test(String(id)) ? await this.env.KV.get<Note>(this.prefix + id, "json") : null,
    );
  }

  search(query: string, limit = 10): Promise<RpcResult<Note[]>> {
    return this.toolCall(async () => {
      const words = String(query).toLowerCase().split(/\s+/).filter(Boolean);
      const matches = (await this.#all()).filter((note) => {
        const haystack = `${note.title}\n${note.text}\n${note.tags.join(" ")}`.toLowerCase();
        return words.every((w) => haystack.includes(w));
      });
      return matches.slice(0, Math.max(1, Math.min(Number(limit) || 10, 100)));
    });
  }

  list(tag?: string): Promise<RpcResult<Note[]>> {
    return this.toolCall(async () =>
      (await this.#all()).filter((note) => tag === undefined || note.tags.includes(tag)),
    );
  }

  remove(id: string): Promise<RpcResult<boolean>> {
    return this.toolCall(async () => {
      if (!/^[0-9a-f-]{36}$/.test(String(id))) return false;
      const existed = (await this.env.KV.get(this.prefix + id)) !== null;
      await this.env.KV.delete(this.prefix + id);
      return existed;
    });
  }
}
