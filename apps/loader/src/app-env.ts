/** Hono typing shared by the app and its routes: bindings plus what middleware sets. */
import type { ServerLimits } from "./limits.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: { tenant: string; server: ServerLimits };
}
