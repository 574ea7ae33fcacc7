import { pino, type Logger } from 'pino';
import { LOG_REDACT_PATHS } from '../api/index.js';

/**
 * The node's logger. Secrets never reach it: Authorization headers, tokens and metadata values are
 * redacted even if some code passes them by mistake.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: {
      paths: [...LOG_REDACT_PATHS, 'metadata', '*.metadata', 'token', '*.token'],
      censor: '[redacted]',
    },
  });
}
