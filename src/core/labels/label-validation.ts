import { DriverError, parseRequirements, stringifyDefinition } from '../../contract/index.js';
import type { LabelCreate } from '../../model/index.js';
import type { LabelDefinitionRecord } from '../../store/store.js';
import type { DriverInstance } from '../core-options.js';
import { parseDuration } from '../durations.js';
import { CoreError } from '../errors.js';
import { checkMetadataLimits, type MetadataLimits } from '../metadata-limits.js';

export const LABEL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** a top-level metadata key (its length is bounded by limits.metadata.key_length) */
export const METADATA_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const MAX_DEFINITIONS = 16;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks metadata keys and bounds (depth, key count, key length, JSON size: see metadata-limits.ts;
 * values are free-form and never logged); `field` names it in messages.
 */
export function checkMetadata(value: unknown, field: string, limits: MetadataLimits): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new CoreError('INVALID', `${field}: must be an object of key → value`, { field });
  checkMetadataLimits(value, field, limits);
  for (const k of Object.keys(value)) {
    if (!METADATA_KEY.test(k)) {
      throw new CoreError(
        'INVALID',
        `${field}: key "${k.slice(0, 40)}" must be letters, digits, "_", "." or "-", starting with a letter or "_"`,
        {
          field: `${field}.${k.slice(0, 40)}`,
        },
      );
    }
  }
  return value;
}

export interface LabelCheckContext {
  /** this node's driver instances */
  local: ReadonlyMap<string, DriverInstance>;
  /** enabled instances on other live nodes (definitions for them are checked there at allocation) */
  remote: ReadonlySet<string>;
}

function definitionError(i: number, driver: string, err: DriverError): CoreError {
  const field = err.field ? `definitions[${i}].${err.field}` : `definitions[${i}]`;
  return new CoreError('INVALID_DEFINITION', `definitions[${i}] (${driver}): ${err.message}`, {
    definition_index: i,
    field,
    driver,
  });
}

/**
 * Checks a label before it is stored: name, durations, metadata, and every definition —
 * requirements with the contract's parser, the whole definition with its driver's
 * validateDefinition(). Returns the normalised definitions.
 */
export async function checkLabel(body: LabelCreate, ctx: LabelCheckContext): Promise<LabelDefinitionRecord[]> {
  if (typeof body.name !== 'string' || !LABEL_NAME.test(body.name)) {
    throw new CoreError('INVALID', 'name: must be 1–63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit', {
      field: 'name',
    });
  }
  if (body.lifetime !== undefined) parseDuration(body.lifetime, 'lifetime');
  if (body.wait_timeout !== undefined) parseDuration(body.wait_timeout, 'wait_timeout');
  const defs: unknown = body.definitions;
  if (!Array.isArray(defs) || defs.length === 0 || defs.length > MAX_DEFINITIONS) {
    throw new CoreError('INVALID', `definitions: give 1 to ${MAX_DEFINITIONS} definitions (ordered fallbacks)`, { field: 'definitions' });
  }
  const out: LabelDefinitionRecord[] = [];
  for (const [i, raw] of defs.entries()) {
    if (!isRecord(raw))
      throw new CoreError('INVALID', `definitions[${i}]: must be an object {driver, options, requirements}`, {
        field: `definitions[${i}]`,
      });
    const driver = raw.driver;
    if (typeof driver !== 'string' || driver === '') {
      throw new CoreError('INVALID', `definitions[${i}].driver: name the driver instance (e.g. "test", "docker")`, {
        field: `definitions[${i}].driver`,
      });
    }
    const options = raw.options ?? {};
    if (!isRecord(options))
      throw new CoreError('INVALID', `definitions[${i}].options: must be an object`, { field: `definitions[${i}].options` });
    let requirements;
    try {
      requirements = parseRequirements(raw.requirements);
    } catch (err) {
      if (err instanceof DriverError) throw definitionError(i, driver, err);
      throw err;
    }
    const inst = ctx.local.get(driver);
    if (inst?.enabled) {
      try {
        await inst.driver.validateDefinition(stringifyDefinition({ options, requirements }));
      } catch (err) {
        if (err instanceof DriverError) throw definitionError(i, driver, err);
        throw new CoreError('INVALID_DEFINITION', `definitions[${i}] (${driver}): ${(err as Error).message}`, {
          definition_index: i,
          field: `definitions[${i}]`,
          driver,
        });
      }
    } else if (!ctx.remote.has(driver)) {
      const here = [...ctx.local.values()].filter((d) => d.enabled).map((d) => d.instance);
      const elsewhere = [...ctx.remote].filter((r) => !here.includes(r));
      const known = [...here, ...elsewhere].sort();
      throw new CoreError(
        'UNKNOWN_DRIVER',
        `definitions[${i}].driver: no node runs driver "${driver}"${inst ? ` (it is disabled here: ${inst.fingerprint.description})` : ''}` +
          `; available: ${known.join(', ') || 'none'}`,
        { definition_index: i, field: `definitions[${i}].driver`, driver, available: known },
      );
    }
    out.push({ driver, options, requirements: requirements as unknown as Record<string, unknown> });
  }
  return out;
}
