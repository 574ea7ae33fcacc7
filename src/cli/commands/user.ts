import { Option, type Command } from 'commander';
import { ROLES, type Role, type User, type UserCreated } from '../../model/index.js';
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
            ['role', u.role],
            ['created', u.created_at],
          ]),
      });
    });

  user
    .command('delete')
    .description('delete a user (its token stops working)')
    .argument('<name>', 'user name')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      await client.deleteUser(name);
      emit(io, cmd, { json: { name, deleted: true }, human: () => `user ${name} deleted\n` });
    });

  registerUserKey(user, io);
}
