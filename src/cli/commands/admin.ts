import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { pathExists } from '../../lib/fs.js';
import { connect, emit, globals } from '../context.js';
import { CliFailure, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { formatKeyValues } from '../output.js';

/** the first 16 bytes of every SQLite database file */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

export function registerAdmin(program: Command, io: CliIo): void {
  const admin = program.command('admin').description('operating the node (admin): backups of its database');

  admin
    .command('backup')
    .description(
      "save a consistent copy of the node's SQLite database, taken while it serves (PostgreSQL: use pg_dump); restore: docs/operations.md",
    )
    .argument('<file>', 'where to write it (not overwritten unless --force)')
    .option('--force', 'overwrite FILE if it exists')
    .action(async (file: string, flags: { force?: boolean }, cmd: Command) => {
      const target = resolve(io.cwd, file);
      if (!flags.force && (await pathExists(target))) throw new UsageError(`${file} exists; pass --force to overwrite it`);
      const client = await connect(io, globals(cmd));
      const partial = join(dirname(target), `.${randomBytes(6).toString('hex')}.shoal-backup.partial`);
      try {
        const stream = await client.backupDatabase();
        const expected = Number(stream.response.headers['content-length'] ?? NaN);
        // 0600: the copy holds the users' token hashes
        await pipeline(stream.response, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
        const bytes = (await stat(partial)).size;
        if (Number.isFinite(expected) && bytes !== expected) {
          throw new CliFailure(
            'UNREACHABLE',
            `the backup was cut off: ${bytes} of ${expected} bytes arrived; nothing was written to ${file}`,
          );
        }
        const head = Buffer.alloc(SQLITE_HEADER.length);
        const fh = await open(partial, 'r');
        try {
          await fh.read(head, 0, head.length, 0);
        } finally {
          await fh.close();
        }
        if (!head.equals(SQLITE_HEADER))
          throw new CliFailure('INTERNAL', `the node sent something that is not an SQLite database; nothing was written to ${file}`);
        await rename(partial, target);
        emit(io, cmd, {
          json: { file: target, bytes },
          human: () =>
            formatKeyValues([
              ['backup', target],
              ['bytes', String(bytes)],
            ]) + '\nRestore: stop the node, then put this file in place of its database (docs/operations.md).\n',
        });
      } finally {
        await rm(partial, { force: true });
      }
    });
}
