/** Files imported as text by the wrangler.toml "Text" rule (the child harness). */
declare module "*.child.js" {
  const source: string;
  export default source;
}
/** The Python runner shipped to Python children as text (wrangler.toml "Text" rule). */
declare module "*.py" {
  const source: string;
  export default source;
}
