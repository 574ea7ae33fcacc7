import { Option, type Command } from 'commander';
import { ROLES, type Role, type TokenInfo, type User, type UserCreated } from '../../model/index.js';
import { connect, emit, globals } from '../context.js';
import type { CliIo } from '../io.js';
import { formatAge, formatKeyValues, formatTable } from '../output.js';
import { registerUserKey } from './user-key.js';

export function userTable(users: readonly User[], now = Date.now()): string {
  return formatTable(
    ['name', 'role', 'created'],
    users.map((u) => [u.name, u.role, formatAge(u.created_at, now)]),
  );
}

export function tokenTable(tokens: readonly TokenInfo[], now = Date.now()): string {
  return formatTable(
    ['id', 'name', 'created', 'expires'],
    tokens.map((t) => [
      t.id,
      t.name,
      formatAge(t.created_at, now),
      t.expires_at === null ? 'never' : t.expired ? `expired ${t.expires_at}` : t.expires_at,
    ]),
  );
}

export function registerUser(program: Command, io: CliIo): void {
  const user = program.command('user').description("users and their tokens (admin), SSH keys (anyone's own)");

  user
    .command('create')
    .description('create a user and print its token (shown only this once)')
    .argument('<name>', 'user name: lowercase letters, digits, "_", "-"')
    .addOption(new Option('--role <role>', 'role').choices(ROLES).default('user'))
    .action(async (name: string, flags: { role: Role }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const created: UserCreated = await client.createUser({ name, role: flags.role });
      emit(io, cmd, {
        json: created,
        human: () =>
          formatKeyValues([
            ['user', created.name],
            ['role', created.role],
            ['token', created.token],
          ]) +
          `\nThe token is shown only this once: keep it safe. To use it:\n` +
          `  shoal login --url ${client.url} --user ${created.name} --token-file FILE\n`,
      });
    });

  user
    .command('list')
    .description('list users')
    .action(async (_flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items: User[] = [];
      for await (const u of client.all((p) => client.listUsers(p))) items.push(u);
      emit(io, cmd, { json: { items }, items, human: () => userTable(items) });
    });

  user
    .command('show')
    .description('show one user (or "me")')
    .argument('<name>', 'user name, or "me" for the logged-in user')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const u = name === 'me' ? await client.me() : await client.getUser(name);
      emit(io, cmd, {
        json: u,
        human: () =>
          formatKeyValues([
            ['name', u.name],
            ['id', u.id ?? ''],
            ['role', u.role],
            ['created', u.created_at],
          ]),
      });
    });

  user
    .command('delete')
    .description('delete a user: their tokens stop working at once; refused while they have live applications unless --force')
    .argument('<name>', 'user name')
    .option('--force', "deallocate the user's live applications")
    .action(async (name: string, flags: { force?: boolean }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      await client.deleteUser(name, { force: flags.force === true });
      emit(io, cmd, { json: { name, deleted: true }, human: () => `user ${name} deleted\n` });
    });

  registerUserKey(user, io);
  registerToken(user, io);
}

/** `shoal user token create|list|revoke`: a user's API tokens (yours, or anyone's as an admin). */
function registerToken(user: Command, io: CliIo): void {
  const token = user.command('token').description('API tokens of a user (yours by default; admins: --for USER)');
  const whose = async (cmd: Command, flag: string | undefined): Promise<{ name: string; client: Awaited<ReturnType<typeof connect>> }> => {
    const client = await connect(io, globals(cmd));
    return { name: flag ?? (await client.me()).name, client };
  };

  token
    .command('create')
    .description('create a token and print it (shown only this once), e.g. for a CI robot')
    .option('--for <user>', 'whose token (admins); default: yours')
    .option('--name <name>', 'what the token is for (e.g. ci-runner)', 'token')
    .option('--expires <duration>', 'expire after this long, e.g. 12h, 30d (default: never)')
    .action(async (flags: { for?: string; name: string; expires?: string }, cmd: Command) => {
      const { name, client } = await whose(cmd, flags.for);
      const created = await client.createToken(name, {
        name: flags.name,
        ...(flags.expires === undefined ? {} : { expires_in: flags.expires }),
      });
      emit(io, cmd, {
        json: created,
        human: () =>
          formatKeyValues([
            ['user', created.user],
            ['id', created.id],
            ['name', created.name],
            ['expires', created.expires_at ?? 'never'],
            ['token', created.token],
          ]) + '\nThe token is shown only this once: keep it safe.\n',
      });
    });

  token
    .command('list')
    .description('list tokens (ids, names, expiry; never the secret)')
    .option('--for <user>', 'whose tokens (admins); default: yours')
    .action(async (flags: { for?: string }, cmd: Command) => {
      const { name, client } = await whose(cmd, flags.for);
      const items = await client.listTokens(name);
      emit(io, cmd, { json: { items }, items, human: () => tokenTable(items) });
    });

  token
    .command('revoke')
    .description('revoke a token: refused from the next request on, on every node')
    .argument('<id>', 'the token id (the part before the "."; see token list)')
    .option('--for <user>', 'whose token (admins); default: yours')
    .action(async (id: string, flags: { for?: string }, cmd: Command) => {
      const { name, client } = await whose(cmd, flags.for);
      await client.revokeToken(name, id);
      emit(io, cmd, { json: { user: name, id, revoked: true }, human: () => `token ${id} of ${name} revoked\n` });
    });
}
