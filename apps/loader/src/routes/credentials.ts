/**
 * @module routes/credentials
 * PUT /credentials/:name, GET /credentials, DELETE /credentials/:name — per tenant. Values are
 * sealed on the way in and never returned.
 */
import { CredentialNameSchema, CredentialPutSchema } from "@dwl/protocol";
import { Hono, type Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { CredentialHostError, CredentialStore } from "../egress/credential-store.ts";
import { encryptionKey } from "../egress/encryption-key.ts";
import { EgressRuleError } from "../egress/policy.ts";
import { DwlHttpError } from "../errors.ts";
import { parseJson, readBodyText, validate } from "../validate.ts";
import { MAX_CREDENTIAL_BODY_BYTES } from "../limits.ts";

function storeFor(c: Context<AppEnv>): CredentialStore {
  return new CredentialStore(c.env.KV, c.get("tenant"), encryptionKey(c.env));
}

function nameOf(c: Context<AppEnv>): string {
  const parsed = CredentialNameSchema.safeParse(c.req.param("name"));
  if (!parsed.success) {
    throw DwlHttpError.of(
      "invalid_request",
      `invalid credential name: ${parsed.error.issues[0]?.message ?? "bad name"}`,
      [{ path: ["name"], message: parsed.error.issues[0]?.message ?? "bad name" }],
    );
  }
  return parsed.data;
}

export const credentialsRoute = new Hono<AppEnv>()
  .get("/", async (c) => c.json({ credentials: await storeFor(c).list() }))
  .put("/:name", async (c) => {
    const name = nameOf(c);
    const body = validate(CredentialPutSchema, parseJson(await readBodyText(c.req.raw, MAX_CREDENTIAL_BODY_BYTES)));
    try {
      return c.json(await storeFor(c).put(name, body), 200);
    } catch (err) {
      if (err instanceof EgressRuleError || err instanceof CredentialHostError) {
        // The entry's index, as every other list field's issue names it (`egress.allow[i]`).
        const index = body.hosts.indexOf(err.text);
        throw DwlHttpError.of("invalid_request", err.message, [
          { path: index < 0 ? ["hosts"] : ["hosts", index], message: err.message },
        ]);
      }
      throw err;
    }
  })
  .delete("/:name", async (c) => {
    const name = nameOf(c);
    if (!(await storeFor(c).delete(name))) throw DwlHttpError.of("not_found", `no credential named "${name}"`);
    return c.body(null, 204);
  });
