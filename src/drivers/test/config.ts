import { parseConfigDocument } from '../shared/index.js';
import { DriverError, invalidConfig } from '../../contract/index.js';

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

export const NO_INJECTION: InjectionSettings = Object.freeze(
  Object.fromEntries(INJECTION_KEYS.map((k) => [k, 0])) as InjectionSettings,
);

type Invalid = (field: string, problem: string) => DriverError;

function wholeNumber(value: unknown, field: string, min: number, max: number, invalid: Invalid): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalid(field, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  if (value < min || value > max) throw invalid(field, `must be from ${min} to ${max}, got ${value}`);
  return value;
}

/** Checks one fail_/delay_ value; `field` is its path for messages (`options.fail_allocate`). */
export function parseInjectionValue(key: InjectionKey, value: unknown, field: string, invalid: Invalid): number {
  return key.startsWith('fail_')
    ? wholeNumber(value, field, 0, FAIL_MAX, invalid)
    : wholeNumber(value, field, 0, DELAY_MAX_MS, invalid);
}

export function isInjectionKey(key: string): key is InjectionKey {
  return (INJECTION_KEYS as readonly string[]).includes(key);
}

/** Parses the node-side config (prepare); "" means all defaults. Throws DriverError INVALID_CONFIG naming the key. */
export function parseConfig(config: string): TestDriverConfig {
  const doc = parseConfigDocument(config);
  const out: TestDriverConfig = { ...CAPACITY_DEFAULTS, ...NO_INJECTION };
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'cpu' || key === 'ram') {
      out[key] = wholeNumber(value, key, 1, CAPACITY_MAX[key], invalidConfig);
    } else if (isInjectionKey(key)) {
      out[key] = parseInjectionValue(key, value, key, invalidConfig);
    } else {
      throw invalidConfig(key, `unknown key (known: cpu, ram, ${INJECTION_KEYS.join(', ')})`);
    }
  }
  return out;
}
