/**
 * A password guesser who writes `X-Forwarded-For` himself, to be counted as a new client on every
 * try. The login throttle counts the address the registry can vouch for: the socket peer, or with
 * TRUSTED_PROXY_HOPS proxies in front (each appending the address it saw), the address the
 * outermost of them saw — counted from the right, so what a client wrote on the left never counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectOptions } from '@hapi/hapi';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { ociError, startAuthWorld, tokenRequest, type AuthWorld } from '../auth/auth-world.ts';

const LIMIT = 3;

describe('the client address the login throttle counts', () => {
  let world: AuthWorld;
  let database: TestDatabase | undefined;

  before(async () => {
    world = await startAuthWorld();
    // Postgres where there is one: a fresh embedded database takes far longer to create, and nothing here depends on which.
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
  });

  after(async () => {
    await database?.cleanup();
    await world?.stop();
  });

  /** A login with a wrong password for a user of its own (so only the address can add up), from `remoteAddress` with `forwardedFor`. */
  const guess = (index: number, remoteAddress: string, forwardedFor?: string): ServerInjectOptions => {
    const login = tokenRequest({ username: `guesser-${index}@example.com`, password: 'guess' });
    return { ...login, remoteAddress, headers: { ...login.headers, ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) } };
  };
  const developerFrom = (remoteAddress: string, forwardedFor: string): ServerInjectOptions => {
    const login = tokenRequest(world.seed.users.space_developer);
    return { ...login, remoteAddress, headers: { ...login.headers, 'x-forwarded-for': forwardedFor } };
  };

  async function withRegistry(env: Record<string, string>, use: (login: (options: ServerInjectOptions) => Promise<number>) => Promise<void>): Promise<void> {
    const registry: TestRegistry = await world.openRegistry({
      LOGIN_FAILURES_LIMIT: String(LIMIT),
      LOGIN_FAILURES_WINDOW_MS: '600000',
      ...(database ? { DATABASE_URL: database.url } : {}),
      ...env,
    });
    try {
      await use(async (options) => {
        const res = await registry.registry.server.inject(options);
        if (res.statusCode === 429) assert.equal(ociError(res).code, 'TOOMANYREQUESTS');
        return res.statusCode;
      });
    } finally {
      await registry.close();
    }
  }

  it('is the socket peer by default: a forged X-Forwarded-For on every guess does not make a new client', async () => {
    await withRegistry({}, async (login) => {
      for (let i = 0; i < LIMIT; i += 1) assert.equal(await login(guess(i, '198.51.100.7', `192.0.2.${i}`)), 401);
      assert.equal(await login(guess(LIMIT, '198.51.100.7', '192.0.2.200')), 429, 'the same socket, whatever it claims');
      assert.equal(await login(guess(LIMIT + 1, '198.51.100.7')), 429, 'and without the header');
      assert.equal(await login(developerFrom('198.51.100.8', '198.51.100.7')), 200, 'another socket logs in, even claiming to be the throttled one');
    });
  });

  it('is the address the gorouter saw with TRUSTED_PROXY_HOPS=1, whatever the client wrote before it', async () => {
    await withRegistry({ TRUSTED_PROXY_HOPS: '1' }, async (login) => {
      const gorouter = '10.0.16.4';
      for (let i = 0; i < LIMIT; i += 1) assert.equal(await login(guess(i, gorouter, `192.0.2.${i}, 203.0.113.9`)), 401);
      assert.equal(await login(guess(LIMIT, gorouter, '192.0.2.200, 203.0.113.9')), 429, 'the gorouter saw the same client');
      assert.equal(await login(guess(LIMIT + 1, gorouter, '203.0.113.9')), 429);
      assert.equal(await login(developerFrom(gorouter, '203.0.113.9, 203.0.113.10')), 200, 'another client behind the same gorouter logs in, even claiming to be the throttled one');
    });
  });

  it('is the address the load balancer saw with TRUSTED_PROXY_HOPS=2 (load balancer, then gorouter)', async () => {
    await withRegistry({ TRUSTED_PROXY_HOPS: '2' }, async (login) => {
      const gorouter = '10.0.16.4';
      const balancer = '10.0.0.254';
      for (let i = 0; i < LIMIT; i += 1) assert.equal(await login(guess(i, gorouter, `192.0.2.${i}, 203.0.113.9, ${balancer}`)), 401);
      assert.equal(await login(guess(LIMIT, gorouter, `203.0.113.9, ${balancer}`)), 429);
      assert.equal(await login(developerFrom(gorouter, `203.0.113.9, 203.0.113.10, ${balancer}`)), 200);
    });
  });
});
