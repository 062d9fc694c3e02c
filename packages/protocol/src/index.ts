/**
 * @module @dwl/protocol
 * The one source of truth for DWL's wire format: zod schemas and the types inferred from them.
 */
export {
  bodyTooLargeError,
  EXECUTION_ERROR_TYPES,
  ExecutionErrorSchema,
  ExecutionErrorTypeSchema,
  REQUEST_ERROR_TYPES,
  RequestErrorBodySchema,
  RequestErrorTypeSchema,
  RequestIssueSchema,
  SourceLocationSchema,
} from "./errors.ts";
export type {
  ExecutionError,
  ExecutionErrorType,
  RequestErrorBody,
  RequestErrorType,
  RequestIssue,
  SourceLocation,
} from "./errors.ts";
export {
  DEFAULT_ENTRIES,
  defaultEntry,
  PYTHON_DEFAULT_ENTRY,
  EgressRecordSchema,
  EgressSchema,
  ExecuteRequestSchema,
  ExecuteResponseSchema,
  LimitsSchema,
  LOG_LEVELS,
  LogEntrySchema,
  NamespaceSchema,
  ProgramRequestSchema,
  ProgramResponseSchema,
  ProgramSourceShape,
  checkProgramLanguage,
  checkProgramSource,
  isPythonProgram,
  PROGRAM_LANGUAGES,
  ProgramLanguageSchema,
  SOURCE_FILE_EXTENSIONS,
  SourcePathSchema,
  StorageSchema,
  TimingSchema,
} from "./execute.ts";
export type {
  EgressRecord,
  ExecuteRequest,
  ExecuteResponse,
  Limits,
  LogEntry,
  ProgramLanguage,
  ProgramRequest,
  ProgramSourceFields,
  ProgramResponse,
  Timing,
} from "./execute.ts";
export {
  CredentialInfoSchema,
  CredentialListSchema,
  CredentialNameSchema,
  CredentialPutSchema,
} from "./credentials.ts";
export type { CredentialInfo, CredentialPut } from "./credentials.ts";
export {
  SandboxDefinitionSchema,
  SandboxUpdateSchema,
  SandboxExecuteSchema,
  SandboxInfoSchema,
  SandboxListSchema,
  SandboxLogEntrySchema,
  SandboxLogsSchema,
  SandboxNameSchema,
} from "./sandbox.ts";
export type { SandboxDefinition, SandboxInfo, SandboxUpdate, SandboxList, SandboxLogEntry } from "./sandbox.ts";
export {
  CANCEL_PATH,
  EffectNoticeSchema,
  MAX_TOKENS_PER_NOTICE,
  RUN_CPU_BUDGET_HEADER,
  DEFINED_SANDBOX_HEADER,
  THREAD_USE_HEADER,
  SUPERVISED_REQUEST_HEADER,
  SUPERVISOR_SECRET_HEADER,
  SupervisedRequestTokenSchema,
} from "./supervision.ts";
export type { EffectNotice } from "./supervision.ts";
export { apiKeyOf, configuredApiKeys, DEV_API_KEY } from "./api-key.ts";
export { OWN_HEADER_PREFIX, EXECUTION_ID_HEADER } from "./headers.ts";
export { MAX_MODEL_RESULT_CHARS, resultForModel } from "./model-text.ts";
