import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { UserKey } from '../../model/index.js';
import { connect, emit, globals } from '../context.js';
import { UsageError } from '../errors.js';
import { readStream, type CliIo } from '../io.js';
import { formatAge, formatTable } from '../output.js';

const KEY_LINE = /^(ssh-|ecdsa-)/;

/** The key text of `shoal user key add`: the key itself, "-" for stdin, or a .pub file. */
async function keyText(io: CliIo, arg: string): Promise<string> {
  if (arg === '-') return (await readStream(io.stdin, 64 * 1024)).trim();
  if (KEY_LINE.test(arg)) return arg;
  try {
    return (await readFile(resolve(io.cwd, arg), 'utf8')).trim();
  } catch (err) {
    throw new UsageError(
      `${arg}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a .pub file, "-" for standard input, ` +
        'or the key itself ("ssh-ed25519 AAAA… comment")',
    );
  }
}

export function keyTable(keys: readonly UserKey[], now = Date.now()): string {
  return formatTable(
    ['fingerprint', 'type', 'comment', 'added'],
    keys.map((k) => [k.fingerprint, k.type, k.comment, formatAge(k.created_at, now)]),
  );
}

/** `shoal user key add|list|rm`: the public SSH keys the SSH gate accepts for a user. */
export function registerUserKey(user: Command, io: CliIo): void {
  const key = user.command('key').description("public SSH keys for the SSH gate (yours, or any user's as admin)");

  key
    .command('add')
    .description('register a public key: a .pub file, "-" for standard input, or the key text')
    .argument('<key>', 'e.g. ~/.ssh/id_ed25519.pub')
    .option('--user <name>', 'whose key (admin); default: yours', 'me')
    .action(async (arg: string, flags: { user: string }, cmd: Command) => {
      const text = await keyText(io, arg);
      const client = await connect(io, globals(cmd));
      const added = await client.addUserKey(flags.user, text);
      emit(io, cmd, { json: added, human: () => `${added.fingerprint} ${added.type} ${added.comment}\n` });
    });

  key
    .command('list')
    .description('list the registered public keys')
    .option('--user <name>', 'whose keys (admin); default: yours', 'me')
    .action(async (flags: { user: string }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items = await client.listUserKeys(flags.user);
      emit(io, cmd, { json: { items }, items, human: () => keyTable(items) });
    });

  key
    .command('rm')
    .description('remove a public key by its fingerprint (as `key list` shows it)')
    .argument('<fingerprint>', 'SHA256:…')
    .option('--user <name>', 'whose key (admin); default: yours', 'me')
    .action(async (fingerprint: string, flags: { user: string }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      await client.deleteUserKey(flags.user, fingerprint);
      emit(io, cmd, { json: { fingerprint, deleted: true }, human: () => `key ${fingerprint} removed\n` });
    });
}
