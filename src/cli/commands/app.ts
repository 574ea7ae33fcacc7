import { Option, type Command } from 'commander';
import { ShoalApiError, type ShoalClient } from '../../client/index.js';
import { APPLICATION_STATUSES, isApplicationStatus, type Application, type ApplicationCreate, type Resource } from '../../model/index.js';
import { connect, emit, globals } from '../context.js';
import { CliFailure, EXIT, UsageError } from '../errors.js';
import type { CliIo } from '../io.js';
import { formatKeyValues } from '../output.js';
import {
  checkDuration,
  collect,
  formatDuration,
  parseDurationMs,
  parseLabelRef,
  parseMetadataArgs,
  parsePositiveInt,
} from '../parse-args.js';
import { ProgressLine } from '../progress.js';
import { waitForStatus, type WaitOutcome } from '../wait-for-status.js';
import { appDetails, appTable, labelNames, resourceDetails, sessionTable, stateLine, statesTable, taskTable } from './app-views.js';

interface CreateFlags {
  metadata?: string[];
  lifetime?: string;
  waitTimeout?: string;
  wait?: boolean;
  timeout: string;
  quiet?: boolean;
}

/** `app create` arguments → the POST /applications body (usage errors name the bad part). */
export function applicationBody(
  labelRef: string,
  flags: Pick<CreateFlags, 'metadata' | 'lifetime' | 'waitTimeout'>,
  metadata: Record<string, string>,
): ApplicationCreate {
  const { name, version } = parseLabelRef(labelRef);
  const body: ApplicationCreate = { label: name };
  if (version !== undefined) body.version = version;
  if (Object.keys(metadata).length > 0) body.metadata = metadata;
  if (flags.lifetime !== undefined) body.lifetime = checkDuration(flags.lifetime, '--lifetime');
  if (flags.waitTimeout !== undefined) body.wait_timeout = checkDuration(flags.waitTimeout, '--wait-timeout');
  return body;
}

function short(ms: number): string {
  return formatDuration(ms);
}

/** Turns a wait that did not succeed into the failure the command exits with. */
function failure(outcome: WaitOutcome, what: string, timeout: string): CliFailure {
  const { uid, status, description } = outcome;
  const why = description !== '' ? `: ${description}` : '';
  switch (outcome.kind) {
    case 'failure':
      return new CliFailure(status === 'ERROR' ? 'APPLICATION_ERROR' : 'APPLICATION_DEALLOCATED', `application ${uid} is ${status}${why}`);
    case 'timeout':
      return new CliFailure(
        'TIMEOUT',
        `application ${uid} is still ${status || 'unknown'} after ${timeout}${why};` +
          ` it was not cancelled: \`shoal app deallocate ${uid}\` to cancel`,
      );
    case 'interrupted':
      return new CliFailure(
        'INTERRUPTED',
        `stopped waiting for ${what}: application ${uid} is ${status || 'unknown'} and carries on`,
        EXIT.INTERRUPTED,
      );
    default:
      return new CliFailure('INTERNAL', `unexpected outcome ${outcome.kind}`);
  }
}

async function resourceOrUndefined(client: ShoalClient, uid: string): Promise<Resource | undefined> {
  try {
    return await client.getResource(uid);
  } catch (err) {
    if (err instanceof ShoalApiError && (err.status === 404 || err.status === 409)) return undefined;
    throw err;
  }
}

