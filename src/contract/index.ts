export { StatusNone, StatusAllocated, RESOURCE_STATUSES, type ResourceStatus } from './status.js';
export { DriverError, DRIVER_ERROR_CODES, invalidDefinition, invalidConfig, type DriverErrorCode } from './errors.js';
export { parseDisk, parseRequirements, REQUIREMENT_LIMITS, type Disk, type Requirements } from './requirements.js';
export { parseDefinition, stringifyDefinition, type Definition } from './definition.js';
export { DriverRegistry } from './registry.js';
export type {
  AllocateContext,
  AllocateResult,
  DriverCapacity,
  DriverContext,
  DriverFactory,
  DriverLogger,
  FetchPolicy,
  Fingerprint,
  MetaAccess,
  MetaHandler,
  ResourceDriver,
  StoredItem,
} from './driver.js';
export type { ExecProcess, ExecRequest, ResourceAccess } from './access.js';
