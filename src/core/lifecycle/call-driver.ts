import type { Counter } from 'prom-client';
import { DriverError } from '../../contract/index.js';

/** A driver's reason, for state descriptions and task results (never metadata). */
export function reasonOf(err: unknown): string {
  if (err instanceof DriverError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A driver call that did not answer in time. */
export class DriverTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`);
    this.name = 'DriverTimeout';
  }
}

/** Resolves like `p`, or rejects with DriverTimeout after `ms` (p keeps running). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DriverTimeout(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export interface DriverCall<T> {
  /** names the call in a timeout message: "allocate on docker" */
  what: string;
  timeoutMs: number;
  /** the driver call; it gets `abort`'s signal (or one that never aborts) */
  run(signal: AbortSignal): T | Promise<T>;
  /** aborted with `timeoutReason` when the call times out (others may abort it too) */
  abort?: AbortController;
  timeoutReason?: string;
  /** counts the answer: `success`, or `failureOutcome` (default `failure`) */
  metric?: { counter: Counter<'driver' | 'outcome'>; driver: string; failureOutcome?: string };
  /** a call that timed out may still finish later: gets what it made (e.g. to remove it) */
  onLate?: (value: T) => void;
}

export type DriverOutcome<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      error: unknown;
      /** for state descriptions and logs (the driver's code and message, never metadata) */
      reason: string;
      timedOut: boolean;
    };

/**
 * The one way the lifecycle calls a driver: with a timeout, an AbortSignal, its metric, and its
 * error turned into a reason. Never throws (also not when the driver throws synchronously).
 */
export async function callDriver<T>(call: DriverCall<T>): Promise<DriverOutcome<T>> {
  const signal = call.abort?.signal ?? new AbortController().signal;
  const p = Promise.resolve().then(() => call.run(signal));
  let outcome: DriverOutcome<T>;
  try {
    outcome = { ok: true, value: await withTimeout(p, call.timeoutMs, call.what) };
  } catch (error) {
    const timedOut = error instanceof DriverTimeout;
    outcome = { ok: false, error, reason: reasonOf(error), timedOut };
    if (timedOut) {
      call.abort?.abort(new Error(call.timeoutReason ?? `${call.what} timed out`));
      const onLate = call.onLate;
      if (onLate) void p.then(onLate, () => {});
    }
  }
  const m = call.metric;
  if (m) m.counter.inc({ driver: m.driver, outcome: outcome.ok ? 'success' : (m.failureOutcome ?? 'failure') });
  return outcome;
}
