/**
 * @module @dwl/client
 * Typed SDK of the Dynamic Worker Loader. Wire types come from @dwl/protocol and are re-exported
 * here so that callers need one import.
 */
export { DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, DwlClient, parseRetryAfter } from "./client.ts";
export type {
  CredentialsApi,
  DwlClientOptions,
  FileBody,
  FileListOptions,
  FilePutOptions,
  FilesApi,
  RequestOptions,
  SandboxesApi,
  SandboxFetchInit,
  SandboxListOptions,
} from "./client.ts";
export {
  apiDeclarations,
  CODE_MODE_TOOL_NAME,
  codeModeFunction,
  codeModeParameters,
  describeCodeMode,
  formatCodeModeResult,
  runCodeMode,
  runCodeModeCall,
  toAnthropicTool,
  toOpenAIResponsesTool,
  toOpenAITool,
} from "./code-mode.ts";
export type {
  ApiSection,
  CodeModeInput,
  CodeModeOptions,
  CodeModeParameters,
  CodeModeResult,
  FunctionToolDefinition,
} from "./code-mode.ts";
export { CLIENT_ERROR_TYPES, DwlRequestError } from "./errors.ts";
export type { ClientErrorType, DwlRequestErrorInit, DwlRequestErrorType } from "./errors.ts";
export { FileInfoSchema, FileListSchema } from "./files-types.ts";
export type { FileHead, FileInfo, FileList } from "./files-types.ts";
export type {
  CredentialInfo,
  CredentialPut,
  EgressRecord,
  ExecuteRequest,
  ExecuteResponse,
  ExecutionError,
  ExecutionErrorType,
  LogEntry,
  RequestErrorType,
  RequestIssue,
  SandboxDefinition,
  SandboxInfo,
  SandboxList,
  SandboxLogEntry,
  Timing,
} from "@dwl/protocol";
