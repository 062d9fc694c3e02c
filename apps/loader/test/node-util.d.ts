/** node:util as the Worker runtime provides it (nodejs_compat); the Worker tsconfig has no Node types. */
declare module "node:util" {
  export function format(...args: unknown[]): string;
}
