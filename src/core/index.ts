export { Core } from './core.js';
export {
  DEFAULT_LIMITS,
  type CoreLimits,
  type CoreOptions,
  type DriverInstance,
  type NodeConfig,
  type StopOptions,
} from './core-options.js';
export type { ApplicationQuery, Caller, CoreService, LabelQuery, MetaIdentity, PageRequest } from './core-service.js';
export { CoreError, CORE_ERROR_CODES, type CoreErrorCode } from './errors.js';
export { TRANSITIONS, canTransition } from './applications/states.js';
export { parseDuration } from './durations.js';
export { checkMetadataLimits, DEFAULT_METADATA_LIMITS, nestingDepth, type MetadataLimits } from './metadata-limits.js';
export type { AccessSessionKind, AccessSessionRecord, AccessTarget, AccessVia } from './access/access-service.js';
export { fingerprintOf } from './access/ssh-keys.js';
export type { ExecProcess, ExecRequest } from '../contract/index.js';
