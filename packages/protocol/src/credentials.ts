/**
 * @module credentials
 * Wire format of `/credentials`: a tenant's secrets, injected by the egress gateway into requests
 * to their hosts. Values go in, never come out.
 */
import { z } from "zod";

export const CredentialNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    "must be 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit",
  );

export const CredentialPutSchema = z.strictObject({
  /** The secret itself (a token, an API key). Never returned by any endpoint. */
  value: z
    .string()
    .min(1)
    .max(4096)
    .refine((v) => !/[\r\n\0]/.test(v), "must not contain CR, LF or NUL"),
  /** Hosts it may be sent to, in `egress.allow` syntax (`api.github.com`, `*.example.com`, `host:8443`); not `*`. */
  hosts: z.array(z.string().min(1).max(253)).min(1).max(20),
  /** Header that carries it (default `authorization`). */
  header: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, "must be an HTTP header name")
    .refine(
      (h) => !["host", "content-length", "transfer-encoding", "connection", "cookie2"].includes(h.toLowerCase()),
      "cannot carry a credential",
    )
    .optional(),
  /** How the header value is built from the secret: must contain `{value}` (default `Bearer {value}`). */
  format: z
    .string()
    .max(256)
    .includes("{value}", { message: "must contain {value}" })
    .refine((f) => !/[\r\n\0]/.test(f), "must not contain CR, LF or NUL")
    .optional(),
});
export type CredentialPut = z.infer<typeof CredentialPutSchema>;

/** What `GET /credentials` shows of a credential: everything but the value. */
export const CredentialInfoSchema = z.object({
  name: z.string(),
  hosts: z.array(z.string()),
  header: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type CredentialInfo = z.infer<typeof CredentialInfoSchema>;

export const CredentialListSchema = z.object({ credentials: z.array(CredentialInfoSchema) });
