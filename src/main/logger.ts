import { pino, transport, type DestinationStream, type Logger } from 'pino';
import { LOG_REDACT_PATHS } from '../api/index.js';

/**
 * The node's logger: JSON lines for machines, a readable one-line format on a terminal. Secrets
 * never reach it: Authorization headers, tokens and metadata values are redacted even if some code
 * passes them by mistake.
 */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    redact: {
      paths: [...LOG_REDACT_PATHS, 'metadata', '*.metadata', 'token', '*.token'],
      censor: '[redacted]',
    },
  };
  if (!pretty) return pino(options);
  return pino(
    options,
    // pino types a transport as `any`; it is a destination stream
    transport({
      target: 'pino-pretty',
      options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' },
    }) as DestinationStream,
  );
}
