import { readFile } from 'node:fs/promises';
import { hostname, cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseProtection, PROTECTION_KEYS, type ProtectionSettings } from './config-protection.js';
import { DurationError, parseDuration } from '../lib/durations.js';
import { DEFAULT_MAX_IMAGE_BYTES, parseHostRule, parseSize } from '../drivers/shared/url-policy.js';

/** Flags of `shoal serve`; each overrides the config file. */
export interface ServeOptions {
  configPath?: string;
  dataDir?: string;
  /** HOST:PORT of the API */
  api?: string;
  /** HOST:PORT of the Meta API's own plain-HTTP listener */
  meta?: string;
  /** HOST:PORT of the SSH gate */
  ssh?: string;
  /** sqlite path/URL or postgres:// URL */
  db?: string;
  name?: string;
  /** false = plain HTTP API (--no-tls) */
  tls?: boolean;
}

export interface HostPort {
  host: string;
  port: number;
}

/** The node's whole configuration, after defaults and flags. */
export interface NodeConfig extends ProtectionSettings {
  name: string;
  dataDir: string;
  db: string;
  api: HostPort;
  meta: HostPort;
  /** the SSH gate's listener; null = no gate (config `ssh: false`) */
  ssh: HostPort | null;
  tls: { enabled: boolean; cert?: string; key?: string };
  capacity: { cpu: number; ram: number; cpu_overbook: number; ram_overbook: number };
  tags: Record<string, string>;
  /** default lifetime of a resource when neither label nor application sets one */
  lifetime?: string;
  /** driver instance → its config; undefined = auto-detect every built-in driver */
  drivers?: Record<string, Record<string, unknown> | false>;
  /** on SIGTERM/SIGINT, wait up to this long for the node's resources to end (0 = don't wait; they are reconciled at the next start) */
  shutdownWait?: string;
  /** largest request body, bytes */
  bodyLimit: number;
  logLevel: string;
  /** where image/kernel URLs may point (config `fetch`) */
  fetch: FetchConfig;
  /** heartbeat interval, dead-node mark and lost-node mark, ms (config heartbeat, node_dead_after, node_lost_after) */
  nodeTimings: NodeTimings;
  /** below this many free bytes on the data dir's file system the node takes no new work (0 = never) */
  minFreeDiskBytes: number;
  /** how often every ALLOCATED resource is checked with its driver, ms (config resource_check; 0 = never) */
  resourceCheckMs: number;
  /** finished applications older than this are deleted with their history, ms (config `retention`, default 30d) */
  retentionMs: number;
}

/** How often a node beats, and when a silent one is dead (its ELECTED work re-elected) and lost (its work ended). */
export interface NodeTimings {
  heartbeatMs: number;
  deadAfterMs: number;
  nodeLostAfterMs: number;
}

const NODE_TIMING_DEFAULTS = { heartbeat: '5s', node_dead_after: '30s', node_lost_after: '5m' } as const;

/** heartbeat < node_dead_after < node_lost_after, each a duration. */
function parseNodeTimings(raw: Record<string, unknown>): NodeTimings {
  const ms = (key: keyof typeof NODE_TIMING_DEFAULTS): number => {
    const given = raw[key];
    const v = typeof given === 'number' ? String(given) : (str(raw, key) ?? NODE_TIMING_DEFAULTS[key]);
    checkConfigDuration(v, key, false);
    return parseDuration(v);
  };
  const t = { heartbeatMs: ms('heartbeat'), deadAfterMs: ms('node_dead_after'), nodeLostAfterMs: ms('node_lost_after') };
  if (t.deadAfterMs <= t.heartbeatMs) throw new ConfigError('node_dead_after', 'must be longer than heartbeat');
  if (t.nodeLostAfterMs <= t.deadAfterMs) {
    throw new ConfigError('node_lost_after', `must be longer than node_dead_after (${t.deadAfterMs / 1000} s)`);
  }
  return t;
}

/** The `fetch` section: what URL fields of labels may reach. */
export interface FetchConfig {
  /** absolute directories file:// URLs may name, besides DATA_DIR/import (always allowed) */
  allowFiles: string[];
  /** host names, IPs or CIDR networks http(s) may reach although they are loopback/private/link-local/the node's own */
  allowHosts: string[];
  /** largest file one URL may deliver, bytes */
  maxImageBytes: number;
}

