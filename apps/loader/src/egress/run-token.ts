/**
 * @module egress/run-token
 * What the gateway knows of the run behind an outbound request. The gateway's props are fixed
 * per isolate (a warm isolate serves many runs), so per-run data — the execution id and the
 * credential placeholders handed to this run — travels as a header the harness adds to every
 * request (RUN_TOKEN_HEADER, sandbox/child-protocol.ts), HMAC-signed by the loader so a program
 * cannot forge another run's mapping.
 */

export interface RunContext {
  executionId: string;
  /** placeholder string → credential name */
  placeholders: Record<string, string>;
}

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(`dwl/run-token/v1:${secret}`),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    keys.set(secret, key);
  }
  return key;
}

const toBase64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
const fromBase64Url = (text: string) =>
  Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));

export async function signRunToken(secret: string, run: RunContext): Promise<string> {
  const payload = toBase64Url(encoder.encode(JSON.stringify(run)));
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(payload)));
  return `${payload}.${toBase64Url(signature)}`;
}

/** The run behind a request, or null when the token is absent or not genuine. */
export async function verifyRunToken(secret: string, token: string | null): Promise<RunContext | null> {
  if (!token) return null;
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined) return null;
  try {
    const ok = await crypto.subtle.verify(
      "HMAC",
      await hmacKey(secret),
      fromBase64Url(signature),
      encoder.encode(payload),
    );
    return ok ? (JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as RunContext) : null;
  } catch {
    return null;
  }
}

/** A fresh, unguessable stand-in for a credential, valid for one run. */
export function newPlaceholder(name: string): string {
  const random = toBase64Url(crypto.getRandomValues(new Uint8Array(18)));
  return `dwl_secret_${name}_${random}`;
}
