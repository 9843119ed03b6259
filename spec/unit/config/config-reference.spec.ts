import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configReference } from '../../../src/config/config-reference.ts';

describe('configuration reference', () => {
  const reference = configReference();

  it('is the committed docs/configuration.md (run `npm run docs:config` after changing the schema)', () => {
    assert.equal(readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8'), reference);
  });

  it('lists every setting with its variable, default and accepted values, and never a secret', () => {
    assert.match(reference, /^\| `PORT` \| `port` \| `5000` \| a TCP port \(0-65535\) \| /m);
    assert.match(reference, /^\| `AUTH` \| `auth` \| `auto` \| one of `auto`, `uaa`, `none` \| /m);
    assert.match(reference, /^\| `TOKEN_MAX_REPOSITORIES` \| `token\.maxRepositories` \| `16` \| a whole number ≥ 1 \| /m);
    assert.match(reference, /^\| `UAA_CLIENT_SECRET` \| `uaa\.clientSecret` \| \*\(empty; secret\)\* \| /m);
  });
});
