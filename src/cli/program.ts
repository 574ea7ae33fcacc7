import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAdmin } from './commands/admin.js';
import { registerApp } from './commands/app.js';
import { registerEvents } from './commands/events.js';
import { registerLabel } from './commands/label.js';
import { registerLogin } from './commands/login.js';
import { registerNode } from './commands/node.js';
import { registerServe } from './commands/serve.js';
import { registerUser } from './commands/user.js';
import type { CliIo } from './io.js';

function packageVersion(): string {
  // src/cli (tsx) or dist/src/cli (compiled): package.json is two or three levels up
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'shoal' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next place
    }
  }
  return '0.0.0';
}

/** The whole `shoal` command tree, writing through `io` and throwing instead of exiting. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('shoal');
  program
    .description('Shoal: a self-hosted pool of ephemeral containers, VMs and sandboxes')
    .version(packageVersion(), '-V, --version')
    .option('--url <url>', 'node URL (default: the one saved by `shoal login`; env SHOAL_URL)')
    .option('--ca <file>', "PEM file of the CA that signed the node's certificate (env SHOAL_CA)")
    .option('--token <token>', 'API token (default: the saved one; env SHOAL_TOKEN)')
    .option('--user <name>', 'user the token belongs to; the token then goes as HTTP Basic, else as Bearer (env SHOAL_USER)')
    .option('--json', 'print the raw API JSON (for scripts)')
    .option('--field <path>', 'print only this field (dot path, e.g. state.status or ipaddr); one line per item for lists')
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'error: USAGE: ')),
    })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 success; 1 the API refused, the node is unreachable, or a waited-for outcome failed; 2 usage error.\n' +
        'Five-minute tour: docs/cli.md',
    );
  registerServe(program, io);
  registerLogin(program, io);
  registerUser(program, io);
  registerLabel(program, io);
  registerApp(program, io);
  registerNode(program, io);
  registerEvents(program, io);
  registerAdmin(program, io);
  return program;
}
