/**
 * Runs garbage collection inside the service every `intervalMs`, on one instance at a time (the
 * leader, elected through Postgres as for the pre-warmer), so that several instances sharing a
 * database do not collect at once. The first run comes one interval after the start, so that
 * restarts do not add a collection to the start-up's work.
 */
import type { Logger } from 'pino';
import type { GarbageCollector } from './garbage-collector.ts';
import type { LeaderElection } from './leader-election.ts';

export interface GcWorkerOptions {
  readonly collector: Pick<GarbageCollector, 'collect'>;
  readonly leadership: LeaderElection;
  readonly intervalMs: number;
  readonly logger: Logger;
}

export class GcWorker {
  readonly #options: GcWorkerOptions;
  #timer: NodeJS.Timeout | undefined;
  /** The run under way (or the last one), so `stop()` can wait for it. */
  #run: Promise<void> = Promise.resolve();
  #stopping = false;

  constructor(options: GcWorkerOptions) {
    this.#options = options;
  }

  /** Collects every `intervalMs` until `stop()`; a failed run is logged and the next one comes as planned. */
  start(): void {
    if (this.#timer || this.#stopping) return;
    const { intervalMs, logger } = this.#options;
    logger.info({ event: 'gc.scheduled', intervalMs }, `garbage collection every ${intervalMs} ms (on one instance at a time)`);
    const schedule = (): void => {
      this.#timer = setTimeout(() => {
        this.#run = this.#lead().finally(() => {
          if (!this.#stopping) schedule();
        });
      }, intervalMs).unref();
    };
    schedule();
  }

  /** Lets a run under way finish, starts no other, and gives leadership up. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#run;
    await this.#options.leadership.resign();
  }

  async #lead(): Promise<void> {
    const { collector, leadership, logger } = this.#options;
    try {
      if (!(await leadership.check())) return;
      await collector.collect({ dryRun: false });
    } catch (error) {
      logger.warn({ event: 'gc.failed', err: error }, `garbage collection failed (${(error as Error).message}); the next run tries again`);
    }
  }
}
