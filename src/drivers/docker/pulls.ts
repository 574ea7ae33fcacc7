import type Docker from 'dockerode';
import { DriverError, type DriverLogger } from '../../contract/index.js';
import { cancelledError, SharedWork } from '../shared/index.js';
import { engineMessage } from './engine.js';
import { registryAuth, type RegistrySettings } from './registry-config.js';
import type { RegistryRef } from './registry-ref.js';

/** How far a pull is: layers seen and finished, bytes downloaded of the layers' known sizes. */
export interface PullProgress {
  layers: number;
  done: number;
  bytes: number;
  total: number;
}

/** Told how far a pull is, at most once a second (a shared pull tells every waiter). */
export type PullListener = (ref: string, progress: PullProgress) => void;

interface PullMessage {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

const NOTIFY_EVERY_MS = 1_000;
const LOG_EVERY_MS = 5_000;
const MB = 1024 * 1024;

/** "2/5 layers, 12.3 of 40.1 MB" */
export function describeProgress(p: PullProgress): string {
  const mb = (n: number): string => (n / MB).toFixed(1);
  return `${p.done}/${p.layers} layers, ${mb(p.bytes)} of ${p.total > 0 ? mb(p.total) : '?'} MB`;
}

/** The registry's reason in plain words, followed by what the Engine said. */
export function pullFailure(ref: RegistryRef, reason: string): string {
  const r = reason.toLowerCase();
  let plain = 'the pull failed';
  if (/manifest unknown|not found|repository does not exist|name unknown/.test(r)) plain = 'the registry has no such image';
  else if (/unauthorized|authentication required|no basic auth credentials|denied|incorrect username or password|forbidden/.test(r))
    plain = 'the registry refused the credentials (or needs some)';
  else if (
    /connection refused|no such host|i\/o timeout|network is unreachable|connection reset|eof|server gave http response|tls|x509/.test(r)
  )
    plain = 'the registry cannot be reached';
  return `cannot pull ${ref.pullRef} from ${ref.registry}: ${plain} (${reason})`;
}

/**
 * Registry pulls through the Engine (`POST /images/create`), one at a time per reference: every
 * allocation needing the same image waits for one pull (each may leave; the pull stops when none
 * waits), each told how far it is. A pull is bounded by the config's pull_timeout. Credentials come
 * from the node config, go to the Engine in its auth header and nowhere else.
 */
export class ImagePuller {
  readonly #docker: Docker;
  readonly #settings: RegistrySettings;
  readonly #log: DriverLogger;
  readonly #work = new SharedWork<void>((key, signal) => cancelledError(`pull of ${key}`, signal));
  readonly #listeners = new Map<string, Set<PullListener>>();

  constructor(docker: Docker, settings: RegistrySettings, log: DriverLogger) {
    this.#docker = docker;
    this.#settings = settings;
    this.#log = log;
  }

  /** Pull `ref` (or join its pull in progress). Throws DriverError IMAGE with the registry's reason. */
  async pull(ref: RegistryRef, signal?: AbortSignal, onProgress?: PullListener): Promise<void> {
    const key = ref.pullRef;
    let set = this.#listeners.get(key);
    if (onProgress) {
      if (!set) this.#listeners.set(key, (set = new Set()));
      set.add(onProgress);
    }
    try {
      await this.#work.run(key, (s) => this.#pull(ref, s), signal);
    } finally {
      if (onProgress && set) {
        set.delete(onProgress);
        if (set.size === 0 && this.#listeners.get(key) === set) this.#listeners.delete(key);
      }
    }
  }

  /** Resolves when no pull is running (cancelled ones have finished winding down). */
  idle(): Promise<void> {
    return this.#work.idle();
  }

  async #pull(ref: RegistryRef, signal: AbortSignal): Promise<void> {
    const auth = await registryAuth(this.#settings, ref.registry);
    const timeout = AbortSignal.timeout(this.#settings.pullTimeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    const started = Date.now();
    const layers = new Map<string, { current: number; total: number; done: boolean }>();
    const progress = (): PullProgress => {
      let bytes = 0;
      let total = 0;
      let done = 0;
      for (const l of layers.values()) {
        bytes += l.current;
        total += l.total;
        if (l.done) done++;
      }
      return { layers: layers.size, done, bytes, total };
    };
    let lastNotify = 0;
    let lastLog = started;
    const notify = (force: boolean): void => {
      const now = Date.now();
      if (!force && now - lastNotify < NOTIFY_EVERY_MS) return;
      lastNotify = now;
      const p = progress();
      for (const l of this.#listeners.get(ref.pullRef) ?? []) l(ref.pullRef, p);
      if (now - lastLog >= LOG_EVERY_MS) {
        lastLog = now;
        this.#log.info({ image: ref.pullRef, ...p }, 'image pull progress');
      }
    };
    const onMessage = (m: PullMessage): void => {
      if (!m.id || m.error) return;
      const status = m.status ?? '';
      let l = layers.get(m.id);
      if (!l) {
        // the first line names the tag or digest itself, not a layer
        if (!/layer|waiting|already exists|downloading|pull complete|verifying|download complete|extracting/i.test(status)) return;
        layers.set(m.id, (l = { current: 0, total: 0, done: false }));
      }
      if (status === 'Downloading' && m.progressDetail) {
        l.current = m.progressDetail.current ?? l.current;
        l.total = m.progressDetail.total ?? l.total;
      } else if (status === 'Download complete' || status === 'Verifying Checksum') {
        if (l.total > 0) l.current = l.total;
      } else if (status === 'Pull complete' || status === 'Already exists') {
        l.done = true;
        if (l.total > 0) l.current = l.total;
      }
      notify(false);
    };
    this.#log.info({ image: ref.pullRef, registry: ref.registry, auth: auth !== undefined }, 'image pull started');
    try {
      const stream = await this.#docker.createImage(auth, {
        fromImage: ref.repository,
        tag: ref.digest || ref.tag,
        abortSignal: both,
      });
      await new Promise<void>((resolve, reject) => {
        this.#docker.modem.followProgress(
          stream,
          (err: Error | null, out: PullMessage[]) => {
            if (err) return reject(err);
            const bad = (out ?? []).find((m) => m.error !== undefined || m.errorDetail !== undefined);
            if (bad) reject(new Error(bad.errorDetail?.message ?? bad.error ?? 'unknown error'));
            else resolve();
          },
          onMessage,
        );
      });
    } catch (err) {
      if (signal.aborted) {
        this.#log.info({ image: ref.pullRef, ...progress() }, 'image pull cancelled: nobody waits for it');
        throw cancelledError(`pull of ${ref.pullRef}`, signal);
      }
      if (timeout.aborted) {
        const msg = `cannot pull ${ref.pullRef} from ${ref.registry}: timed out after ${this.#settings.pullTimeoutMs / 1000} s (pull_timeout)`;
        this.#log.warn({ image: ref.pullRef, ...progress() }, 'image pull timed out');
        throw new DriverError('IMAGE', msg, { field: 'options.image', cause: err });
      }
      // dockerode's "(HTTP code 500) server error - " is noise around the Engine's own words
      const reason = engineMessage(err)
        .replace(/^\(HTTP code \d+\)[^-]*- /, '')
        .trim();
      const msg = pullFailure(ref, reason);
      this.#log.warn({ image: ref.pullRef, err: msg }, 'image pull failed');
      throw new DriverError('IMAGE', msg, { field: 'options.image', cause: err });
    }
    notify(true);
    this.#log.info({ image: ref.pullRef, ...progress(), ms: Date.now() - started }, 'image pulled');
  }
}
