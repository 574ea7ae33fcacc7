import { invalidDefinition } from './errors.js';
import { parseRequirements, type Requirements } from './requirements.js';

/** What a driver receives, as a JSON string: `{"options":{…},"requirements":{…}}`. */
export interface Definition {
  options: Record<string, unknown>;
  requirements: Requirements;
}

/**
 * Parse the definition string a driver receives and check the common part (requirements).
 * Driver-specific options are left for the driver to check.
 */
export function parseDefinition(definition: string): Definition {
  let raw: unknown;
  try {
    raw = JSON.parse(definition);
  } catch (err) {
    throw invalidDefinition('definition', `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalidDefinition('definition', 'must be an object {"options":{…},"requirements":{…}}');
  }
  const doc = raw as Record<string, unknown>;
  for (const k of Object.keys(doc)) {
    if (k !== 'options' && k !== 'requirements') {
      throw invalidDefinition(k, 'unknown field (a definition has options and requirements)');
    }
  }
  const options = doc.options ?? {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidDefinition('options', 'must be an object');
  }
  return { options: options as Record<string, unknown>, requirements: parseRequirements(doc.requirements) };
}

export function stringifyDefinition(definition: { options?: Record<string, unknown>; requirements: unknown }): string {
  return JSON.stringify({ options: definition.options ?? {}, requirements: definition.requirements });
}
