/**
 * @module egress/run-egress
 * From a request's `egress` field to what one run needs: the gateway's props (validated,
 * canonical, part of the isolate id), and per-run credential placeholders with the signed token
 * that tells the gateway which placeholder stands for which credential.
 */
import type { ExecuteRequest } from "@dwl/protocol";
import { DwlHttpError } from "../errors.ts";
import { CredentialStore } from "./credential-store.ts";
import { encryptionKey } from "./encryption-key.ts";
import { EgressRuleError, formatRule, parseAllowRule } from "./policy.ts";
import { newPlaceholder, signRunToken } from "./run-token.ts";

export interface RunEgress {
  scope: { allow: string[]; credentials: string[] };
  /** credential name → placeholder, visible to the program as env.SECRETS */
  secrets: Record<string, string>;
  runToken: string | null;
}

export async function runEgress(egress: ExecuteRequest["egress"], tenant: string, env: Env, executionId: string): Promise<RunEgress> {
  const allow = (egress?.allow ?? []).map((text, index) => {
    try {
      return formatRule(parseAllowRule(text));
    } catch (err) {
      if (!(err instanceof EgressRuleError)) throw err;
      throw new DwlHttpError(400, "invalid_request", err.message, [{ path: ["egress", "allow", index], message: err.message }]);
    }
  });
  const credentials = [...new Set(egress?.credentials ?? [])].sort();
  const scope = { allow: [...new Set(allow)].sort(), credentials };
  // Without credentials there is nothing to seal or sign: no encryption key needed.
  if (credentials.length === 0) return { scope, secrets: {}, runToken: null };

  const key = encryptionKey(env);
  const store = new CredentialStore(env.KV, tenant, key);
  for (const [index, name] of credentials.entries()) {
    if (!(await store.exists(name))) {
      throw new DwlHttpError(400, "invalid_request", `no credential named "${name}": create it with PUT /credentials/${name}`, [
        { path: ["egress", "credentials", index], message: `no credential named "${name}"` },
      ]);
    }
  }
  const secrets = Object.fromEntries(credentials.map((name) => [name, newPlaceholder(name)]));
  const placeholders = Object.fromEntries(Object.entries(secrets).map(([name, placeholder]) => [placeholder, name]));
  return {
    scope,
    secrets,
    runToken: await signRunToken(key, { executionId, placeholders }),
  };
}
