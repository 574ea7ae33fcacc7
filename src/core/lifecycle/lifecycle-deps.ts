import type { Logger } from 'pino';
import type { ApplicationRow, LabelRow, Store } from '../../store/store.js';
import type { CoreLimits, DriverInstance } from '../core-options.js';
import type { MetaIndex } from '../meta/meta-index.js';
import type { CoreMetrics } from '../metrics.js';

/** What the lifecycle's parts need from the core. */
export interface LifecycleDeps {
  store: Store;
  log: Logger;
  node: string;
  limits: CoreLimits;
  drivers: ReadonlyMap<string, DriverInstance>;
  meta: MetaIndex;
  metrics: CoreMetrics;
  label(uid: string): Promise<LabelRow>;
  /** the resource lifetime for an application (application ← label ← node default), ms or null */
  lifetimeMs(app: ApplicationRow, label: LabelRow): number | null;
  /** capacity was freed on this node: look for work */
  wakeScheduler(): void;
}

export const now = (): string => new Date().toISOString();
