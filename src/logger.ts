/** The process logger: JSON lines (pino), human-readable when a person watches a terminal. */
import { pino, type Logger } from 'pino';

export function createLogger(level: string, options: { pretty?: boolean } = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY;
  return pino({
    level,
    base: { service: 'droplet-registry' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}
