import assert from 'node:assert/strict';

/** A definition the suite derived from the driver's valid one, with the field its error must name. */
export interface DefinitionVariant {
  what: string;
  definition: string;
  field: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Breaks the common part (requirements) of a valid definition in the ways every driver must
 * refuse: cpu 0, ram as a string, a disk of size 0, an unknown requirement field, malformed JSON.
 */
export function commonInvalidVariants(valid: string): DefinitionVariant[] {
  const doc: unknown = JSON.parse(valid);
  assert.ok(isRecord(doc) && isRecord(doc.requirements), 'the valid definition must be an object with requirements');
  const base = doc as { options?: unknown; requirements: Record<string, unknown> };
  const withRequirements = (patch: (r: Record<string, unknown>) => void): string => {
    const requirements = structuredClone(base.requirements);
    patch(requirements);
    return JSON.stringify({ ...base, requirements });
  };
  const disks = isRecord(base.requirements.disks) ? base.requirements.disks : {};
  const [diskKey, disk] = Object.entries(disks)[0] ?? ['conformance', { type: 'ext4', size: 1 }];
  const diskType = isRecord(disk) && typeof disk.type === 'string' ? disk.type : 'ext4';
  return [
    { what: 'cpu 0', field: 'requirements.cpu', definition: withRequirements((r) => void (r.cpu = 0)) },
    { what: 'ram "2" (a string)', field: 'requirements.ram', definition: withRequirements((r) => void (r.ram = '2')) },
    {
      what: 'a disk of size 0',
      field: `requirements.disks.${diskKey}.size`,
      definition: withRequirements(
        (r) => void (r.disks = { ...disks, [diskKey]: { ...(isRecord(disk) ? disk : {}), type: diskType, size: 0 } }),
      ),
    },
    { what: 'an unknown requirement field', field: 'requirements.gpu', definition: withRequirements((r) => void (r.gpu = 1)) },
    { what: 'malformed JSON', field: 'definition', definition: valid.slice(0, Math.max(1, valid.length - 1)) + ',' },
  ];
}

/** A node-side config prepare() must refuse, with the field its error must name. */
export interface ConfigVariant {
  what: string;
  config: string;
  field: string;
}

/** Configs every driver's prepare() must refuse: not a JSON object, malformed JSON, an unknown key. */
export function commonInvalidConfigs(): ConfigVariant[] {
  return [
    { what: 'a config that is not an object', config: '[1,2]', field: 'config' },
    { what: 'malformed JSON', config: '{"cpu":', field: 'config' },
    { what: 'an unknown key', config: JSON.stringify({ conformance_no_such_key: 1 }), field: 'conformance_no_such_key' },
  ];
}
