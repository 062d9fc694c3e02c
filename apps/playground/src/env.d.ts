/** `?raw` imports: the file's text, inlined by build.mjs (the examples). */
declare module "*?raw" {
  const text: string;
  export default text;
}
/** Stylesheets imported for their side effect; build.mjs emits them as app.<hash>.css. */
declare module "*.css";
