import type { Command } from 'commander';
import { connect, globals } from '../context.js';
import type { CliIo } from '../io.js';
import { display } from '../output.js';
import { parseDurationMs } from '../parse-args.js';

interface EventsFlags {
  app?: string;
  since?: string;
  for?: string;
}

export function registerEvents(program: Command, io: CliIo): void {
  program
    .command('events')
    .description('follow application state changes live (Server-Sent Events) until Ctrl-C; --json prints one JSON object a line')
    .option('--app <uid>', 'only this application')
    .option('--since <id>', 'replay the events after this event id first')
    .option('--for <duration>', 'stop after this long (e.g. 30s)')
    .action(async (flags: EventsFlags, cmd: Command) => {
      const forMs = flags.for !== undefined ? parseDurationMs(flags.for, '--for') : undefined;
      const g = globals(cmd);
      const client = await connect(io, g);
      const abort = new AbortController();
      const timer = forMs !== undefined ? setTimeout(() => abort.abort(), forMs) : undefined;
      const unsubscribe = io.onInterrupt(() => abort.abort());
      const stream = client.events({
        signal: abort.signal,
        ...(flags.since !== undefined ? { lastEventId: flags.since } : {}),
        onDisconnect: ({ error, delayMs }) => io.err(`(event stream interrupted${error ? `: ${error.message}` : ''}; reconnecting in ${delayMs} ms)\n`),
      });
      try {
        for await (const e of stream) {
          if (flags.app !== undefined && e.application_uid !== flags.app) continue;
          if (g.json) io.out(`${JSON.stringify(e)}\n`);
          else io.out(`${e.created_at}  ${e.application_uid}  ${e.status.padEnd(11)}  ${display(e.description)}  (id ${e.id})\n`);
        }
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        unsubscribe();
        stream.close();
      }
    });
}
