import { invalidDefinition, parseDefinition, type Requirements } from '../../contract/index.js';
import { checkAgainstSchema } from '../shared/schema-check.js';
import { TestOptionsSchema, type InjectionKey } from './config.js';

/** Disk types the test driver records (it creates nothing, but refuses what no real driver takes). */
export const TEST_DISK_TYPES = ['dir', 'ext4', 'xfs', 'qcow2', 'raw'] as const;
/** Networks the test driver records: "" host-only, "nat" outbound allowed. */
export const TEST_NETWORKS = ['', 'nat'] as const;

/** A checked test-driver definition: the label's injection overrides and the requirements. */
export interface TestDefinition {
  options: Partial<Record<InjectionKey, number>>;
  requirements: Requirements;
}

/** Parses and checks a definition string; throws DriverError INVALID_DEFINITION naming the field. */
export function parseTestDefinition(definition: string): TestDefinition {
  const parsed = parseDefinition(definition);
  const options = checkAgainstSchema(TestOptionsSchema, parsed.options, {
    prefix: 'options.',
    invalid: invalidDefinition,
    unknown: 'unknown option',
  }) as Partial<Record<InjectionKey, number>>;
  const { requirements } = parsed;
  for (const [key, disk] of Object.entries(requirements.disks)) {
    if (!(TEST_DISK_TYPES as readonly string[]).includes(disk.type)) {
      throw invalidDefinition(
        `requirements.disks.${key}.type`,
        `unsupported disk type ${JSON.stringify(disk.type)} (supported: ${TEST_DISK_TYPES.join(', ')})`,
      );
    }
  }
  if (!(TEST_NETWORKS as readonly string[]).includes(requirements.network)) {
    throw invalidDefinition(
      'requirements.network',
      `unsupported network ${JSON.stringify(requirements.network)} (supported: "" host-only, "nat")`,
    );
  }
  return { options, requirements };
}
