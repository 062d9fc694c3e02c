/**
 * @module egress/credential-store
 * A tenant's credentials in KV, sealed with AES-GCM (secrets.ts) under the tenant and name, so a
 * ciphertext copied to another tenant or name does not open. Keys live under `__dwl/`, outside
 * every tenant's storage prefix (`t/…`), so no program's env.KV can reach them.
 */
import type { CredentialInfo, CredentialPut } from "@dwl/protocol";
import { storageOperation } from "../bindings/storage-error.ts";
import { ANY_HOST, formatRule, parseAllowRule, type EgressRule } from "./policy.ts";
import { openSecret, sealSecret } from "./secrets.ts";

export const DEFAULT_CREDENTIAL_HEADER = "authorization";
export const DEFAULT_CREDENTIAL_FORMAT = "Bearer {value}";

interface StoredCredential extends CredentialInfo {
  sealed: string;
  format: string;
}

/** A credential ready for injection (only ever held by the gateway). */
export interface OpenCredential {
  name: string;
  rules: EgressRule[];
  header: string;
  headerValue: string;
  /** The bare secret, only to take it back out of responses (egress/scrub.ts). */
  value: string;
}

export class CredentialHostError extends Error {
  constructor(
    /** The host entry refused. */
    readonly text: string,
    message: string,
  ) {
    super(message);
    this.name = "CredentialHostError";
  }
}

/** Parses a credential's hosts; `*` is refused (it would send the secret everywhere). */
export function credentialRules(hosts: readonly string[]): EgressRule[] {
  return hosts.map((text) => {
    const rule = parseAllowRule(text);
    if (rule.host === ANY_HOST)
      throw new CredentialHostError(text, `a credential cannot be bound to "${text}": name the hosts it is for`);
    return rule;
  });
}

export class CredentialStore {
  constructor(
    private readonly kv: KVNamespace,
    private readonly tenant: string,
    private readonly key: string,
  ) {}

  private kvKey(name: string): string {
    return `__dwl/credentials/${this.tenant}/${name}`;
  }

  /**
   * One KV call. A failure is a 500 that says the credential store failed, with KV's own error
   * (which names the internal `__dwl/` key) kept for the loader's log. Each change is a single
   * KV put or delete, so a failed request leaves no half-written credential.
   */
  private kvCall<T>(op: string, call: () => Promise<T>): Promise<T> {
    return storageOperation(`the credential store is unavailable (KV ${op} failed); retry the request`, call);
  }

  async put(name: string, input: CredentialPut): Promise<CredentialInfo> {
    const rules = credentialRules(input.hosts);
    const existing = await this.kvCall("get", () => this.kv.get<StoredCredential>(this.kvKey(name), "json"));
    const now = new Date().toISOString();
    const stored: StoredCredential = {
      name,
      hosts: rules.map(formatRule),
      header: (input.header ?? DEFAULT_CREDENTIAL_HEADER).toLowerCase(),
      format: input.format ?? DEFAULT_CREDENTIAL_FORMAT,
      sealed: await sealSecret(this.key, input.value, { tenant: this.tenant, name }),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await this.kvCall("put", () => this.kv.put(this.kvKey(name), JSON.stringify(stored)));
    return info(stored);
  }

  async list(): Promise<CredentialInfo[]> {
    const out: CredentialInfo[] = [];
    let cursor: string | undefined;
    do {
      const after = cursor;
      const page = await this.kvCall("list", () =>
        this.kv.list({ prefix: this.kvKey(""), ...(after ? { cursor: after } : {}) }),
      );
      for (const key of page.keys) {
        const stored = await this.kvCall("get", () => this.kv.get<StoredCredential>(key.name, "json"));
        if (stored) out.push(info(stored));
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return out;
  }

  async exists(name: string): Promise<boolean> {
    return (await this.kvCall("get", () => this.kv.get(this.kvKey(name)))) !== null;
  }

  /** Returns whether it existed. */
  async delete(name: string): Promise<boolean> {
    const existed = await this.exists(name);
    await this.kvCall("delete", () => this.kv.delete(this.kvKey(name)));
    return existed;
  }

  /** Decrypts for injection; null when missing. Throws SecretError if the ciphertext does not open. */
  async open(name: string): Promise<OpenCredential | null> {
    const stored = await this.kvCall("get", () => this.kv.get<StoredCredential>(this.kvKey(name), "json"));
    if (!stored) return null;
    const value = await openSecret(this.key, stored.sealed, { tenant: this.tenant, name });
    return {
      name,
      rules: credentialRules(stored.hosts),
      header: stored.header,
      headerValue: stored.format.replaceAll("{value}", value),
      value,
    };
  }
}

function info(stored: StoredCredential): CredentialInfo {
  return {
    name: stored.name,
    hosts: stored.hosts,
    header: stored.header,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
  };
}
