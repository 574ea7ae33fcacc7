import type { Command } from 'commander';
import { connect, globals } from '../context.js';
import { CliFailure } from '../errors.js';
import type { CliIo } from '../io.js';
import { display } from '../output.js';
import { parseDurationMs } from '../parse-args.js';
import { CONNECT_ATTEMPTS } from '../wait-for-status.js';

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
      // whether the stream is up right now, and the last reason it was not
      let up = false;
      let everUp = false;
      let lastError: Error | undefined;
      const stream = client.events({
        signal: abort.signal,
        ...(flags.since !== undefined ? { lastEventId: flags.since } : {}),
        maxInitialFailures: CONNECT_ATTEMPTS,
        onConnect: () => {
          up = true;
          everUp = true;
        },
        onDisconnect: ({ error, delayMs, everConnected, failures }) => {
          up = false;
          lastError = error;
          io.err(
            everConnected
              ? `(event stream interrupted${error ? `: ${error.message}` : ''}; reconnecting in ${delayMs} ms)\n`
              : `(cannot open the event stream of ${client.url}${error ? `: ${error.message}` : ''}` +
                  `; attempt ${failures} of ${CONNECT_ATTEMPTS}, trying again in ${delayMs} ms)\n`,
          );
        },
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
      // --for (or Ctrl-C) ended it: that is success only if the stream was delivering events
      const why = lastError !== undefined ? `: ${lastError.message}` : '';
      if (!everUp)
        throw new CliFailure(
          'UNREACHABLE',
          `the event stream of ${client.url} never connected${flags.for !== undefined ? ` within ${flags.for}` : ''}${why}`,
        );
      if (!up)
        throw new CliFailure('UNREACHABLE', `the event stream of ${client.url} was down when it ended (events may be missing)${why}`);
    });
}
