/**
 * @module egress/run-egress
 * From a run's checked egress scope (the gateway's props: canonical, part of the isolate id) to
 * per-run credential placeholders with the signed token that tells the gateway which placeholder
 * stands for which credential. The scope itself is checked by run/request-check.ts.
 */
import { encryptionKey } from "./encryption-key.ts";
import { newPlaceholder, signRunToken } from "./run-token.ts";

/** A run's egress as the request check leaves it: canonical rules, credentials that exist. */
export interface EgressScope {
  allow: string[];
  credentials: string[];
}

export interface RunEgress {
  scope: EgressScope;
  /** credential name → placeholder, visible to the program as env.SECRETS */
  secrets: Record<string, string>;
  runToken: string | null;
}

/** Per-run placeholders and the signed token for a checked scope (run/request-check.ts). */
export async function runEgress(scope: EgressScope, env: Env, executionId: string): Promise<RunEgress> {
  const { credentials } = scope;
  // Without credentials there is nothing to seal or sign: no encryption key needed.
  if (credentials.length === 0) return { scope, secrets: {}, runToken: null };
  const secrets = Object.fromEntries(credentials.map((name) => [name, newPlaceholder(name)]));
  const placeholders = Object.fromEntries(Object.entries(secrets).map(([name, placeholder]) => [placeholder, name]));
  return {
    scope,
    secrets,
    runToken: await signRunToken(encryptionKey(env), { executionId, placeholders }),
  };
}
