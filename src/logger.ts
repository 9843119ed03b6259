/** The process logger: JSON lines (pino), human-readable when a person watches a terminal. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

/** What every line logged while serving a request carries (the request id), whoever logs it. */
export interface LogContext {
  readonly request: string;
}

/**
 * The context of the request being served: set by the server when a request arrives and added
 * by the logger to every line logged in its course (a CAPI call, a conversion it started).
 */
export const logContext = new AsyncLocalStorage<LogContext>();

/** Pretty lines need pino-pretty, a development dependency: without it, JSON even on a terminal. */
const prettyAvailable = ((): boolean => {
  try {
    import.meta.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
})();

/**
 * `fd` 1 for the server (its logs are its output); 2 for commands whose stdout carries results.
 * `destination` instead of a file descriptor: where tests collect the lines.
 */
export function createLogger(level: string, options: { fd?: 1 | 2; destination?: DestinationStream } = {}): Logger {
  const fd = options.fd ?? 1;
  const settings = { level, base: { service: 'droplet-registry' }, mixin: () => logContext.getStore() ?? {} };
  if (options.destination) return pino(settings, options.destination);
  const pretty = prettyAvailable && (fd === 1 ? process.stdout : process.stderr).isTTY;
  if (pretty) {
    return pino({ ...settings, transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(settings, pino.destination({ fd, sync: fd === 2 }));
}
