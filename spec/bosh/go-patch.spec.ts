/**
 * The go-patch subset the ops-file tests apply (support/go-patch.ts), against go-patch's documented
 * behaviour: what replaces, what appends, what `?` creates, what fails and how.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOperations, checkOperation, find, PatchError, type Yaml } from './support/go-patch.ts';

const manifest: Yaml = {
  name: 'cf',
  instance_groups: [
    { name: 'uaa', jobs: [{ name: 'uaa', properties: { uaa: { clients: { cf: { secret: '' } } } } }] },
    { name: 'api', jobs: [{ name: 'cloud_controller_ng', properties: { 'a/b': 1 } }] },
  ],
  variables: [{ name: 'x', type: 'password' }],
};

describe('go-patch', () => {
  it('replaces a map key, an array item by name and by index', () => {
    const result = applyOperations(manifest, [
      { type: 'replace', path: '/name', value: 'cf2' },
      { type: 'replace', path: '/instance_groups/name=api/jobs/0/name', value: 'cc' },
      { type: 'replace', path: '/instance_groups/name=uaa/jobs/name=uaa/properties/uaa/clients/cf/secret', value: 's' },
    ]);
    assert.equal(find(result, '/name'), 'cf2');
    assert.equal(find(result, '/instance_groups/name=api/jobs/0/name'), 'cc');
    assert.equal(find(result, '/instance_groups/name=uaa/jobs/name=uaa/properties/uaa/clients/cf/secret'), 's');
    assert.equal(find(manifest, '/name'), 'cf', 'the input is left alone');
  });

  it('appends with - and with an optional name=value that matches nothing', () => {
    const result = applyOperations(manifest, [
      { type: 'replace', path: '/variables/-', value: { name: 'y' } },
      { type: 'replace', path: '/variables/name=z?', value: { name: 'z', type: 'password' } },
      { type: 'replace', path: '/variables/name=x?', value: { name: 'x', type: 'certificate' } },
    ]);
    assert.deepEqual(find(result, '/variables'), [{ name: 'x', type: 'certificate' }, { name: 'y' }, { name: 'z', type: 'password' }]);
  });

  it('creates what a ? path lacks, every later token optional too', () => {
    const result = applyOperations(manifest, [
      { type: 'replace', path: '/instance_groups/name=registry?/jobs/name=registry/properties/a/b', value: 1 },
      { type: 'replace', path: '/releases?/-', value: { name: 'r' } },
    ]);
    assert.deepEqual(find(result, '/instance_groups/name=registry'), { name: 'registry', jobs: [{ name: 'registry', properties: { a: { b: 1 } } }] });
    assert.deepEqual(find(result, '/releases'), [{ name: 'r' }]);
  });

  it('removes, and skips an optional path that is not there', () => {
    const result = applyOperations(manifest, [
      { type: 'remove', path: '/instance_groups/name=api' },
      { type: 'remove', path: '/variables/name=nope?' },
    ]);
    assert.deepEqual(
      (find(result, '/instance_groups') as Array<{ name: string }>).map((group) => group.name),
      ['uaa'],
    );
  });

  it('reads ~1 as / in a token', () => {
    assert.equal(find(manifest, '/instance_groups/name=api/jobs/0/properties/a~1b'), 1);
  });

  it('fails on paths that do not resolve, naming them', () => {
    assert.throws(() => applyOperations(manifest, [{ type: 'replace', path: '/instance_groups/name=database/jobs', value: [] }]), /expected to find an array item with name=database at \/instance_groups\/name=database/);
    assert.throws(() => applyOperations(manifest, [{ type: 'replace', path: '/nope/x', value: 1 }]), /expected to find a map key 'nope'/);
    assert.throws(() => applyOperations(manifest, [{ type: 'remove', path: '/variables/name=nope' }]), /expected to find \/variables\/name=nope/);
    assert.throws(() => applyOperations(manifest, [{ type: 'replace', path: '/variables/5', value: 1 }]), /index out of range/);
    assert.throws(
      () => applyOperations({ list: [{ name: 'a' }, { name: 'a' }] }, [{ type: 'replace', path: '/list/name=a/x', value: 1 }]),
      /exactly one array item with name=a but found 2/,
    );
  });

  it('checks the shape of an operation', () => {
    assert.deepEqual(checkOperation({ type: 'replace', path: '/a', value: null }, 'op'), { type: 'replace', path: '/a', value: null });
    for (const [operation, message] of [
      [{ type: 'add', path: '/a', value: 1 }, /type must be replace or remove/],
      [{ type: 'replace', path: '/a' }, /a replace needs a value/],
      [{ type: 'remove', path: '/a', value: 1 }, /a remove takes no value/],
      [{ type: 'replace', path: 'a', value: 1 }, /must start with \//],
      [{ type: 'replace', path: '/a/-/b', value: 1 }, /"-" .* must be the last token/],
      [{ type: 'replace', path: '/a', value: 1, values: 2 }, /unknown keys values/],
      ['replace', /an operation must be a map/],
    ] as const) {
      assert.throws(() => checkOperation(operation, 'op'), (error: Error) => error instanceof PatchError && message.test(error.message));
    }
  });
});
