/**
 * Wakes requests waiting for an image that another instance (or another request here) converts.
 * On Postgres, a connection of its own LISTENs for `IMAGE_LANDED_CHANNEL`; each wait also ends
 * after a polling interval, so a missed notification, a dropped listening connection or a
 * converting instance that died (no notification ever comes, its lease runs out) only delays the
 * waiter. PGlite is one process, where the in-process single-flight already joins waiters: it polls.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type pg from 'pg';
import { isEmbeddedDatabase } from '../db/create-database.ts';
import { IMAGE_LANDED_CHANNEL } from '../db/queries/images.ts';
import { logContext } from '../logger.ts';

export interface ImageLandingsOptions {
  readonly db: Knex;
  /** Notifications name the schema, so registries sharing a database only wake their own waiters. */
  readonly schema: string;
  readonly logger: Logger;
}

export class ImageLandings {
  readonly #options: ImageLandingsOptions;
  readonly #waiters = new Map<number, Set<() => void>>();
  #session: Promise<pg.Client | undefined> | undefined;
  #stopped = false;

  constructor(options: ImageLandingsOptions) {
    this.#options = options;
  }

  /** Resolves when the image's conversion ends (ready or failed), or after `pollMs` at the latest. */
  wait(imageId: number, pollMs: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    // Outside the waiting request's log context: the listening session outlives that request.
    logContext.exit(() => void this.#listen());
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(imageId) ?? new Set();
      this.#waiters.set(imageId, waiters);
      const wake = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(imageId) === waiters) this.#waiters.delete(imageId);
        resolve();
      };
      const timer = setTimeout(wake, pollMs);
      waiters.add(wake);
    });
  }

  /** Wakes every waiter and closes the listening connection (shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const waiters of [...this.#waiters.values()]) for (const wake of [...waiters]) wake();
    const session = await this.#session?.catch(() => undefined);
    this.#session = undefined;
    if (session) await this.#options.db.client.destroyRawConnection(session).catch(() => undefined);
  }

  #wake(imageId: number): void {
    for (const wake of [...(this.#waiters.get(imageId) ?? [])]) wake();
  }

  /** Opens the listening connection once (again after it dropped); without it waiters poll. */
  #listen(): Promise<pg.Client | undefined> {
    const { db, schema, logger } = this.#options;
    if (isEmbeddedDatabase(db)) return Promise.resolve(undefined);
    this.#session ??= (async () => {
      // Outside the pool: LISTEN belongs to a session, and the pool keeps all its connections.
      const session = (await db.client.acquireRawConnection()) as pg.Client;
      const dropped = (error?: unknown): void => {
        if (this.#stopped) return;
        logger.warn({ event: 'landings.listener_lost', err: error }, 'the connection listening for finished conversions ended; waiters poll until it is back');
        this.#session = undefined;
        void db.client.destroyRawConnection(session).catch(() => undefined);
      };
      session.on('error', dropped);
      session.on('end', dropped);
      session.on('notification', (message) => {
        const [from, id] = (message.payload ?? '').split('/');
        if (message.channel === IMAGE_LANDED_CHANNEL && from === schema) this.#wake(Number(id));
      });
      await session.query(`listen ${IMAGE_LANDED_CHANNEL}`);
      return session;
    })().catch((error: unknown) => {
      logger.warn({ event: 'landings.listen_failed', err: error }, 'cannot listen for finished conversions; waiters poll');
      this.#session = undefined;
      return undefined;
    });
    return this.#session;
  }
}