export class ConfigError extends Error {
  constructor(field: string, problem: string) {
    super(`config ${field}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** A duration setting (src/lib/durations.ts grammar), kept as text; throws ConfigError naming `field`. */
function checkConfigDuration(value: string, field: string, allowZero: boolean): void {
  try {
    parseDuration(value, { allowZero });
  } catch (e) {
    if (e instanceof DurationError) throw new ConfigError(field, e.message);
    throw e;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseHostPort(value: string, field: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(field, `must be HOST:PORT (e.g. 127.0.0.1:8001), got "${value}"`);
  return { host: (m[1] ?? m[2])!, port };
}

function str(raw: Record<string, unknown>, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConfigError(key, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function num(raw: Record<string, unknown>, key: string, field: string, min: number): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === 'auto') return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new ConfigError(field, `must be a number ≥ ${min} (or "auto"), got ${JSON.stringify(v)}`);
  }
  return v;
}

const KNOWN_KEYS = new Set([
  'name',
  'data_dir',
  'db',
  'api',
  'meta',
  'ssh',
  'tls',
  'capacity',
  'tags',
  'lifetime',
  'drivers',
  'body_limit',
  'log_level',
  'shutdown_wait',
  'fetch',
  'heartbeat',
  'node_dead_after',
  'node_lost_after',
  'min_free_disk',
  'resource_check',
  'retention',
]);
for (const k of PROTECTION_KEYS) KNOWN_KEYS.add(k);

const FETCH_KEYS = ['allow_files', 'allow_hosts', 'max_image_size'];

/** `ssh: HOST:PORT` (default 127.0.0.1:8022) or `ssh: false`; the --ssh flag wins. */
function parseSshListen(flag: string | undefined, value: unknown): HostPort | null {
  if (flag !== undefined) return parseHostPort(flag, 'ssh');
  if (value === false) return null;
  if (value === undefined || value === null) return parseHostPort('127.0.0.1:8022', 'ssh');
  if (typeof value !== 'string') throw new ConfigError('ssh', 'must be HOST:PORT (the SSH gate) or false (no gate)');
  return parseHostPort(value, 'ssh');
}

/** The `fetch` section; relative allow_files are taken from the working directory (like data_dir). */
export function parseFetchConfig(value: unknown): FetchConfig {
  const raw = value === undefined || value === null ? {} : value;
  if (!isRecord(raw)) throw new ConfigError('fetch', 'must be a mapping {allow_files, allow_hosts, max_image_size}');
  for (const k of Object.keys(raw)) {
    if (!FETCH_KEYS.includes(k)) throw new ConfigError(`fetch.${k}`, `unknown setting (known: ${FETCH_KEYS.join(', ')})`);
  }
  const list = (key: string): string[] => {
    const v = raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.trim() === '')) {
      throw new ConfigError(`fetch.${key}`, 'must be a list of strings');
    }
    return v as string[];
  };
  const allowFiles = list('allow_files').map((d) => {
    const path = resolve(d);
    if (path === '/') throw new ConfigError('fetch.allow_files', 'must not allow the whole file system ("/")');
    return path;
  });
  const allowHosts = list('allow_hosts');
  for (const h of allowHosts) {
    try {
      parseHostRule(h);
    } catch (err) {
      throw new ConfigError('fetch.allow_hosts', (err as Error).message);
    }
  }
  let maxImageBytes = DEFAULT_MAX_IMAGE_BYTES;
  if (raw.max_image_size !== undefined && raw.max_image_size !== null) {
    if (typeof raw.max_image_size !== 'string' && typeof raw.max_image_size !== 'number') {
      throw new ConfigError('fetch.max_image_size', 'must be a size like "16GB" or "512MB"');
    }
    try {
      maxImageBytes = parseSize(raw.max_image_size);
    } catch (err) {
      throw new ConfigError('fetch.max_image_size', (err as Error).message);
    }
  }
  return { allowFiles, allowHosts, maxImageBytes };
}

/** `resource_check`: a duration (default 1m), or 0 to never check running resources. */
function parseResourceCheck(v: unknown): number {
  if (v === undefined || v === null) return 60_000;
  if (v === 0 || v === '0') return 0;
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : undefined;
  if (text === undefined) throw new ConfigError('resource_check', 'must be a duration like "1m", or 0');
  checkConfigDuration(text, 'resource_check', false);
  return parseDuration(text);
}

/** `min_free_disk`: a size like "256MB" (default), or 0 to never stop for lack of space. */
function parseMinFreeDisk(v: unknown): number {
  if (v === undefined || v === null) return 256 * 1024 * 1024;
  if (v === 0 || v === '0') return 0;
  if (typeof v !== 'string' && typeof v !== 'number') throw new ConfigError('min_free_disk', 'must be a size like "256MB" or 0');
  try {
    return parseSize(v);
  } catch (err) {
    throw new ConfigError('min_free_disk', (err as Error).message);
  }
}

/** Reads the YAML/JSON config file (if any), applies defaults, then the flags. */
export async function loadConfig(opts: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<NodeConfig> {
  let raw: Record<string, unknown> = {};
  if (opts.configPath) {
    let text: string;
    try {
      text = await readFile(opts.configPath, 'utf8');
    } catch (err) {
      throw new ConfigError('file', `cannot read ${opts.configPath}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError('file', `${opts.configPath} is not valid YAML: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined && !isRecord(doc)) throw new ConfigError('file', 'must be a mapping of settings');
    raw = (doc as Record<string, unknown> | null) ?? {};
    for (const k of Object.keys(raw)) {
      if (!KNOWN_KEYS.has(k)) throw new ConfigError(k, `unknown setting (known: ${[...KNOWN_KEYS].join(', ')})`);
    }
  }

  const dataDir = resolve(opts.dataDir ?? str(raw, 'data_dir') ?? './shoal-data');
  const tlsRaw = raw.tls === undefined ? {} : raw.tls;
  if (typeof tlsRaw !== 'boolean' && !isRecord(tlsRaw)) throw new ConfigError('tls', 'must be true, false or {enabled, cert, key}');
  const tlsRec = isRecord(tlsRaw) ? tlsRaw : { enabled: tlsRaw };
  const tlsEnabled = opts.tls ?? (tlsRec.enabled === undefined ? true : tlsRec.enabled === true);
  const tlsCert = str(tlsRec, 'cert');
  const tlsKey = str(tlsRec, 'key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new ConfigError('tls', 'cert and key go together');

  const capRaw = raw.capacity === undefined ? {} : raw.capacity;
  if (!isRecord(capRaw)) throw new ConfigError('capacity', 'must be a mapping {cpu, ram, cpu_overbook, ram_overbook}');
  const capacity = {
    cpu: num(capRaw, 'cpu', 'capacity.cpu', 1) ?? cpus().length,
    ram: num(capRaw, 'ram', 'capacity.ram', 1) ?? Math.max(1, Math.floor(totalmem() / 2 ** 30)),
    cpu_overbook: num(capRaw, 'cpu_overbook', 'capacity.cpu_overbook', 1) ?? 1,
    ram_overbook: num(capRaw, 'ram_overbook', 'capacity.ram_overbook', 1) ?? 1,
  };

  const tagsRaw = raw.tags === undefined ? {} : raw.tags;
  if (!isRecord(tagsRaw)) throw new ConfigError('tags', 'must be a mapping of name → value');
  const tags: Record<string, string> = { os: process.platform, arch: process.arch === 'x64' ? 'x86_64' : process.arch };
  for (const [k, v] of Object.entries(tagsRaw)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new ConfigError(`tags.${k}`, 'must be a string');
    tags[k] = String(v);
  }

  let drivers: NodeConfig['drivers'];
  if (raw.drivers !== undefined && raw.drivers !== null) {
    if (!isRecord(raw.drivers)) throw new ConfigError('drivers', 'must be a mapping of instance name → driver config (or false)');
    drivers = {};
    for (const [k, v] of Object.entries(raw.drivers)) {
      if (v === false) drivers[k] = false;
      else if (v === null || v === true) drivers[k] = {};
      else if (isRecord(v)) drivers[k] = v;
      else throw new ConfigError(`drivers.${k}`, 'must be a mapping of settings, true, or false');
    }
  }

  const lifetime = str(raw, 'lifetime');
  if (lifetime !== undefined) checkConfigDuration(lifetime, 'lifetime', false);
  const shutdownWait = str(raw, 'shutdown_wait');
  if (shutdownWait !== undefined) checkConfigDuration(shutdownWait, 'shutdown_wait', true);
  const retentionRaw = typeof raw.retention === 'number' ? String(raw.retention) : (str(raw, 'retention') ?? '30d');
  checkConfigDuration(retentionRaw, 'retention', false);
  const name = opts.name ?? str(raw, 'name') ?? hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new ConfigError('name', `"${name}" must be letters, digits, ".", "_" or "-"`);

  return {
    name,
    dataDir,
    db: opts.db ?? str(raw, 'db') ?? `sqlite:${resolve(dataDir, 'shoal.db')}`,
    api: parseHostPort(opts.api ?? str(raw, 'api') ?? '127.0.0.1:8001', 'api'),
    meta: parseHostPort(opts.meta ?? str(raw, 'meta') ?? '127.0.0.1:8002', 'meta'),
    ssh: parseSshListen(opts.ssh, raw.ssh),
    tls: { enabled: tlsEnabled, ...(tlsCert ? { cert: tlsCert, key: tlsKey } : {}) },
    capacity,
    tags,
    ...(lifetime ? { lifetime } : {}),
    ...(shutdownWait ? { shutdownWait } : {}),
    ...(drivers ? { drivers } : {}),
    bodyLimit: num(raw, 'body_limit', 'body_limit', 1024) ?? 1024 * 1024,
    logLevel: env.SHOAL_LOG_LEVEL ?? str(raw, 'log_level') ?? 'info',
    ...parseProtection(raw, (field, problem) => new ConfigError(field, problem)),
    fetch: parseFetchConfig(raw.fetch),
    nodeTimings: parseNodeTimings(raw),
    minFreeDiskBytes: parseMinFreeDisk(raw.min_free_disk),
    resourceCheckMs: parseResourceCheck(raw.resource_check),
    retentionMs: parseDuration(retentionRaw),
  };
}
