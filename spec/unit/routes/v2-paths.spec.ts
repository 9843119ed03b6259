import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { isTag, parseV2Path } from '../../../src/routes/v2-paths.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RegistryError);
    return error.code;
  }
}

describe('parseV2Path', () => {
  it('splits org/space/app and dispatches on the endpoint', () => {
    assert.deepEqual(parseV2Path('my-org/dev/hello/manifests/latest'), {
      kind: 'manifest',
      repository: { org: 'my-org', space: 'dev', app: 'hello' },
      reference: 'latest',
    });
    assert.deepEqual(parseV2Path(`o/s/a/blobs/sha256:${'a'.repeat(64)}`), {
      kind: 'blob',
      repository: { org: 'o', space: 's', app: 'a' },
      digest: `sha256:${'a'.repeat(64)}`,
    });
    assert.deepEqual(parseV2Path('o/s/a/tags/list'), { kind: 'tags', repository: { org: 'o', space: 's', app: 'a' } });
    assert.equal(parseV2Path('o/s/a/referrers/sha256:abc')?.kind, 'referrers');
  });

  it('takes the last endpoint word when a name component looks like one', () => {
    assert.deepEqual(parseV2Path('org/manifests/app/manifests/v1'), {
      kind: 'manifest',
      repository: { org: 'org', space: 'manifests', app: 'app' },
      reference: 'v1',
    });
  });

  it('answers nothing for paths that are no endpoint', () => {
    assert.equal(parseV2Path('o/s/a'), undefined);
    assert.equal(parseV2Path('o/s/a/manifests/'), undefined);
    assert.equal(parseV2Path('_catalog'), undefined);
  });

  it('refuses names outside the OCI grammar with NAME_INVALID', () => {
    assert.equal(codeOf(() => parseV2Path('My-Org/dev/hello/manifests/latest')), 'NAME_INVALID');
    assert.equal(codeOf(() => parseV2Path('org/-dev/hello/manifests/latest')), 'NAME_INVALID');
    assert.equal(codeOf(() => parseV2Path('org//hello/manifests/latest')), 'NAME_INVALID');
    assert.equal(codeOf(() => parseV2Path('org/dev/hello../tags/list')), 'NAME_INVALID');
  });

  it("accepts an app guid alone, the original spike's form", () => {
    assert.deepEqual(parseV2Path('7b34f1cf-0d1c-4ad9-9ea2-7d44a4f4a1b2/manifests/latest'), {
      kind: 'manifest',
      repository: { appGuid: '7b34f1cf-0d1c-4ad9-9ea2-7d44a4f4a1b2' },
      reference: 'latest',
    });
  });

  it('answers NAME_UNKNOWN for valid names that are not org/space/app', () => {
    assert.equal(codeOf(() => parseV2Path('hello/manifests/latest')), 'NAME_UNKNOWN');
    assert.equal(codeOf(() => parseV2Path('a/b/c/d/manifests/latest')), 'NAME_UNKNOWN');
  });
});

describe('isTag', () => {
  it('follows the spec grammar', () => {
    assert.ok(isTag('latest'));
    assert.ok(isTag('585bc3c1-3743-497d-88b0-403ad6b56d16'));
    assert.ok(isTag('_x.Y-1'));
    assert.ok(!isTag('.INVALID_MANIFEST_NAME'));
    assert.ok(!isTag('-x'));
    assert.ok(!isTag('a'.repeat(129)));
    assert.ok(isTag('a'.repeat(128)));
  });
});
