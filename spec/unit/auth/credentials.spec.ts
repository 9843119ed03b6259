import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { basicCredentials, bearerToken, uaaTokenIn } from '../../../src/auth/credentials.ts';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

describe('credentials', () => {
  it('reads Basic credentials, passwords with colons included', () => {
    const header = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
    assert.deepEqual(basicCredentials(header('alice:s3:cr:et')), { username: 'alice', password: 's3:cr:et' });
    assert.deepEqual(basicCredentials(`basic ${Buffer.from('alice:').toString('base64')}`), { username: 'alice', password: '' });
    assert.equal(basicCredentials(header('no-colon')), undefined);
    assert.equal(basicCredentials(`Bearer ${JWT}`), undefined);
    assert.equal(basicCredentials(undefined), undefined);
  });

  it('takes a JWT-shaped password for a UAA token, with or without the bearer prefix of cf oauth-token', () => {
    assert.equal(uaaTokenIn(JWT), JWT);
    assert.equal(uaaTokenIn(`bearer ${JWT}`), JWT);
    assert.equal(uaaTokenIn(`Bearer ${JWT}\n`), JWT);
    assert.equal(uaaTokenIn('correct horse battery staple'), undefined);
    assert.equal(uaaTokenIn('a.b'), undefined);
  });

  it('takes three dot-separated words for a password unless the first is a JWS header', () => {
    assert.equal(uaaTokenIn('correct.horse.battery'), undefined);
    assert.equal(uaaTokenIn('eyJub3QiOiJhIGhlYWRlciJ9.eyJzdWIiOiJ4In0.c2ln'), undefined, 'JSON without alg');
    assert.equal(uaaTokenIn(`bearer ${JWT}`), JWT);
  });

  it('reads Bearer tokens in any case', () => {
    assert.equal(bearerToken(`bearer ${JWT}`), JWT);
    assert.equal(bearerToken(`BEARER ${JWT}`), JWT);
    assert.equal(bearerToken(`Basic ${JWT}`), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});
