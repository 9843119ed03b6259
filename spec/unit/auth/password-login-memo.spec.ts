import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PasswordLoginMemo } from '../../../src/auth/password-login-memo.ts';
import type { UaaIdentity } from '../../../src/auth/uaa-identity.ts';

const START = 1_000_000_000;

function identity(expiresAtMs?: number): UaaIdentity {
  return { userId: 'user-1', userName: 'alice', scopes: ['cloud_controller.read'], accessToken: 'uaa-token', ...(expiresAtMs === undefined ? {} : { expiresAtMs }) };
}

function memo(options: { ttlMs?: number; staleIfErrorMs?: number } = {}) {
  const clock = { now: START };
  return { memo: new PasswordLoginMemo({ ttlMs: options.ttlMs ?? 60_000, staleIfErrorMs: options.staleIfErrorMs ?? 300_000, now: () => clock.now }), clock };
}

describe('PasswordLoginMemo', () => {
  it('recognizes the same username and password within its TTL, and nothing else', () => {
    const { memo: logins, clock } = memo({ ttlMs: 60_000 });
    logins.remember('alice', 'secret', identity());
    assert.equal(logins.recall('alice', 'secret')?.userId, 'user-1');
    assert.equal(logins.recall('alice', 'Secret'), undefined, 'another password');
    assert.equal(logins.recall('bob', 'secret'), undefined, 'another user');
    clock.now += 60_000;
    assert.equal(logins.recall('alice', 'secret'), undefined, 'past its TTL UAA is asked again');
  });

  it('forgets a user at once (a failed login), and remembers nothing with a TTL of 0', () => {
    const { memo: logins } = memo();
    logins.remember('alice', 'secret', identity());
    logins.forget('alice');
    assert.equal(logins.recall('alice', 'secret'), undefined);
    const { memo: off } = memo({ ttlMs: 0 });
    off.remember('alice', 'secret', identity());
    assert.equal(off.recall('alice', 'secret'), undefined);
  });

  it('never answers with a UAA token about to expire', () => {
    const { memo: logins, clock } = memo({ ttlMs: 600_000 });
    logins.remember('alice', 'secret', identity(START + 120_000));
    clock.now += 89_999;
    assert.ok(logins.recall('alice', 'secret'));
    clock.now += 1;
    assert.equal(logins.recall('alice', 'secret'), undefined, 'within 30 s of the token’s expiry');
  });

  it('stands in for UAA past its TTL within the stale window, never past the token', () => {
    const { memo: logins, clock } = memo({ ttlMs: 60_000, staleIfErrorMs: 300_000 });
    logins.remember('alice', 'secret', identity(START + 3_600_000));
    clock.now += 60_000 + 299_999;
    assert.equal(logins.recall('alice', 'secret'), undefined);
    assert.ok(logins.recallStale('alice', 'secret'));
    assert.equal(logins.recallStale('alice', 'wrong'), undefined);
    clock.now += 1;
    assert.equal(logins.recallStale('alice', 'secret'), undefined);
  });

  it('lets a burst of logins with one username and password share one UAA grant, and remembers it', async () => {
    const { memo: logins } = memo();
    let grants = 0;
    const login = async () => {
      grants += 1;
      await new Promise((resolve) => setImmediate(resolve));
      return identity();
    };
    const answers = await Promise.all(Array.from({ length: 10 }, () => logins.loginOnce('alice', 'secret', login)));
    assert.equal(grants, 1);
    assert.ok(answers.every((answer) => answer.userId === 'user-1'));
    assert.ok(logins.recall('alice', 'secret'));
    await Promise.all([logins.loginOnce('alice', 'secret', login), logins.loginOnce('alice', 'other', login)]);
    assert.equal(grants, 3, 'another password is never answered by the burst of the first');
  });
});
