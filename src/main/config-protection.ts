import type { ConnectionLimits } from '../api/connection-guard.js';
import type { MetaRateLimit } from '../api/meta/meta-rate-limit.js';
import type { MetadataLimits } from '../core/metadata-limits.js';
import { DurationError, parseDuration } from '../lib/durations.js';

/**
 * The node settings that bound what callers can make it do: input sizes, connections, event
 * streams, Meta API rate, metrics access and login failures (README "Configuration").
 */
export interface ProtectionSettings {
  limits: { metadata: MetadataLimits; bodyDepth: number };
  connections: ConnectionLimits;
  events: { maxStreamsPerUser: number };
  metaRate: MetaRateLimit;
  /** token: a Bearer token that may read /metrics (besides admins); listen: an extra listener serving /metrics without credentials */
  metrics: { token?: string; listen?: string };
  login: { maxFailuresPerPrefix: number; maxFailuresPerUser: number; windowMs: number };
}

export const PROTECTION_KEYS = ['limits', 'connections', 'events', 'meta_rate', 'metrics', 'login'] as const;

/** What the other config parser gives us: its error type, so every message has one shape. */
type Fail = (field: string, problem: string) => Error;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function section(raw: Record<string, unknown>, key: string, known: readonly string[], fail: Fail): Record<string, unknown> {
  const v = raw[key];
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw fail(key, `must be a mapping {${known.join(', ')}}`);
  for (const k of Object.keys(v)) if (!known.includes(k)) throw fail(`${key}.${k}`, `unknown setting (known: ${known.join(', ')})`);
  return v;
}

function int(rec: Record<string, unknown>, key: string, field: string, min: number, max: number, dflt: number, fail: Fail): number {
  const v = rec[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw fail(field, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function positive(rec: Record<string, unknown>, key: string, field: string, dflt: number, fail: Fail): number {
  const v = rec[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw fail(field, `must be a number > 0, got ${JSON.stringify(v)}`);
  return v;
}

/** A duration text (src/lib/durations.ts grammar) greater than 0, in ms. */
function duration(rec: Record<string, unknown>, key: string, field: string, dflt: number, fail: Fail): number {
  const v = rec[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string') {
    try {
      return parseDuration(v);
    } catch (e) {
      if (!(e instanceof DurationError)) throw e;
    }
  }
  throw fail(field, `must be a duration like 500ms, 10s, 5m (greater than 0); got ${JSON.stringify(v)}`);
}

/** Reads the protection sections of the config file; every one is optional (defaults in README). */
export function parseProtection(raw: Record<string, unknown>, fail: Fail): ProtectionSettings {
  const limits = section(raw, 'limits', ['metadata', 'body_depth'], fail);
  const md = section(limits, 'metadata', ['depth', 'keys', 'key_length', 'bytes'], (f, p) => fail(`limits.${f}`, p));
  const conn = section(raw, 'connections', ['max', 'per_address', 'header_timeout', 'idle_timeout', 'keep_alive', 'tls_handshake'], fail);
  const events = section(raw, 'events', ['max_streams_per_user'], fail);
  const rate = section(raw, 'meta_rate', ['per_second', 'burst'], fail);
  const metrics = section(raw, 'metrics', ['token', 'listen'], fail);
  const login = section(raw, 'login', ['max_failures_per_prefix', 'max_failures_per_user', 'window'], fail);

  const token = metrics.token;
  if (token !== undefined && (typeof token !== 'string' || token.length < 16))
    throw fail('metrics.token', 'must be a string of at least 16 characters');
  const listen = metrics.listen;
  if (listen !== undefined && typeof listen !== 'string') throw fail('metrics.listen', 'must be HOST:PORT');

  return {
    limits: {
      metadata: {
        depth: int(md, 'depth', 'limits.metadata.depth', 1, 64, 16, fail),
        keys: int(md, 'keys', 'limits.metadata.keys', 1, 100_000, 1000, fail),
        keyLength: int(md, 'key_length', 'limits.metadata.key_length', 1, 4096, 128, fail),
        bytes: int(md, 'bytes', 'limits.metadata.bytes', 2, 16 * 1024 * 1024, 64 * 1024, fail),
      },
      bodyDepth: int(limits, 'body_depth', 'limits.body_depth', 8, 90, 64, fail),
    },
    connections: {
      max: int(conn, 'max', 'connections.max', 1, 1_000_000, 4096, fail),
      perAddress: int(conn, 'per_address', 'connections.per_address', 1, 1_000_000, 128, fail),
      headerTimeoutMs: duration(conn, 'header_timeout', 'connections.header_timeout', 10_000, fail),
      idleTimeoutMs: duration(conn, 'idle_timeout', 'connections.idle_timeout', 60_000, fail),
      keepAliveMs: duration(conn, 'keep_alive', 'connections.keep_alive', 5_000, fail),
      tlsHandshakeMs: duration(conn, 'tls_handshake', 'connections.tls_handshake', 10_000, fail),
    },
    events: { maxStreamsPerUser: int(events, 'max_streams_per_user', 'events.max_streams_per_user', 1, 10_000, 8, fail) },
    metaRate: {
      perSecond: positive(rate, 'per_second', 'meta_rate.per_second', 20, fail),
      burst: int(rate, 'burst', 'meta_rate.burst', 1, 1_000_000, 40, fail),
    },
    metrics: { ...(typeof token === 'string' ? { token } : {}), ...(typeof listen === 'string' ? { listen } : {}) },
    login: {
      maxFailuresPerPrefix: int(login, 'max_failures_per_prefix', 'login.max_failures_per_prefix', 1, 1_000_000, 20, fail),
      maxFailuresPerUser: int(login, 'max_failures_per_user', 'login.max_failures_per_user', 1, 1_000_000, 10, fail),
      windowMs: duration(login, 'window', 'login.window', 60_000, fail),
    },
  };
}
