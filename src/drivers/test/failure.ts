import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../../contract/index.js';
import type { InjectedCall, InjectionKey, InjectionSettings } from './config.js';

/** Where an injection setting came from, for the error message. */
export type InjectionSource = 'node config' | 'label options';

/** The settings in force for one call: the node config, overridden by the label's options. */
export interface EffectiveInjection {
  settings: InjectionSettings;
  fromLabel: ReadonlySet<InjectionKey>;
}

export function effectiveInjection(node: InjectionSettings, label: Partial<Record<InjectionKey, number>> | undefined): EffectiveInjection {
  if (!label || Object.keys(label).length === 0) return { settings: node, fromLabel: new Set() };
  return { settings: { ...node, ...label }, fromLabel: new Set(Object.keys(label) as InjectionKey[]) };
}

/** true when a `fail_*` value fires for one call: 0 never, ≥ 100 always, else that percent. */
export function failureFires(value: number, random: () => number): boolean {
  if (value <= 0) return false;
  if (value >= 100) return true;
  return random() * 100 < value;
}

/**
 * Applies the injection for `call`: waits `delay_<call>` ms (real time), then throws DriverError
 * INJECTED when `fail_<call>` fires, saying which setting fired and where it came from.
 */
export async function inject(call: InjectedCall, injection: EffectiveInjection, random: () => number): Promise<void> {
  const delayKey = `delay_${call}` as const;
  const delay = injection.settings[delayKey];
  if (delay > 0) await sleep(delay);
  const failKey = `fail_${call}` as const;
  const fail = injection.settings[failKey];
  if (failureFires(fail, random)) {
    const how = fail >= 100 ? 'always' : `${fail}% of calls`;
    const from: InjectionSource = injection.fromLabel.has(failKey) ? 'label options' : 'node config';
    throw new DriverError('INJECTED', `injected failure: ${failKey}=${fail} (${how}, from the ${from}) fired for ${call}`);
  }
}
