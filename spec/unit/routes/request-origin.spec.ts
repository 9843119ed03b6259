import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBehindProxies } from '../../../src/routes/request-origin.ts';

describe('addressBehindProxies', () => {
  it('is the socket peer without trusted proxies, whatever X-Forwarded-For says', () => {
    assert.equal(addressBehindProxies('198.51.100.7', undefined, 0), '198.51.100.7');
    assert.equal(addressBehindProxies('198.51.100.7', '192.0.2.1, 192.0.2.2', 0), '198.51.100.7');
  });

  it('counts from the right: the address the outermost trusted proxy saw', () => {
    assert.equal(addressBehindProxies('10.0.16.4', '203.0.113.9', 1), '203.0.113.9', 'the gorouter appended what it saw');
    assert.equal(addressBehindProxies('10.0.16.4', 'forged, 203.0.113.9', 1), '203.0.113.9', 'what the client wrote is left of it');
    assert.equal(addressBehindProxies('10.0.16.4', 'forged,203.0.113.9 , 10.0.0.254', 2), '203.0.113.9', 'a load balancer, then the gorouter');
  });

  it('takes the leftmost address there is when fewer proxies were passed than configured', () => {
    assert.equal(addressBehindProxies('10.0.16.4', undefined, 1), '10.0.16.4');
    assert.equal(addressBehindProxies('10.0.16.4', ' , 203.0.113.9', 3), '203.0.113.9', 'empty entries are no addresses');
  });
});
