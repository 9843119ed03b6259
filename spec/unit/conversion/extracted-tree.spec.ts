import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ExtractedTree } from '../../../src/conversion/extracted-tree.ts';

const path = (text: string): string[] => text.split('/');

describe('ExtractedTree', () => {
  it('knows the root, what was placed, the parents it implied, and nothing else', () => {
    const tree = new ExtractedTree();
    tree.place(path('app/lib/x.js'), 'file');
    assert.deepEqual(tree.find([]), { kind: 'directory' });
    assert.deepEqual(tree.find(path('app/lib/x.js')), { kind: 'file' });
    assert.deepEqual(tree.find(path('app/lib')), { kind: 'implicit-directory' });
    assert.deepEqual(tree.find(path('app/lib/y.js')), { kind: undefined });
    assert.deepEqual(tree.find(path('deps')), { kind: undefined });
  });

  it('replaces as extraction does: a directory over a directory keeps its contents, anything else drops them', () => {
    const tree = new ExtractedTree();
    tree.place(path('app/d/f'), 'file');
    tree.place(path('app/d'), 'directory');
    assert.deepEqual(tree.find(path('app/d/f')), { kind: 'file' });
    tree.place(path('app/d'), 'file');
    tree.place(path('app/d'), 'directory');
    assert.deepEqual(tree.find(path('app/d/f')), { kind: undefined });
  });

  it('stops at a symlink or a non-directory in the parent path, placing nothing under it', () => {
    const tree = new ExtractedTree();
    tree.place(path('app/s'), 'symlink');
    tree.place(path('app/h'), 'link');
    assert.deepEqual(tree.place(path('app/s/x/y'), 'file'), { blockedAt: 'app/s', blockerKind: 'symlink' });
    assert.deepEqual(tree.find(path('app/s/x')), { blockedAt: 'app/s', blockerKind: 'symlink' });
    assert.deepEqual(tree.place(path('app/h/x'), 'directory'), { blockedAt: 'app/h', blockerKind: 'link' });
    tree.place(path('app/s'), 'directory');
    assert.deepEqual(tree.find(path('app/s/x/y')), { kind: undefined });
  });

  it('charges each new path its name and a fixed overhead, a repeated one nothing, and refuses past its budget', () => {
    const tree = new ExtractedTree(300);
    assert.equal(tree.place(path('app/a'), 'file'), undefined);
    const charged = tree.chargedBytes;
    assert.equal(tree.place(path('app/a'), 'symlink'), undefined);
    assert.equal(tree.chargedBytes, charged);
    assert.deepEqual(tree.place(path(`app/${'x'.repeat(300)}`), 'file'), { overBudget: true });
    assert.deepEqual(tree.find(path(`app/${'x'.repeat(300)}`)), { kind: undefined });
    assert.equal(tree.chargedBytes, charged);
  });

  it('does not keep alive the long names its paths were cut from', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const tree = new ExtractedTree();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 5000; i += 1) {
      // As a droplet can spell it: 4 KB of "./" around a short name, which split() returns as a slice of it.
      const components = `${'./'.repeat(2000)}app/a-component-of-some-length-${i}`.split('/').filter((c) => c !== '.');
      tree.place(components, 'file');
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 5000 * 1024, `the tree holds ${grown} bytes for 5,000 short paths (${tree.chargedBytes} charged)`);
  });
});
