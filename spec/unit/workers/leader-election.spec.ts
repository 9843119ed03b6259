/**
 * Leader election among instances sharing a database. Postgres is a stand-in here with the
 * semantics the election relies on: session-level advisory locks, held by one session at a time
 * (re-entrant for their holder), freed when the session ends, however it ends. A real Postgres,
 * with a leader's session terminated by the server, is in spec/integration/workers/prewarmer.spec.ts.
 * The embedded database is one process's own, so that process always leads.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import knexModule, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { createLogger } from '../../../src/logger.ts';
import { LeaderElection } from '../../../src/workers/leader-election.ts';

/** One connection to the stand-in Postgres (what `acquireRawConnection` gives: a pg.Client). */
class Session extends EventEmitter {
  ended = false;
  readonly #postgres: FakePostgres;

  constructor(postgres: FakePostgres) {
    super();
    this.#postgres = postgres;
  }

  async query(text: string, values: unknown[] = []): Promise<{ rows: Array<Record<string, unknown>> }> {
    if (this.ended) throw new Error('Client was closed and is not queryable');
    if (this.#postgres.down) throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    // The lock is named by the query's one parameter (its hash is Postgres's business).
    if (/pg_try_advisory_lock\(/.test(text)) return { rows: [{ locked: this.#postgres.tryLock(this, JSON.stringify(values)) }] };
    if (/^select 1$/i.test(text.trim())) return { rows: [{ '?column?': 1 }] };
    throw new Error(`the stand-in Postgres does not know ${text}`);
  }

  /** The server ends the session (a failover, `pg_terminate_backend`, a network cut): pg emits error, then end. */
  terminate(): void {
    this.#postgres.end(this);
    this.emit('error', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
    this.emit('end');
  }
}

class FakePostgres {
  /** Lock name → the session holding it. */
  readonly #locks = new Map<string, Session>();
  readonly sessions = new Set<Session>();
  /** Every query fails (the server is going away); new sessions cannot be opened. */
  down = false;

  /** One instance's knex, whose raw connections are sessions of this Postgres (all the election asks of knex). */
  knex(): Knex & { opened: Session[] } {
    const opened: Session[] = [];
    const client = {
      acquireRawConnection: async () => {
        if (this.down) throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
        const session = new Session(this);
        this.sessions.add(session);
        opened.push(session);
        return session;
      },
      destroyRawConnection: async (session: Session) => this.end(session),
    };
    return { client, opened } as unknown as Knex & { opened: Session[] };
  }

  tryLock(session: Session, name: string): boolean {
    const holder = this.#locks.get(name);
    if (holder && holder !== session) return false;
    this.#locks.set(name, session);
    return true;
  }

  /** The session ends: its locks go with it. */
  end(session: Session): void {
    session.ended = true;
    this.sessions.delete(session);
    for (const [name, holder] of this.#locks) if (holder === session) this.#locks.delete(name);
  }
}

type Line = { level: number; event?: string; name?: string; reason?: string; msg: string };

/** An instance's election, with its log lines. */
function instance(db: Knex, name = 'prewarm droplet_registry'): { election: LeaderElection; lines: Line[]; events: () => string[] } {
  const lines: Line[] = [];
  const logger = createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line) as Line) } });
  return { election: new LeaderElection({ db, name, logger }), lines, events: () => lines.map((line) => String(line.event)) };
}

describe('leader election', () => {
  describe('on Postgres', () => {
    it('has one leader at a time among instances asking for the same name', async () => {
      const postgres = new FakePostgres();
      const [first, second, third] = [instance(postgres.knex()), instance(postgres.knex()), instance(postgres.knex())];
      assert.deepEqual([await first.election.check(), await second.election.check(), await third.election.check()], [true, false, false]);
      assert.deepEqual([first.election.isLeader, second.election.isLeader, third.election.isLeader], [true, false, false]);
      assert.deepEqual(first.lines.map((line) => [line.event, line.msg]), [['leadership.gained', 'this instance now leads prewarm droplet_registry']]);
      assert.deepEqual([...second.lines, ...third.lines], [], 'followers log nothing');
    });

    it('keeps the leader leading round after round, saying so only once', async () => {
      const postgres = new FakePostgres();
      const leader = instance(postgres.knex());
      const follower = instance(postgres.knex());
      for (let round = 0; round < 5; round += 1) {
        assert.equal(await leader.election.check(), true);
        assert.equal(await follower.election.check(), false);
      }
      assert.deepEqual(leader.events(), ['leadership.gained']);
      assert.equal(postgres.sessions.size, 2, 'one session per instance, reused every round');
    });

    it('lets different names be led by different instances', async () => {
      const postgres = new FakePostgres();
      const prewarm = instance(postgres.knex(), 'prewarm droplet_registry');
      const gc = instance(postgres.knex(), 'gc droplet_registry');
      assert.deepEqual([await prewarm.election.check(), await gc.election.check()], [true, true]);
    });

    it('hands over to the next instance that asks once the leader resigns, which says so', async () => {
      const postgres = new FakePostgres();
      const leader = instance(postgres.knex());
      const follower = instance(postgres.knex());
      await leader.election.check();
      await follower.election.check();
      await leader.election.resign();
      assert.equal(leader.election.isLeader, false);
      assert.deepEqual(leader.lines.at(-1), { ...leader.lines.at(-1), level: 30, event: 'leadership.released', msg: 'this instance stopped leading prewarm droplet_registry' });
      assert.equal(await follower.election.check(), true, 'the follower takes over at its next round');
      assert.deepEqual(follower.events(), ['leadership.gained']);
      assert.equal(await leader.election.check(), false, 'the old leader now follows');
    });

    it('closes a follower’s session on resign too, saying nothing', async () => {
      const postgres = new FakePostgres();
      const leader = instance(postgres.knex());
      const follower = instance(postgres.knex());
      await leader.election.check();
      await follower.election.check();
      await follower.election.resign();
      assert.equal(postgres.sessions.size, 1, "only the leader's session is left");
      assert.deepEqual(follower.lines, []);
      await follower.election.resign();
    });

    it("loses leadership the moment the leader's session ends, with a warning, and another instance takes over", async () => {
      const postgres = new FakePostgres();
      const leaderDb = postgres.knex();
      const leader = instance(leaderDb);
      const follower = instance(postgres.knex());
      await leader.election.check();
      await follower.election.check();
      leaderDb.opened.at(-1)?.terminate();
      assert.equal(leader.election.isLeader, false, 'noticed without waiting for a round');
      const lost = leader.lines.filter((line) => line.event === 'leadership.lost');
      assert.deepEqual(lost.map((line) => [line.level, line.msg]), [[40, 'this instance no longer leads prewarm droplet_registry: the database connection ended']], 'one warning, though pg reports error and end');
      assert.equal(await follower.election.check(), true);
      assert.equal(await leader.election.check(), false, 'the old leader opens a new session and follows');
    });

    it('rejects when the database cannot be asked, and a leader gives up leadership (and the lock) then', async () => {
      const postgres = new FakePostgres();
      const leader = instance(postgres.knex());
      await leader.election.check();
      postgres.down = true;
      await assert.rejects(leader.election.check(), { code: '57P01' });
      assert.equal(leader.election.isLeader, false);
      assert.deepEqual(
        leader.lines.filter((line) => line.event === 'leadership.lost').map((line) => line.msg),
        ['this instance no longer leads prewarm droplet_registry: the database connection failed'],
      );
      assert.equal(postgres.sessions.size, 0, 'the failed session is closed, freeing the lock at once');
      await assert.rejects(leader.election.check(), { code: 'ECONNREFUSED' }, 'no session can be opened while the database is down');

      postgres.down = false;
      const successor = instance(postgres.knex());
      assert.equal(await successor.election.check(), true);
      assert.equal(await leader.election.check(), false);
    });

    it('rejects for a follower too, which logs no loss', async () => {
      const postgres = new FakePostgres();
      const leader = instance(postgres.knex());
      const follower = instance(postgres.knex());
      await leader.election.check();
      await follower.election.check();
      postgres.down = true;
      await assert.rejects(follower.election.check());
      assert.deepEqual(follower.lines, []);
    });
  });

  describe('on the embedded database', () => {
    // A knex on the embedded client over a placeholder (without one knex-pglite would start a
    // PGlite of its own): the election asks nothing of the database.
    const embedded = (): Knex => knexModule({ client: ClientPgLite, connection: () => ({ pglite: {} }) as unknown as Knex.StaticConnectionConfig });

    it('always leads: the database is this process’s own', async () => {
      const db = embedded();
      try {
        const only = instance(db);
        assert.equal(await only.election.check(), true);
        assert.equal(await only.election.check(), true);
        assert.equal(only.election.isLeader, true);
        assert.deepEqual(only.events(), ['leadership.gained']);
      } finally {
        await db.destroy();
      }
    });

    it('leads again after resigning, saying so each time', async () => {
      const db = embedded();
      try {
        const only = instance(db);
        await only.election.check();
        await only.election.resign();
        assert.equal(only.election.isLeader, false);
        assert.equal(await only.election.check(), true);
        assert.deepEqual(only.events(), ['leadership.gained', 'leadership.released', 'leadership.gained']);
      } finally {
        await db.destroy();
      }
    });
  });
});
