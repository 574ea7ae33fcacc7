/**
 * For the OpenAPI document only: a label definition's `options` are driver-specific (the API
 * accepts any object and the driver's validateDefinition decides), so the document describes them
 * per driver from each driver's own options schema.
 */

function isDefinitionSchema(props: Record<string, unknown>): boolean {
  return 'driver' in props && 'options' in props && 'requirements' in props;
}

/**
 * A copy of a route schema in which every label definition's `options` lists, under `anyOf`, the
 * options schema of each driver (titled with the driver's name). Validation is not affected: the
 * routes keep their own schemas; this is what /api/openapi.json shows.
 */
export function describeDefinitionOptions<T>(schema: T, byDriver: Readonly<Record<string, object>>): T {
  const drivers = Object.entries(byDriver);
  if (drivers.length === 0) return schema;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v);
    const props = out.properties;
    if (typeof props === 'object' && props !== null && isDefinitionSchema(props as Record<string, unknown>)) {
      const p = props as Record<string, unknown>;
      out.properties = {
        ...p,
        options: {
          ...(p.options as object),
          description:
            'driver-specific: checked by the driver named in `driver` (its validateDefinition) when the label is created; ' +
            `an instance "name/suffix" takes the options of driver "name". Drivers: ${drivers.map(([name]) => name).join(', ')}`,
          anyOf: drivers.map(([name, s]) => ({ ...s, title: `options of the ${name} driver` })),
        },
      };
    }
    return out;
  };
  return walk(schema) as T;
}
