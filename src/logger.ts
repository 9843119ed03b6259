/** The process logger: JSON lines (pino), human-readable when a person watches a terminal. */
import { pino, type Logger } from 'pino';

/**
 * `fd` 1 for the server (its logs are its output); 2 for commands whose stdout carries results.
 */
export function createLogger(level: string, options: { fd?: 1 | 2 } = {}): Logger {
  const fd = options.fd ?? 1;
  const pretty = (fd === 1 ? process.stdout : process.stderr).isTTY;
  const settings = { level, base: { service: 'droplet-registry' } };
  if (pretty) {
    return pino({ ...settings, transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(settings, pino.destination({ fd, sync: fd === 2 }));
}
