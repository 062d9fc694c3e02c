// `npm run dev` after the bootstrap: the supervised loader (apps/supervisor/src/main.ts, run by
// Node's built-in TypeScript type stripping) in this very process. See that file and
// apps/supervisor/src/settings.ts for the configuration.
await import("../apps/supervisor/src/main.ts");
