import type { Logger } from 'pino';

/**
 * Errors that must still stop the node when nobody handled them: the embedded database is
 * corrupt, full or unreadable — serving on would write into a broken store.
 */
const FATAL_CODES = new Set([
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'ERR_WORKER_OUT_OF_MEMORY',
]);

export function isFatal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (FATAL_CODES.has(code) || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CORRUPT'));
}

function describe(err: unknown): { err: string; name: string; code?: string } {
  const e = err as { message?: unknown; name?: unknown; code?: unknown } | null;
  return {
    err: typeof e?.message === 'string' ? e.message.slice(0, 500) : String(err).slice(0, 500),
    name: typeof e?.name === 'string' ? e.name : typeof err,
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
}

/**
 * The node's safety net: an error nobody caught (a rejected promise without a handler, an
 * exception in a callback) is logged and the node keeps serving — one bad request must not end
 * the process for everyone. Fatal errors (a corrupt or full database) still stop it through
 * `onFatal`. Returns the function that removes the handlers.
 */
export function installProcessGuard(log: Logger, onFatal: (err: unknown) => void): () => void {
  let count = 0;
  const handle = (kind: string) => (err: unknown) => {
    count++;
    if (isFatal(err)) {
      log.fatal({ ...describe(err), kind }, 'fatal error: stopping the node');
      onFatal(err);
      return;
    }
    // stack for the operator, never the values a request carried (messages hold no metadata)
    const stack = (err as { stack?: unknown } | null)?.stack;
    log.error(
      { ...describe(err), kind, count, ...(typeof stack === 'string' ? { stack: stack.slice(0, 2000) } : {}) },
      'unhandled error (the node keeps serving)',
    );
  };
  const onRejection = handle('unhandledRejection');
  const onException = handle('uncaughtException');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
