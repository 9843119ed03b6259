import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { TokenGate } from '../../../src/auth/pull-gate.ts';
import { RegistryTokens } from '../../../src/auth/registry-tokens.ts';
import { tokenKeys } from '../../../src/auth/signing-keys.ts';
import { RegistryError } from '../../../src/errors/registry-error.ts';

const ORIGIN = { url: 'https://registry.example.com', service: 'registry.example.com' };
const CHALLENGE = 'Bearer realm="https://registry.example.com/v2/token",service="registry.example.com"';

const tokens = new RegistryTokens({ keys: await tokenKeys([generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey]), ttlSeconds: 300 });
const gate = new TokenGate(tokens);
const { token } = await tokens.issue(
  {
    subject: 'u-1',
    userName: 'sam',
    access: [{ name: 'acme/dev/web', appGuid: 'b8a2a5c4-1111-4c3e-9a52-3d1c1c0e0a01' }],
    denied: [
      { name: 'acme/dev/secret', reason: 'forbidden' },
      { name: 'acme/prod/api', reason: 'not_found' },
    ],
  },
  ORIGIN,
);
const withToken = { authorization: `Bearer ${token}`, origin: ORIGIN };
const anonymous = { authorization: undefined, origin: ORIGIN };

function refusal(code: string, check: (error: RegistryError) => void = () => {}) {
  return (error: unknown) => {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, code, error.message);
    check(error);
    return true;
  };
}

describe('pull gate', () => {
  it('admits /v2/ with any valid registry token, and challenges without one', async () => {
    await gate.admit(withToken);
    await assert.rejects(gate.admit(anonymous), refusal('UNAUTHORIZED', (error) => assert.equal(error.headers['WWW-Authenticate'], CHALLENGE)));
    await assert.rejects(gate.admit({ authorization: `Basic ${token}`, origin: ORIGIN }), refusal('UNAUTHORIZED'));
    await assert.rejects(gate.admit({ authorization: 'Bearer not.a.token', origin: ORIGIN }), refusal('UNAUTHORIZED'));
  });

  it('lets a token pull the repositories it grants, bound to the app guid the grant was decided for', async () => {
    assert.equal(await gate.authorize(withToken, 'acme/dev/web'), 'b8a2a5c4-1111-4c3e-9a52-3d1c1c0e0a01');
  });

  it('challenges for the repository when the token does not grant it (a token for another repository), or there is none', async () => {
    const challenged = refusal('UNAUTHORIZED', (error) => assert.equal(error.headers['WWW-Authenticate'], `${CHALLENGE},scope="repository:acme/dev/other:pull"`));
    await assert.rejects(gate.authorize(withToken, 'acme/dev/other'), challenged);
    await assert.rejects(gate.authorize(anonymous, 'acme/dev/other'), challenged);
  });

  it("answers Cloud Controller's refusals: 403 DENIED for forbidden, 404 NAME_UNKNOWN for not found", async () => {
    await assert.rejects(
      gate.authorize(withToken, 'acme/dev/secret'),
      refusal('DENIED', (error) => assert.match(error.message, /sam may not download droplets of this app: .*space supporters cannot/)),
    );
    await assert.rejects(gate.authorize(withToken, 'acme/prod/api'), refusal('NAME_UNKNOWN', (error) => assert.equal(error.message, 'repository acme/prod/api not found')));
  });

  it('refuses a token presented to another registry', async () => {
    await assert.rejects(gate.authorize({ ...withToken, origin: { url: 'https://evil.example.com', service: 'evil.example.com' } }, 'acme/dev/web'), refusal('UNAUTHORIZED'));
  });
});
