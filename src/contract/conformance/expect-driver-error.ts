import assert from 'node:assert/strict';
import { DRIVER_ERROR_CODES, DriverError, type DriverErrorCode } from '../errors.js';

/** The error as a DriverError, or an assertion failure saying what was thrown instead. */
export function asDriverError(err: unknown, what: string): DriverError {
  if (!(err instanceof DriverError)) {
    const shown = err instanceof Error ? `${err.name}: ${err.message}` : JSON.stringify(err);
    assert.fail(`${what}: expected a DriverError, got ${shown}`);
  }
  assert.ok((DRIVER_ERROR_CODES as readonly string[]).includes(err.code), `${what}: unknown DriverError code ${err.code}`);
  return err;
}

/**
 * Awaits `run`, which must reject with a DriverError whose code is one of `codes`; when `field`
 * is given, both the error's field and its message must contain it.
 */
export async function expectDriverError(
  run: () => Promise<unknown>,
  codes: readonly DriverErrorCode[],
  what: string,
  field?: string,
): Promise<DriverError> {
  let thrown: unknown;
  let resolved = false;
  try {
    await run();
    resolved = true;
  } catch (err) {
    thrown = err;
  }
  if (resolved) assert.fail(`${what}: expected DriverError ${codes.join(' or ')}, but it succeeded`);
  const err = asDriverError(thrown, what);
  assert.ok(codes.includes(err.code), `${what}: expected code ${codes.join(' or ')}, got ${err.code} (${err.message})`);
  if (field !== undefined) {
    assert.ok(
      err.field !== undefined && err.field.includes(field),
      `${what}: DriverError.field ${JSON.stringify(err.field)} does not name ${field}`,
    );
    assert.ok(err.message.includes(field), `${what}: message ${JSON.stringify(err.message)} does not name ${field}`);
  }
  return err;
}
