/**
 * Errors a driver throws. `code` is stable; `field` names the offending part of a definition or
 * config (dotted path such as `requirements.disks.ws.size`) when the error is about input.
 */
export const DRIVER_ERROR_CODES = [
  'INVALID_CONFIG', // prepare(): the node-side config is wrong
  'INVALID_DEFINITION', // validateDefinition()/allocate(): the label definition is wrong
  'NOT_FOUND', // snapshot()/console(): no such resource
  'NO_CAPACITY', // allocate(): the driver cannot fit it now
  'IMAGE', // an image could not be fetched, verified or unpacked
  'BACKEND', // the backend (daemon, hypervisor, kernel) failed
  'UNSUPPORTED', // the driver does not support this operation
  'IN_USE', // removeImage()/removeDisk(): a resource uses it now
  'INJECTED', // the test driver's failure injection
] as const;
export type DriverErrorCode = (typeof DRIVER_ERROR_CODES)[number];

export class DriverError extends Error {
  readonly code: DriverErrorCode;
  readonly field: string | undefined;

  constructor(code: DriverErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DriverError';
    this.code = code;
    this.field = options?.field;
  }
}

/** A definition or config problem naming the field: `invalid('requirements.cpu', 'must be an integer ≥ 1')`. */
export function invalidDefinition(field: string, problem: string): DriverError {
  return new DriverError('INVALID_DEFINITION', `${field}: ${problem}`, { field });
}

export function invalidConfig(field: string, problem: string): DriverError {
  return new DriverError('INVALID_CONFIG', `${field}: ${problem}`, { field });
}
