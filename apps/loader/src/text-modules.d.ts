/** Files imported as text by the wrangler.toml "Text" rule (the child harness). */
declare module "*.child.js" {
  const source: string;
  export default source;
}
