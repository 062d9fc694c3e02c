/** Types of server.mjs, for the workerd project's global setup (test-support/global-setup.workerd.ts). */
export function startRegistry(): Promise<{ url: string; close: () => Promise<void> }>;
