import { dirname, relative } from 'node:path';
import type { Command } from 'commander';
import type { startNode as StartNodeFn } from '../../main/index.js';
import { CliFailure, EXIT, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';

type StartNodeOptions = Parameters<typeof StartNodeFn>[0];
type RunningNode = Awaited<ReturnType<typeof StartNodeFn>>;

interface ServeFlags {
  config?: string;
  dataDir?: string;
  api?: string;
  meta?: string;
  ssh?: string;
  db?: string;
  name?: string;
  tls: boolean;
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/;

/** Flags → startNode options: only what was given, so the config file decides the rest. */
export function serveOptions(flags: ServeFlags, tlsFromCli: boolean): StartNodeOptions {
  for (const [flag, value] of [
    ['--api', flags.api],
    ['--meta', flags.meta],
    ['--ssh', flags.ssh],
  ] as const) {
    if (value !== undefined && (!HOST_PORT.test(value) || Number(value.slice(value.lastIndexOf(':') + 1)) > 65535)) {
      throw new UsageError(`${flag} "${value}": expected HOST:PORT, e.g. 127.0.0.1:8001`);
    }
  }
  const opts: StartNodeOptions = {};
  if (flags.config !== undefined) opts.configPath = flags.config;
  if (flags.dataDir !== undefined) opts.dataDir = flags.dataDir;
  if (flags.api !== undefined) opts.api = flags.api;
  if (flags.meta !== undefined) opts.meta = flags.meta;
  if (flags.ssh !== undefined) opts.ssh = flags.ssh;
  if (flags.db !== undefined) opts.db = flags.db;
  if (flags.name !== undefined) opts.name = flags.name;
  if (tlsFromCli) opts.tls = flags.tls;
  return opts;
}

async function loadStartNode(): Promise<typeof StartNodeFn> {
  // loaded only for `serve`: the client verbs stay light and never load the server parts
  const mod = await import('../../main/index.js');
  return mod.startNode;
}

function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

/** A failed start as one clear line: a bad config is exit 2, anything else exit 1. */
export function startFailure(err: unknown): CliFailure {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; address?: unknown; port?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (e.name === 'ConfigError') return new CliFailure('CONFIG', message, EXIT.USAGE);
  if (e.code === 'EADDRINUSE') {
    const where = typeof e.address === 'string' && typeof e.port === 'number' ? `${e.address}:${e.port}` : 'the address';
    return new CliFailure(
      'ADDRESS_IN_USE',
      `${where} is already in use (another \`shoal serve\`?): choose another with --api / --meta / --ssh`,
    );
  }
  if (e.code === 'EACCES' || e.code === 'EPERM') return new CliFailure('PERMISSION', message);
  return new CliFailure('START_FAILED', message);
}

function loginHint(node: RunningNode, https: boolean, cwd: string): string {
  const parts = ['npx shoal login'];
  const dataDir = shown(dirname(node.adminTokenPath), cwd);
  if (dataDir !== 'shoal-data') parts.push(`--data-dir ${dataDir}`);
  if (!https || !node.apiUrl.startsWith('https://127.0.0.1:8001')) parts.push(`--url ${node.apiUrl}`);
  return parts.join(' ');
}

export function registerServe(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run a Shoal node here (API, Meta API, drivers, embedded store) until Ctrl-C')
    .option('-c, --config <file>', 'YAML config file (shoal.yml); flags override it')
    .option('--data-dir <dir>', 'where the node keeps its database, TLS files and admin token (default ./shoal-data)')
    .option('--api <host:port>', 'API listener (default 127.0.0.1:8001)')
    .option('--meta <host:port>', "the Meta API's own plain-HTTP listener (default 127.0.0.1:8002)")
    .option('--ssh <host:port>', 'the SSH gate into environments (default 127.0.0.1:8022; config `ssh: false` turns it off)')
    .option('--db <url>', 'database: sqlite path (default DATA_DIR/shoal.db) or postgres://… for a cluster')
    .option('--name <node>', 'node name (default the host name)')
    .option('--no-tls', 'serve the API over plain HTTP (default: TLS with an auto-generated CA)')
    .action(async (flags: ServeFlags, cmd: Command) => {
      const opts = serveOptions(flags, cmd.getOptionValueSource('tls') === 'cli');
      const startNode = await loadStartNode();
      const node = await startNode(opts).catch((err: unknown) => {
        throw startFailure(err);
      });
      // startNode prints where the API, Meta API, CA and admin token are; add what to do next
      const https = node.apiUrl.startsWith('https:');
      io.err(`log in from another terminal in this directory: ${loginHint(node, https, io.cwd)}\nstop with Ctrl-C\n`);
      let stopping = false;
      const onSignal = (signal: string): void => {
        if (stopping) {
          io.err(`\n${signal} again: exiting without waiting\n`);
          process.exit(1);
        }
        stopping = true;
        io.err(`\n${signal}: stopping the node…\n`);
        node.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            io.err(`error: STOP: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
    });
}
