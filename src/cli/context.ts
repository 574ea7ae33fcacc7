import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ShoalClient } from '../client/index.js';
import { configPath, readConfig } from './config-file.js';
import { UsageError } from './errors.js';
import type { CliIo } from './io.js';
import { fieldText, jsonText, pickField } from './output.js';

/** Options every command accepts (defined on the program). */
export interface GlobalOptions {
  url?: string;
  ca?: string;
  token?: string;
  user?: string;
  json?: boolean;
  field?: string;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Reads a PEM certificate file; anything else is a usage error naming the file. */
export async function readCaFile(io: CliIo, file: string): Promise<string> {
  const path = resolve(io.cwd, file);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--ca ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${file}: not a PEM certificate (no "BEGIN CERTIFICATE")`);
  return pem;
}

/** A node URL from the command line, env or config: http(s)://host:port, else a usage error. */
export function checkNodeUrl(url: string, source: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    const guess = /^[A-Za-z0-9.[\]:-]+:\d+$/.test(url) ? ` (did you mean https://${url} ?)` : '';
    throw new UsageError(`${source} "${url}": expected a node URL like https://127.0.0.1:8001${guess}`);
  }
  return url;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/**
 * The client for this invocation: flags, then SHOAL_URL / SHOAL_TOKEN / SHOAL_USER / SHOAL_CA,
 * then the saved config. The saved token and CA are only used for the saved node's URL, so
 * `--url` to another node never sends it the saved token.
 */
export async function connect(io: CliIo, g: GlobalOptions): Promise<ShoalClient> {
  const path = configPath(io.env, io.cwd);
  const saved = await readConfig(path);
  if (saved?.warning) io.err(`warning: ${saved.warning}\n`);
  const url = g.url ?? io.env.SHOAL_URL ?? saved?.config.url;
  if (url === undefined || url === '') {
    throw new UsageError(`not logged in (no ${path}): run \`shoal login\` first, or pass --url and --token`);
  }
  checkNodeUrl(url, g.url !== undefined ? '--url' : io.env.SHOAL_URL !== undefined ? 'SHOAL_URL' : `url in ${path}`);
  const s = saved !== undefined && sameOrigin(saved.config.url, url) ? saved.config : undefined;
  const explicitToken = g.token ?? io.env.SHOAL_TOKEN;
  const token = explicitToken ?? s?.token;
  if (token === undefined || token === '') {
    throw new UsageError(`no token for ${url}: run \`shoal login --url ${url}\` first, or pass --token`);
  }
  const user = g.user ?? io.env.SHOAL_USER ?? (explicitToken === undefined ? s?.user : undefined);
  const caFile = g.ca ?? io.env.SHOAL_CA;
  const ca = caFile !== undefined ? await readCaFile(io, caFile) : s?.ca;
  return new ShoalClient({ url, token, ...(user !== undefined ? { user } : {}), ...(ca !== undefined ? { ca } : {}) });
}

export interface Emittable {
  /** the API's JSON, printed as is with --json */
  json: unknown;
  /** for lists: the items --field picks from (default: json itself) */
  items?: readonly unknown[];
  /** the readable form for people */
  human: () => string;
}

/** Prints a result: raw API JSON with --json, one field (per item) with --field, else the human form. */
export function emit(io: CliIo, cmd: Command, result: Emittable): void {
  const g = globals(cmd);
  if (g.json) {
    io.out(jsonText(result.json));
    return;
  }
  if (g.field !== undefined) {
    if (result.items !== undefined) {
      for (const item of result.items) io.out(fieldText(pickField(item, g.field)));
    } else {
      io.out(fieldText(pickField(result.json, g.field)));
    }
    return;
  }
  io.out(result.human());
}
