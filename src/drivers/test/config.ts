import { Type, type TInteger, type TOptional } from '@sinclair/typebox';
import { parseConfigDocument } from '../shared/index.js';
import { checkAgainstSchema } from '../shared/schema-check.js';
import { invalidConfig } from '../../contract/index.js';

/** The calls whose failure and delay can be injected. */
export const INJECTED_CALLS = ['allocate', 'deallocate', 'status', 'snapshot'] as const;
export type InjectedCall = (typeof INJECTED_CALLS)[number];

/** `fail_<call>` and `delay_<call>` for each injected call. */
export const INJECTION_KEYS = INJECTED_CALLS.flatMap((c) => [`fail_${c}`, `delay_${c}`] as const);
export type InjectionKey = `fail_${InjectedCall}` | `delay_${InjectedCall}`;
export type InjectionSettings = Record<InjectionKey, number>;

/** `fail_*`: 0 never, 255 always, 1–254 that percent of calls (above 100: every call). */
export const FAIL_MAX = 255;
/** `delay_*` in ms: at most ten minutes. */
export const DELAY_MAX_MS = 600_000;
/** capacity totals: default generous, bounded so sums stay exact */
export const CAPACITY_DEFAULTS = { cpu: 1024, ram: 4096 } as const;
export const CAPACITY_MAX = { cpu: 1_048_576, ram: 16_777_216 } as const;

/** The node-side config of a test driver instance. */
export interface TestDriverConfig extends InjectionSettings {
  /** total cpu cores this instance can hold at once */
  cpu: number;
  /** total ram (GB) this instance can hold at once */
  ram: number;
}

export const NO_INJECTION: InjectionSettings = Object.freeze(Object.fromEntries(INJECTION_KEYS.map((k) => [k, 0])) as InjectionSettings);

const injectionSchemas = Object.fromEntries(
  INJECTION_KEYS.map((key) => [
    key,
    Type.Optional(
      key.startsWith('fail_')
        ? Type.Integer({
            minimum: 0,
            maximum: FAIL_MAX,
            description: `failure rate of ${key.slice(5)}: 0 never, 255 always, 1–254 that percent of calls`,
          })
        : Type.Integer({ minimum: 0, maximum: DELAY_MAX_MS, description: `ms to wait in ${key.slice(6)} before it answers` }),
    ),
  ]),
) as Record<InjectionKey, TOptional<TInteger>>;

/** A label definition's `options`: the injection keys, overriding the node config for that resource. */
export const TestOptionsSchema = Type.Object(injectionSchemas, { additionalProperties: false });

/** The node-side config (`prepare`): capacity totals and the injection keys. */
export const TestConfigSchema = Type.Object(
  {
    cpu: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: CAPACITY_MAX.cpu,
        description: `total cpu cores this instance holds at once (default ${CAPACITY_DEFAULTS.cpu})`,
      }),
    ),
    ram: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: CAPACITY_MAX.ram,
        description: `total ram (GB) this instance holds at once (default ${CAPACITY_DEFAULTS.ram})`,
      }),
    ),
    ...injectionSchemas,
  },
  { additionalProperties: false },
);

/** Parses the node-side config (prepare); "" means all defaults. Throws DriverError INVALID_CONFIG naming the key. */
export function parseConfig(config: string): TestDriverConfig {
  const doc = checkAgainstSchema(TestConfigSchema, parseConfigDocument(config), {
    prefix: '',
    invalid: invalidConfig,
    unknown: 'unknown key',
  });
  return { ...CAPACITY_DEFAULTS, ...NO_INJECTION, ...(doc as Partial<TestDriverConfig>) };
}
