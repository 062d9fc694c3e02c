/**
 * @module sandbox
 * Wire format of persistent sandboxes (`/sandboxes`): named programs that stay addressable.
 */
import { z } from "zod";
import { ExecutionErrorSchema } from "./errors.ts";
import { checkProgramSource, ProgramSourceShape } from "./execute.ts";

/** A sandbox's display name: optional, 1-64 printable characters. */
export const SandboxNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** `POST /sandboxes` and `PUT /sandboxes/:id`: the /execute fields minus `input`/`request`, plus `name`. */
export const SandboxDefinitionSchema = z
  .strictObject({ ...ProgramSourceShape, name: SandboxNameSchema.optional() })
  .superRefine(checkProgramSource);
export type SandboxDefinition = z.infer<typeof SandboxDefinitionSchema>;

/** What belongs to the program itself: given only with `code` or `files`. */
const PROGRAM_FIELDS = ["language", "entry", "dependencies"] as const;

/**
 * `PUT /sandboxes/:id`: a definition, or settings alone (`name`, `limits`, `egress`, `storage`,
 * `tools`) for the stored program: a sandbox whose credential was deleted is repaired without
 * its code, which `GET` does not give back.
 */
export const SandboxUpdateSchema = z
  .strictObject({ ...ProgramSourceShape, name: SandboxNameSchema.optional() })
  .superRefine((update, ctx) => {
    if (update.code !== undefined || update.files !== undefined) return checkProgramSource(update, ctx);
    for (const field of PROGRAM_FIELDS) {
      if (update[field] !== undefined)
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `\`${field}\` belongs to the program: send it with \`code\` or \`files\` (without them, an update changes settings only)`,
        });
    }
  });
export type SandboxUpdate = z.infer<typeof SandboxUpdateSchema>;

export const SandboxInfoSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  /** Where its fetch handler is served: `<origin>/sandboxes/<id>/http/`. */
  url: z.string(),
  version: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  entry: z.string(),
  dependencies: z.record(z.string(), z.string()).optional(),
  limits: z
    .object({ cpuMs: z.number().optional(), subRequests: z.number().optional(), timeoutMs: z.number().optional() })
    .optional(),
  egress: z.object({ allow: z.array(z.string()).optional(), credentials: z.array(z.string()).optional() }).optional(),
  storage: z.object({ namespace: z.string().optional() }).optional(),
  tools: z.array(z.string()).optional(),
});
export type SandboxInfo = z.infer<typeof SandboxInfoSchema>;

export const SandboxListSchema = z.object({ sandboxes: z.array(SandboxInfoSchema), cursor: z.string().optional() });
export type SandboxList = z.infer<typeof SandboxListSchema>;

export const SandboxExecuteSchema = z.strictObject({ input: z.unknown().optional() });

export const SandboxLogEntrySchema = z.object({
  time: z.string(),
  executionId: z.string(),
  /** `request` for a served HTTP request, `execute` for a call of its default function. */
  kind: z.enum(["request", "execute"]),
  level: z.enum(["log", "info", "warn", "error", "debug"]),
  message: z.string(),
  error: ExecutionErrorSchema.optional(),
});
export type SandboxLogEntry = z.infer<typeof SandboxLogEntrySchema>;

export const SandboxLogsSchema = z.object({ entries: z.array(SandboxLogEntrySchema) });