export function registerApp(program: Command, io: CliIo): void {
  const app = program.command('app').description('applications: requests for a resource by label');

  app
    .command('create')
    .description('request a resource by label; with --wait, follow it to ALLOCATED (exit 0) or ERROR/timeout (exit 1)')
    .argument('<label>', 'NAME[:VERSION] of a label (latest version when none)')
    .option('-m, --metadata <KEY=VALUE>', "metadata for the resource, over the label's (repeatable)", collect)
    .option('--lifetime <duration>', "how long the resource lives (e.g. 30m, 2h), over the label's")
    .option('--wait-timeout <duration>', 'give up (ERROR) if no node takes it within this time')
    .option('-w, --wait', 'wait until ALLOCATED, showing progress; exit 1 on ERROR or timeout')
    .option('--timeout <duration>', 'with --wait: how long to wait', '10m')
    .option('-q, --quiet', 'print only the application uid')
    .action(async (labelRef: string, flags: CreateFlags, cmd: Command) => {
      const metadata = parseMetadataArgs(flags.metadata ?? []);
      const body = applicationBody(labelRef, flags, metadata);
      const timeoutMs = parseDurationMs(flags.timeout, '--timeout');
      const client = await connect(io, globals(cmd));
      if (!flags.wait) {
        const created = await client.createApplication(body);
        if (flags.quiet && !globals(cmd).json) io.out(`${created.uid}\n`);
        else {
          const why = created.state.description !== '' ? ` (${created.state.description})` : '';
          emit(io, cmd, { json: created, human: () => `application ${created.uid} created: ${created.state.status}${why}\n` });
        }
        return;
      }
      const progress = new ProgressLine(io, labelRef);
      let outcome: WaitOutcome;
      try {
        outcome = await waitForStatus({
          client,
          io,
          start: async () => {
            const created = await client.createApplication(body);
            progress.update({ subject: created.uid });
            return { uid: created.uid, state: created.state };
          },
          success: 'ALLOCATED',
          failure: ['ERROR', 'DEALLOCATE', 'DEALLOCATED'],
          timeoutMs,
          onStatus: (s) => progress.update({ status: s.status, description: s.description }),
        });
      } finally {
        progress.stop();
      }
      if (outcome.kind !== 'success') throw failure(outcome, 'ALLOCATED', flags.timeout);
      const a = await client.getApplication(outcome.uid);
      if (flags.quiet && !globals(cmd).json) {
        io.out(`${a.uid}\n`);
        return;
      }
      const resource = await resourceOrUndefined(client, a.uid);
      emit(io, cmd, {
        json: a,
        human: () =>
          `application ${a.uid} ALLOCATED in ${short(outcome.elapsedMs)}\n` + (resource !== undefined ? resourceDetails(resource) : ''),
      });
    });

  app
    .command('list')
    .description("list applications (yours; admins see everyone's)")
    .option('--status <status>', 'only applications in this status (e.g. ALLOCATED)')
    .option('--limit <n>', 'at most this many (newest pages first as the API orders them)', '100')
    .option('--all-pages', 'every application, following all pages (instead of --limit)')
    // the old name read as "all users"; it is refused with the new name rather than guessed
    .addOption(new Option('--all').hideHelp())
    .action(async (flags: { status?: string; limit: string; allPages?: boolean; all?: boolean }, cmd: Command) => {
      if (flags.all) {
        throw new UsageError(
          '--all is now --all-pages (it follows every page of the list;' +
            " which users' applications you see depends on your role: admins see everyone's)",
        );
      }
      const limit = parsePositiveInt(flags.limit, '--limit', 1000);
      const status = flags.status?.toUpperCase();
      if (status !== undefined && !isApplicationStatus(status)) {
        throw new UsageError(`--status "${flags.status}": expected one of ${APPLICATION_STATUSES.join(', ')}`);
      }
      const client = await connect(io, globals(cmd));
      const query = status !== undefined ? { status } : {};
      let items: Application[] = [];
      let next: string | undefined;
      if (flags.allPages) {
        for await (const a of client.all((p) => client.listApplications({ ...query, ...p }))) items.push(a);
      } else {
        const page = await client.listApplications({ ...query, limit });
        items = page.items;
        next = page.next_cursor;
      }
      const json = next !== undefined ? { items, next_cursor: next } : { items };
      const labels = globals(cmd).json || globals(cmd).field !== undefined ? new Map<string, string>() : await labelNames(client, items);
      emit(io, cmd, { json, items, human: () => appTable(items, labels) });
      if (next !== undefined && !globals(cmd).json) io.err(`(more than ${items.length}: --all-pages lists every one)\n`);
    });

  app
    .command('show')
    .description('an application: its label, state, history and resource')
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const a = await client.getApplication(uid);
      if (globals(cmd).json || globals(cmd).field !== undefined) {
        emit(io, cmd, { json: a, human: () => '' });
        return;
      }
      const [labels, states, resource] = await Promise.all([
        labelNames(client, [a]),
        client.listStates(uid),
        a.state.status === 'ALLOCATED' || a.state.status === 'DEALLOCATE' ? resourceOrUndefined(client, uid) : Promise.resolve(undefined),
      ]);
      io.out(appDetails(a, labels.get(a.label_uid)));
      io.out(`\n${statesTable(states)}`);
      if (resource !== undefined) io.out(`\nresource\n${indent(resourceDetails(resource))}`);
    });

  app
    .command('state')
    .description('the current state of an application')
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const s = await client.getState(uid);
      emit(io, cmd, { json: s, human: () => stateLine(s) });
    });

  app
    .command('states')
    .description('the whole state history of an application, oldest first')
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items = await client.listStates(uid);
      emit(io, cmd, { json: { items }, items, human: () => statesTable(items) });
    });

  app
    .command('resource')
    .description('the resource of an ALLOCATED application: node, driver, hwaddr, ipaddr, metadata, expiry')
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const r = await client.getResource(uid);
      emit(io, cmd, { json: r, human: () => resourceDetails(r) });
    });

  app
    .command('deallocate')
    .description('give the resource back (snapshot tasks with when=DEALLOCATE run first)')
    .argument('<uid>', 'application uid')
    .option('-w, --wait', 'wait until DEALLOCATED; exit 1 on ERROR or timeout')
    .option('--timeout <duration>', 'with --wait: how long to wait', '10m')
    .action(async (uid: string, flags: { wait?: boolean; timeout: string }, cmd: Command) => {
      const timeoutMs = parseDurationMs(flags.timeout, '--timeout');
      const client = await connect(io, globals(cmd));
      if (!flags.wait) {
        const r = await client.deallocate(uid);
        emit(io, cmd, { json: r, human: () => `application ${uid}: ${r.status}\n` });
        return;
      }
      const progress = new ProgressLine(io, uid);
      let outcome: WaitOutcome;
      try {
        outcome = await waitForStatus({
          client,
          io,
          start: async () => {
            const r = await client.deallocate(uid);
            return { uid, state: { status: r.status, description: '' } };
          },
          success: 'DEALLOCATED',
          failure: ['ERROR'],
          timeoutMs,
          onStatus: (s) => progress.update({ status: s.status, description: s.description }),
        });
      } finally {
        progress.stop();
      }
      if (outcome.kind !== 'success') throw failure(outcome, 'DEALLOCATED', flags.timeout);
      const s = await client.getState(uid);
      emit(io, cmd, { json: s, human: () => `application ${uid} DEALLOCATED in ${short(outcome.elapsedMs)}\n` });
    });

  app
    .command('snapshot')
    .description('snapshot the resource (its disks; --full: the whole environment); see the result with `app tasks`')
    .argument('<uid>', 'application uid')
    .option('--full', 'the whole environment, not only the attached disks')
    .option('--on-deallocate', 'take it when the application is deallocated instead of now')
    .action(async (uid: string, flags: { full?: boolean; onDeallocate?: boolean }, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const t = await client.createTask(uid, {
        task: 'snapshot',
        options: { full: flags.full === true },
        when: flags.onDeallocate ? 'DEALLOCATE' : 'NOW',
      });
      emit(io, cmd, {
        json: t,
        human: () =>
          formatKeyValues([
            ['task', t.uid],
            ['snapshot', t.options.full ? 'full' : 'disks'],
            ['when', t.when],
            ['status', t.status],
            ['result', t.result],
          ]) + `see its progress and result: shoal app tasks ${uid}\n`,
      });
    });

  app
    .command('tasks')
    .description('the tasks of an application (snapshots) with their status and result')
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items = await client.listTasks(uid);
      emit(io, cmd, { json: { items }, items, human: () => taskTable(items) });
    });

  app
    .command('sessions')
    .description('who got into the environment (SSH gate, WebSockets): from where, what, when, exit status, bytes')
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const items = await client.listSessions(uid);
      emit(io, cmd, { json: { items }, items, human: () => sessionTable(items) });
    });

  app
    .command('console')
    .description("the resource's console output, when its driver keeps one")
    .argument('<uid>', 'application uid')
    .action(async (uid: string, _flags: unknown, cmd: Command) => {
      const client = await connect(io, globals(cmd));
      const text = await client.getConsole(uid);
      emit(io, cmd, { json: { console: text }, human: () => (text === '' || text.endsWith('\n') ? text : `${text}\n`) });
    });
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}
