import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerChallenge, registryOrigin } from '../../../src/auth/registry-origin.ts';

const unset = { publicUrl: '', service: '' };

describe('registry origin', () => {
  it('comes from PUBLIC_URL, the service from its host unless TOKEN_SERVICE says otherwise', () => {
    const request = { host: 'internal:5000', forwardedProto: undefined, protocol: 'http' };
    assert.deepEqual(registryOrigin({ publicUrl: 'https://registry.sys.example.com/', service: '' }, request), {
      url: 'https://registry.sys.example.com',
      service: 'registry.sys.example.com',
    });
    assert.equal(registryOrigin({ publicUrl: 'https://registry.sys.example.com', service: 'droplets' }, request).service, 'droplets');
  });

  it('comes from the request as the gorouter forwards it when not configured', () => {
    assert.deepEqual(registryOrigin(unset, { host: 'registry.sys.example.com', forwardedProto: 'https', protocol: 'http' }), {
      url: 'https://registry.sys.example.com',
      service: 'registry.sys.example.com',
    });
    assert.equal(registryOrigin(unset, { host: '127.0.0.1:5000', forwardedProto: 'gopher', protocol: 'http' }).url, 'http://127.0.0.1:5000');
    assert.equal(registryOrigin(unset, { host: 'a"b', forwardedProto: undefined, protocol: 'http' }).service, 'ab', 'a Host cannot break the challenge');
  });

  it('challenges with realm, service and, for a repository, its pull scope', () => {
    const origin = { url: 'https://registry.sys.example.com', service: 'registry.sys.example.com' };
    assert.equal(bearerChallenge(origin), 'Bearer realm="https://registry.sys.example.com/v2/token",service="registry.sys.example.com"');
    assert.equal(
      bearerChallenge(origin, 'repository:acme/dev/web:pull'),
      'Bearer realm="https://registry.sys.example.com/v2/token",service="registry.sys.example.com",scope="repository:acme/dev/web:pull"',
    );
  });
});
