import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ShoalClient } from '../../client/index.js';
import type { Label, LabelCreate } from '../../model/index.js';
import { connect, emit, globals } from '../context.js';
import { CliFailure, UsageError } from '../errors.js';
import { readStream, type CliIo } from '../io.js';
import { formatAge, formatTable } from '../output.js';
import { isUid, parseLabelRef } from '../parse-args.js';

/** Reads a label document (YAML or JSON; "-" = stdin). Syntax errors name the file and line. */
export async function readLabelFile(io: CliIo, file: string): Promise<LabelCreate> {
  let text: string;
  const name = file === '-' ? 'standard input' : file;
  if (file === '-') {
    text = await readStream(io.stdin);
  } else {
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (err) {
      throw new UsageError(`-f ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const { parseDocument } = await import('yaml'); // loaded only by the commands that read YAML
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const pos = first.linePos?.[0];
    throw new UsageError(
      `${name}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML/JSON: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  }
  const value: unknown = doc.toJS();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`${name}: expected one label, a mapping with name, definitions, metadata… (see docs/cli.md)`);
  }
  return value as LabelCreate;
}

/** A label by uid, or by NAME[:VERSION] (latest when no version). */
export async function findLabel(client: ShoalClient, ref: string): Promise<Label> {
  if (isUid(ref)) return client.getLabel(ref);
  const { name, version } = parseLabelRef(ref);
  const page = await client.listLabels({ name, version: version ?? 'latest', limit: 1 });
  const label = page.items.find((l) => l.name === name && (version === undefined || l.version === version));
  if (label === undefined) {
    throw new CliFailure(
      'NOT_FOUND',
      `no label "${name}"${version !== undefined ? ` with version ${version}` : ''} (see \`shoal label list\`)`,
    );
  }
  return label;
}

export function labelTable(labels: readonly Label[], now = Date.now()): string {
  return formatTable(
    ['name', 'version', 'uid', 'drivers', 'lifetime', 'created'],
    labels.map((l) => [
      l.name,
      String(l.version),
      l.uid,
      l.definitions.map((d) => d.driver).join(','),
      l.lifetime ?? '-',
      formatAge(l.created_at, now),
    ]),
  );
}

export function registerLabel(program: Command, io: CliIo): void {
  const label = program.command('label').description('labels: named, versioned templates of what to allocate');

  label
    .command('create')
    .description('create a label (a new version when the name exists) from a YAML or JSON file')
    .requiredOption('-f, --file <file>', 'label file, YAML or JSON ("-" = standard input)')
    .action(async (flags: { file: string }, cmd: Command) => {
      const body = await readLabelFile(io, flags.file);
      const client = await connect(io, globals(cmd));
      const created = await client.createLabel(body);
      emit(io, cmd, {
        json: created,
        human: () => `label ${created.name} version ${created.version} created (uid ${created.uid})\n`,
      });
    });

  label
    .command('list')
    .description('list labels (every version)')
    .option('--name <name>', 'only this name')
    .option('--latest', 'only the latest version of each name')
    .action(async (flags: { name?: string; latest?: boolean }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items: Label[] = [];
      const query = { ...(flags.name !== undefined ? { name: flags.name } : {}), ...(flags.latest ? { version: 'latest' as const } : {}) };
      for await (const l of client.all((p) => client.listLabels({ ...query, ...p }))) items.push(l);
      emit(io, cmd, { json: { items }, items, human: () => labelTable(items) });
    });

  label
    .command('show')
    .description('show a label, by uid or NAME[:VERSION] (latest when no version)')
    .argument('<label>', 'UID or NAME[:VERSION]')
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const l = await findLabel(client, ref);
      const { stringify } = await import('yaml');
      emit(io, cmd, { json: l, human: () => stringify(l, { lineWidth: 0 }) });
    });

  label
    .command('owner')
    .description('show who owns a label name (only the owner or an admin publishes versions); admins: --set USER gives it to another user')
    .argument('<name>', 'label name')
    .option('--set <user>', 'give the name to this user (admin only)')
    .action(async (name: string, flags: { set?: string }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const owned = flags.set === undefined ? await client.getLabelName(name) : await client.setLabelNameOwner(name, flags.set);
      emit(io, cmd, {
        json: owned,
        human: () =>
          flags.set === undefined
            ? `label name ${owned.name} is owned by ${owned.owner}\n`
            : `label name ${owned.name} now belongs to ${owned.owner}\n`,
      });
    });

  label
    .command('delete')
    .description('delete one label version, by uid or NAME:VERSION')
    .argument('<label>', 'UID or NAME:VERSION')
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      if (!isUid(ref) && parseLabelRef(ref).version === undefined) {
        throw new UsageError(`label delete "${ref}": give a uid or NAME:VERSION (deleting deletes one version)`);
      }
      const client = await connect(io, globals(cmd));
      const l = await findLabel(client, ref);
      await client.deleteLabel(l.uid);
      emit(io, cmd, { json: { uid: l.uid, deleted: true }, human: () => `label ${l.name} version ${l.version} deleted (uid ${l.uid})\n` });
    });
}
