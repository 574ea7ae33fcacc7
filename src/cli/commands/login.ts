import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ShoalClient } from '../../client/index.js';
import { configPath, readConfig, removeConfig, writeConfig, type CliConfig } from '../config-file.js';
import { checkNodeUrl, emit, globals, readCaFile } from '../context.js';
import { UsageError } from '../errors.js';
import { readStream, type CliIo } from '../io.js';
import { formatKeyValues } from '../output.js';
import { pathExists } from '../../lib/fs.js';

export const DEFAULT_URL = 'https://127.0.0.1:8001';

interface LoginFlags {
  tokenFile?: string;
  dataDir?: string;
}

async function readTokenFile(io: CliIo, file: string): Promise<string> {
  let text: string;
  if (file === '-') {
    text = await readStream(io.stdin, 64 * 1024);
  } else {
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (err) {
      throw new UsageError(`--token-file ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) throw new UsageError(`--token-file ${file}: expected one token on one line`);
  return token;
}

function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') ? `./${rel}` : path;
}

/**
 * Where login takes each part from: flags, then the environment, then (same machine as
 * `shoal serve`) DATA_DIR/admin.token and DATA_DIR/tls/ca.crt.
 */
export async function resolveLogin(
  io: CliIo,
  g: ReturnType<typeof globals>,
  flags: LoginFlags,
  savedUrl: string | undefined,
): Promise<{ config: CliConfig; notes: string[] }> {
  const notes: string[] = [];
  if (g.token !== undefined && flags.tokenFile !== undefined) throw new UsageError('give either --token or --token-file, not both');
  const url = checkNodeUrl(
    g.url ?? io.env.SHOAL_URL ?? savedUrl ?? DEFAULT_URL,
    g.url !== undefined ? '--url' : io.env.SHOAL_URL !== undefined ? 'SHOAL_URL' : 'url',
  );
  const dataDir = resolve(io.cwd, flags.dataDir ?? 'shoal-data');
  let token = g.token ?? (flags.tokenFile !== undefined ? await readTokenFile(io, flags.tokenFile) : io.env.SHOAL_TOKEN);
  let user = g.user ?? io.env.SHOAL_USER;
  if (token === undefined) {
    const tokenPath = join(dataDir, 'admin.token');
    if (!(await pathExists(tokenPath))) {
      throw new UsageError(
        `no token: pass --token-file FILE (or --token), or run this where \`shoal serve\` keeps its data` +
          ` (looked for ${shown(tokenPath, io.cwd)}; --data-dir DIR to look elsewhere)`,
      );
    }
    token = await readTokenFile(io, tokenPath);
    user ??= 'admin';
    notes.push(`using the admin token from ${shown(tokenPath, io.cwd)}`);
  }
  let ca: string | undefined;
  const caFile = g.ca ?? io.env.SHOAL_CA;
  if (caFile !== undefined) {
    ca = await readCaFile(io, caFile);
  } else if (url.startsWith('https:')) {
    const caPath = join(dataDir, 'tls', 'ca.crt');
    if (await pathExists(caPath)) {
      ca = await readCaFile(io, caPath);
      notes.push(`trusting the node's CA from ${shown(caPath, io.cwd)}`);
    }
  }
  const config: CliConfig = { url, token };
  if (ca !== undefined) config.ca = ca;
  if (user !== undefined) config.user = user;
  return { config, notes };
}

export function registerLogin(program: Command, io: CliIo): void {
  program
    .command('login')
    .description(
      'check credentials against a node (GET /users/me) and save its URL, CA and token (mode 0600) for the other commands; ' +
        "on the node's machine it picks up ./shoal-data/admin.token and ./shoal-data/tls/ca.crt by itself",
    )
    .option('--token-file <file>', 'read the token from a file ("-" = standard input); safer than --token')
    .option('--data-dir <dir>', 'data dir of a local `shoal serve` to take admin.token and tls/ca.crt from (default ./shoal-data)')
    .addHelpText(
      'after',
      `\nThe node URL defaults to ${DEFAULT_URL}; --url, --ca, --user and --token are the global options.\n` +
        'The config file is $SHOAL_CONFIG, else ~/.config/shoal/config.json.',
    )
    .action(async (flags: LoginFlags, cmd: Command) => {
      const g = globals(cmd);
      const path = configPath(io.env, io.cwd);
      const saved = await readConfig(path).catch(() => undefined);
      const { config, notes } = await resolveLogin(io, g, flags, saved?.config.url);
      for (const note of notes) io.err(`${note}\n`);
      const client = new ShoalClient(config);
      const me = await client.me();
      // store the name the node knows the token by: the token then goes as Basic user:token
      config.user = me.name;
      await writeConfig(path, config);
      emit(io, cmd, {
        json: me,
        human: () =>
          formatKeyValues([
            ['logged in to', client.url],
            ['as', `${me.name} (${me.role})`],
            ['saved to', `${path} (mode 0600)`],
          ]),
      });
    });

  program
    .command('logout')
    .description('forget the saved node URL and token (deletes the config file)')
    .action(async () => {
      const path = configPath(io.env, io.cwd);
      const removed = await removeConfig(path);
      io.err(removed ? `removed ${path}\n` : `nothing to do: no ${path}\n`);
    });
}
