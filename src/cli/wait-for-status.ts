import { ShoalConnectionError, type ShoalClient } from '../client/index.js';
import type { ApplicationState, ApplicationStatus } from '../model/index.js';
import { CliFailure, EXIT } from './errors.js';
import type { CliIo } from './io.js';
import { formatDuration } from './parse-args.js';

export interface WaitSpec {
  client: ShoalClient;
  io: CliIo;
  /** Starts the operation once the event stream is connected; returns the application uid and, if known, its state. */
  start(): Promise<{ uid: string; state?: Pick<ApplicationState, 'status' | 'description'> }>;
  /** The status that means success. */
  success: ApplicationStatus;
  /** Statuses that mean it will never reach success. */
  failure: readonly ApplicationStatus[];
  timeoutMs: number;
  /** Attempts to open the event stream before giving up (nothing is started then). Default 4 (about 2 s). */
  connectAttempts?: number;
  /** Each status seen, in order (for the progress line). */
  onStatus?(state: { uid: string; status: ApplicationStatus; description: string }): void;
}

export interface WaitOutcome {
  kind: 'success' | 'failure' | 'timeout' | 'interrupted';
  uid: string;
  /** last status seen ('' when none yet) */
  status: ApplicationStatus | '';
  description: string;
  elapsedMs: number;
}

/** Attempts at the first connection: 250 + 500 + 1000 ms of back-off, then a clear UNREACHABLE. */
export const CONNECT_ATTEMPTS = 4;

/**
 * Follows an application through GET /events (no polling) until it reaches `success`, one of
 * `failure`, the timeout, or Ctrl-C. The stream is connected BEFORE the operation starts, so no
 * state change can slip between the two; after a reconnect the current state is read once to
 * cover any gap. Events of other applications are skipped.
 */
export async function waitForStatus(spec: WaitSpec): Promise<WaitOutcome> {
  const started = Date.now();
  const abort = new AbortController();
  let kind: WaitOutcome['kind'] | undefined;
  let uid = '';
  let status: ApplicationStatus | '' = '';
  let description = '';
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  // read through a function: `kind` changes in callbacks, which TypeScript's narrowing cannot see
  const outcome = (): WaitOutcome['kind'] | undefined => kind;

  const finish = (k: WaitOutcome['kind']): void => {
    if (kind !== undefined) return;
    kind = k;
    abort.abort();
    settle();
  };
  const consider = (s: { status: ApplicationStatus; description: string }): void => {
    if (kind !== undefined) return;
    if (s.status !== status || s.description !== description) {
      status = s.status;
      description = s.description;
      spec.onStatus?.({ uid, status: s.status, description: s.description });
    }
    if (s.status === spec.success) finish('success');
    else if (spec.failure.includes(s.status)) finish('failure');
  };
  const refresh = async (): Promise<void> => {
    try {
      const s = await spec.client.getState(uid, { signal: abort.signal });
      // only a decisive state is taken from a read: older events may still be queued behind it
      if (s.status === spec.success || spec.failure.includes(s.status)) consider(s);
    } catch {
      // the stream (or the timeout) decides; a failed read changes nothing
    }
  };

  const timer = setTimeout(() => finish('timeout'), spec.timeoutMs);
  const unsubscribe = spec.io.onInterrupt(() => finish('interrupted'));
  const attempts = spec.connectAttempts ?? CONNECT_ATTEMPTS;
  const stream = spec.client.events({
    signal: abort.signal,
    maxInitialFailures: attempts,
    onConnect: ({ reconnect }) => {
      if (reconnect && uid !== '') void refresh();
    },
    // say what is going on while nothing else moves (a down node, a dropped stream)
    onDisconnect: ({ error, delayMs, everConnected, failures }) => {
      if (kind !== undefined) return;
      const why = error !== undefined ? `: ${error.message}` : '';
      spec.io.err(
        everConnected
          ? `(lost the event stream of ${spec.client.url}${why}; reconnecting in ${delayMs} ms)\n`
          : `(cannot open the event stream of ${spec.client.url}${why};` +
              ` attempt ${failures} of ${attempts}, trying again in ${delayMs} ms)\n`,
      );
    },
  });
  try {
    try {
      await Promise.race([stream.connected(), settled]);
    } catch (err) {
      // the stream gave up before connecting; a timeout or Ctrl-C that closed it is reported below
      if (outcome() === undefined) {
        if (err instanceof ShoalConnectionError && err.code === 'UNREACHABLE') {
          throw new CliFailure('UNREACHABLE', `${err.message}; nothing was started`);
        }
        throw err;
      }
    }
    if (outcome() !== undefined) {
      if (outcome() === 'timeout') {
        throw new CliFailure(
          'TIMEOUT',
          `the event stream of ${spec.client.url} did not connect within ${formatDuration(spec.timeoutMs)}; nothing was started`,
        );
      }
      throw new CliFailure('INTERRUPTED', 'interrupted; nothing was started', EXIT.INTERRUPTED);
    }
    // not aborted by the timeout: once sent, the request's answer (the uid) is worth having
    const first = await spec.start();
    uid = first.uid;
    if (first.state !== undefined) consider(first.state);
    // one read in case the state moved on before the stream saw this application
    if (outcome() === undefined) void refresh();
    const follow = (async () => {
      for await (const event of stream) {
        if (event.application_uid === uid) consider(event);
        if (outcome() !== undefined) break;
      }
    })();
    let lost: unknown;
    await Promise.race([settled, follow.catch((err: unknown) => (lost = err))]);
    if (outcome() === undefined) {
      // the stream ended for good (e.g. gave up reconnecting): say so, naming the application
      const why = lost instanceof Error ? `: ${lost.message}` : '';
      throw new CliFailure(
        'UNREACHABLE',
        `lost the event stream of ${spec.client.url} while waiting for application ${uid} (last seen ${status || 'unknown'})${why}`,
      );
    }
  } finally {
    clearTimeout(timer);
    unsubscribe();
    stream.close();
    abort.abort();
  }
  const k = outcome();
  if (k === undefined) throw new CliFailure('INTERNAL', 'the wait ended without an outcome');
  return { kind: k, uid, status, description, elapsedMs: Date.now() - started };
}
