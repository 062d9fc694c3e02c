/**
 * @module headers
 * HTTP header names of DWL's own. Every `x-dwl-*` header is the loader's: one a program sends or
 * an upstream answers with is removed before it can be mistaken for one of ours. No imports, so
 * the browser playground takes it without the schemas (`@dwl/protocol/headers`).
 */

/** The prefix of DWL's own headers. */
export const OWN_HEADER_PREFIX = "x-dwl-";

/** The execution id of a sandbox's HTTP run, on its response (SPEC: sandboxes). */
export const EXECUTION_ID_HEADER = `${OWN_HEADER_PREFIX}execution-id`;
