/**
 * Picks one instance among those sharing a database to run a background worker, through a
 * session-level Postgres advisory lock held on a connection of its own.
 *
 * @remarks
 * The lock lives exactly as long as the session: when the leader stops, crashes or loses its
 * network, Postgres ends the session and frees the lock, and the next follower to try takes it.
 * No lease row, no heartbeat, no clock. A leader checks its session on every round, so it notices
 * a dropped connection at its next round at the latest (another instance may then already lead;
 * the work is idempotent, so one round of overlap is harmless). PGlite is one process's private
 * database: that process always leads.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type pg from 'pg';
import { isEmbeddedDatabase } from '../db/create-database.ts';

export interface LeaderElectionOptions {
  readonly db: Knex;
  /** What is led, e.g. `prewarm droplet_registry`; instances agree on the lock through it. */
  readonly name: string;
  readonly logger: Logger;
}

export class LeaderElection {
  readonly #options: LeaderElectionOptions;
  /** The session holding (or trying for) the lock; Postgres only. */
  #session: pg.Client | undefined;
  #leader = false;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /**
   * Leads if it can: keeps leadership while the session lives, takes it when the lock is free.
   * Resolves to whether this instance leads now; rejects when the database cannot be reached
   * (leadership is then lost).
   */
  async check(): Promise<boolean> {
    if (isEmbeddedDatabase(this.#options.db)) {
      this.#gain();
      return true;
    }
    try {
      const session = await this.#openSession();
      if (this.#leader) {
        await session.query('select 1');
        return true;
      }
      const result = await session.query<{ locked: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as locked', [this.#lockName()]);
      if (result.rows[0]?.locked) this.#gain();
      return this.#leader;
    } catch (error) {
      await this.#closeSession();
      this.#lose('the database connection failed', error);
      throw error;
    }
  }

  /** Gives leadership up (closing the session frees the lock at once) so another instance can take over. */
  async resign(): Promise<void> {
    await this.#closeSession();
    if (!this.#leader) return;
    this.#leader = false;
    this.#options.logger.info({ event: 'leadership.released', name: this.#options.name }, `this instance stopped leading ${this.#options.name}`);
  }

  async #openSession(): Promise<pg.Client> {
    if (this.#session) return this.#session;
    const { db } = this.#options;
    // Outside the pool: the lock must outlive any one query, and the pool keeps all its connections.
    const session = (await db.client.acquireRawConnection()) as pg.Client;
    const ended = (error?: unknown): void => {
      if (this.#session !== session) return;
      this.#session = undefined;
      this.#lose('the database connection ended', error);
    };
    session.on('error', ended);
    session.on('end', ended);
    this.#session = session;
    return session;
  }

  async #closeSession(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session) await this.#options.db.client.destroyRawConnection(session).catch(() => undefined);
  }

  #lockName(): string {
    return `droplet-registry ${this.#options.name}`;
  }

  #gain(): void {
    if (this.#leader) return;
    this.#leader = true;
    this.#options.logger.info({ event: 'leadership.gained', name: this.#options.name }, `this instance now leads ${this.#options.name}`);
  }

  #lose(reason: string, error?: unknown): void {
    if (!this.#leader) return;
    this.#leader = false;
    this.#options.logger.warn({ event: 'leadership.lost', name: this.#options.name, reason, err: error }, `this instance no longer leads ${this.#options.name}: ${reason}`);
  }
}
