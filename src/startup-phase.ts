/**
 * `serve` start-up can take half a minute (opening and migrating the database, importing a
 * rootfs) before it listens: each phase is logged as it begins and ends, so whoever watches the
 * start sees what it is doing and how long each part took.
 */
import type { Logger } from 'pino';

/** Runs `work` between a `startup.phase` begin line and an end line carrying its duration. */
export async function startupPhase<T>(logger: Logger, phase: string, work: () => Promise<T>): Promise<T> {
  logger.info({ event: 'startup.phase', phase, state: 'begin' }, `start-up: ${phase}`);
  const started = performance.now();
  const result = await work();
  const ms = Math.round(performance.now() - started);
  logger.info({ event: 'startup.phase', phase, state: 'end', ms }, `start-up: ${phase} done in ${ms} ms`);
  return result;
}
