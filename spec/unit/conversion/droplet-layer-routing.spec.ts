import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APP_LAYER, DEPS_LAYER_MTIME, DropletLayerRouter, layerRank, MAX_DEPS_LAYERS } from '../../../src/conversion/droplet-layer-routing.ts';
import type { EntryHeader } from '../../../src/conversion/rewrite-tar.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';

const STAGED = new Date('2026-11-02T10:20:30Z');

function entry(name: string, fields: Partial<EntryHeader> = {}): EntryHeader {
  const type = fields.type ?? (name.endsWith('/') ? 'directory' : 'file');
  return { name, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: STAGED, size: 0, uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap', ...fields };
}

describe('DropletLayerRouter', () => {
  it('names the layer of a path: deps/0 … deps/31 by their own, everything else the app', () => {
    const router = new DropletLayerRouter({ splitDeps: true });
    const cases: Array<[string, string]> = [
      ['home/vcap/deps/0', '0'],
      ['home/vcap/deps/0/bin/node', '0'],
      ['home/vcap/deps/31/x', '31'],
      ['home/vcap/deps/32/x', APP_LAYER],
      ['home/vcap/deps/07/x', APP_LAYER],
      ['home/vcap/deps/-1/x', APP_LAYER],
      ['home/vcap/deps/cache', APP_LAYER],
      ['home/vcap/deps', APP_LAYER],
      ['home/vcap/app/deps/0/x', APP_LAYER],
      ['home/vcap/staging_info.yml', APP_LAYER],
    ];
    for (const [path, layer] of cases) assert.equal(router.layerOf(path), layer, path);
    assert.equal(MAX_DEPS_LAYERS, 32);
    assert.ok(layerRank('31') < layerRank(APP_LAYER) && layerRank('2') < layerRank('10'), 'numeric order, the app on top');
  });

  it('without the split, passes every entry to the app layer untouched', () => {
    const router = new DropletLayerRouter({ splitDeps: false });
    const header = entry('home/vcap/deps/0/x');
    assert.deepEqual(router.route(header, false), { layer: APP_LAYER, header, before: [], copies: [] });
    assert.deepEqual(header.mtime, STAGED);
  });

  it('fixes the timestamps of deps entries, starts each deps layer with the same deps/ directory, keeps modes', () => {
    const router = new DropletLayerRouter({ splitDeps: true });
    const first = router.route(entry('home/vcap/deps/1/', { mode: 0o700 }), false);
    assert.equal(first.layer, '1');
    assert.deepEqual(first.before, [{ name: 'home/vcap/deps/', type: 'directory', mode: 0o755, mtime: DEPS_LAYER_MTIME, size: 0, uid: 2000, gid: 2000, uname: 'vcap', gname: 'vcap' }]);
    assert.deepEqual([first.header.mode, first.header.mtime], [0o700, DEPS_LAYER_MTIME]);
    assert.deepEqual(router.route(entry('home/vcap/deps/1/x'), false).before, [], 'once a layer');
    const app = router.route(entry('home/vcap/deps/'), false);
    assert.deepEqual([app.layer, app.header.mtime, app.before], [APP_LAYER, STAGED, []]);
  });

  it("moves a link in app/ to a file of deps/0 into that layer with the layer's fixed timestamp, so a restage keeps the layer", () => {
    const router = new DropletLayerRouter({ splitDeps: true });
    router.route(entry('home/vcap/deps/0/LICENSE'), false);
    const link = router.route(entry('home/vcap/app/LICENSE', { type: 'link', linkname: 'home/vcap/deps/0/LICENSE' }), false);
    assert.equal(link.layer, '0');
    assert.deepEqual(link.header.mtime, DEPS_LAYER_MTIME);
  });

  it('gives a link moved up the directories it needs there, and copies a directory entry that comes after with another mode', () => {
    const router = new DropletLayerRouter({ splitDeps: true });
    router.route(entry('home/vcap/app/f'), false);
    const link = router.route(entry('home/vcap/deps/0/d/l', { type: 'link', linkname: 'home/vcap/app/f' }), false);
    assert.equal(link.layer, APP_LAYER);
    assert.deepEqual(
      link.before.map((header) => [header.name, header.mode, header.mtime]),
      [
        ['home/vcap/deps/0/', 0o755, DEPS_LAYER_MTIME],
        ['home/vcap/deps/0/d/', 0o755, DEPS_LAYER_MTIME],
      ],
    );
    const directory = router.route(entry('home/vcap/deps/0/d/', { mode: 0o700 }), false);
    assert.equal(directory.layer, '0');
    assert.deepEqual(
      directory.copies.map((copy) => [copy.layer, copy.header.name, copy.header.mode, copy.header.mtime]),
      [[APP_LAYER, 'home/vcap/deps/0/d/', 0o700, DEPS_LAYER_MTIME]],
    );
    assert.deepEqual(router.route(entry('home/vcap/deps/0/d/', { mode: 0o700 }), false).copies, [], 'nothing new to copy');
    assert.deepEqual(router.route(entry('home/vcap/deps/0/', { mode: 0o755 }), false).copies, [], 'the mode written there already');
  });

  it('refuses once its notes pass their budget, naming where', () => {
    const router = new DropletLayerRouter({ splitDeps: true });
    // Only directories with a mode other than 0755 are noted: none in real droplets.
    const long = 'd'.repeat(4000);
    assert.throws(
      () => {
        for (let index = 0; index < 10_000; index += 1) router.route(entry(`home/vcap/deps/0/${index}${long}/`, { mode: 0o700 }), false);
      },
      (error: unknown) => error instanceof InvalidDropletError && /^droplet has more hard links across deps layers and unusual deps directory modes than a conversion keeps track of \(over 16 MiB of names\), reached at "\.\/deps\/0\/\d+d+"$/.test(error.message),
    );
    const plain = new DropletLayerRouter({ splitDeps: true });
    for (let index = 0; index < 10_000; index += 1) plain.route(entry(`home/vcap/deps/0/${index}${long}/`), false);
  });
});
