import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestedRepositories } from '../../../src/auth/access-scopes.ts';

describe('requested repositories', () => {
  it('reads repeated scope parameters (docker) and space-separated ones (containerd)', () => {
    assert.deepEqual(requestedRepositories(['repository:acme/dev/web:pull', 'repository:acme/dev/api:pull']), ['acme/dev/web', 'acme/dev/api']);
    assert.deepEqual(requestedRepositories(['repository:acme/dev/web:pull repository:acme/dev/api:pull']), ['acme/dev/web', 'acme/dev/api']);
  });

  it('asks push and * as pull, once per name', () => {
    assert.deepEqual(requestedRepositories(['repository:acme/dev/web:pull,push', 'repository:acme/dev/web:push', 'repository:acme/dev/api:*']), ['acme/dev/web', 'acme/dev/api']);
  });

  it('keeps colons inside the name (a host with a port)', () => {
    assert.deepEqual(requestedRepositories(['repository:127.0.0.1:5000/acme/dev/web:pull']), ['127.0.0.1:5000/acme/dev/web']);
  });

  it('takes the first `max` distinct names and drops names longer than any repository can have', () => {
    const scopes = ['repository:a/b/c:pull', 'repository:a/b/c:push', `repository:a/b/${'x'.repeat(256)}:pull`, 'repository:a/b/d:pull', 'repository:a/b/e:pull'];
    assert.deepEqual(requestedRepositories(scopes, 2), ['a/b/c', 'a/b/d']);
    assert.deepEqual(requestedRepositories(scopes), ['a/b/c', 'a/b/d', 'a/b/e']);
  });

  it('ignores other resource types, unknown actions and malformed scopes', () => {
    assert.deepEqual(requestedRepositories(['registry:catalog:*', 'repository:acme/dev/web:delete', 'repository:acme/dev/web', 'repository::pull', 'pull', '', '   ']), []);
  });
});
