/**
 * The program module (bundle/bundle.ts USER_MODULE, `user.js`), which sits beside the harness in
 * every child and is imported only inside a run (program.ts). Its default export is whatever the
 * program exported: the harness checks its shape before calling it.
 */
declare const program: unknown;
export default program;
