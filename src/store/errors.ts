/** Errors the store throws; `code` is stable. */
export const STORE_ERROR_CODES = [
  'NOT_FOUND', // a row the caller expected does not exist
  'CONFLICT', // a unique key is taken (user name, label version)
  'UNSUPPORTED_URL', // openStore() got a URL it cannot open
  'MIGRATION', // the schema could not be brought up to date
  'NOT_OWNER', // a label name belongs to another user
  'UNSUPPORTED', // the database cannot do this (an online backup of PostgreSQL)
] as const;
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
  }
}

export class ConflictError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFLICT', message, options);
    this.name = 'ConflictError';
  }
}

/** A label version refused: its name belongs to another user. */
export class LabelNameOwnedError extends StoreError {
  readonly labelName: string;
  readonly owner: string;

  constructor(name: string, owner: string) {
    super('NOT_OWNER', `label name "${name}" belongs to ${owner}`);
    this.name = 'LabelNameOwnedError';
    this.labelName = name;
    this.owner = owner;
  }
}

/** A unique-constraint violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** A transient failure worth retrying the whole transaction (PostgreSQL deadlock/serialization, SQLite busy). */
export function isRetryable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === '40P01' || code === '40001' || code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT';
}
