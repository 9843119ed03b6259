/**
 * Property test of the split conversion against seeded small droplets that mix deps and app
 * entries in any order, with hard links between any of them, directories and files written more
 * than once, and symlinks: whenever the single-layer conversion takes a droplet, the split one
 * either gives layers that each extract on their own (no hard link reaches into another layer)
 * and that, extracted bottom → top with GNU tar, make the tree the single layer makes (same
 * files, contents, modes, symlinks, and files sharing an inode where the single layer's do), or
 * refuses it as a droplet it cannot split; whenever the single-layer conversion refuses one, the
 * split one refuses it with the same error. Nothing is ever left in the store on refusal.
 *
 * Replay: `FUZZ_SEED=<seed> FUZZ_CASES=<n>`; a failure prints each failing case's seed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { convertDropletLayers, type DropletLayer } from '../../../src/conversion/convert-droplet-layers.ts';
import { APP_LAYER, DropletLayerRouter } from '../../../src/conversion/droplet-layer-routing.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';
import { buildDroplet, type DropletEntry } from '../../support/build-droplet.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { provisionCommands, skipOrFail } from '../../support/requirements.ts';
import { SeededRandom } from '../../support/seeded-random.ts';
import { readLayer } from './read-tar.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_205);
const CASES = Number(process.env.FUZZ_CASES ?? 120);

const DIRECTORIES = ['app', 'app/d', 'deps', 'deps/0', 'deps/0/d', 'deps/1', 'deps/1/d', 'deps/40', 'tmp'];
const LEAVES = ['app/a', 'app/b', 'app/d/e', 'deps/0/a', 'deps/0/d/e', 'deps/0/d/f', 'deps/1/a', 'deps/1/d/e', 'deps/40/a', 'tmp/x', 'staging_info.yml'];

function generate(seed: number): DropletEntry[] {
  const random = new SeededRandom(seed);
  const entries: DropletEntry[] = [{ name: './app/', type: 'directory' }];
  // Mostly links to what is there (a file or link written before), sometimes to anything.
  const written: string[] = [];
  for (let count = random.int(4, 18); count > 0; count -= 1) {
    const roll = random.next();
    const leaf = random.pick(LEAVES);
    if (roll < 0.2) entries.push({ name: `./${random.pick(DIRECTORIES)}/`, type: 'directory', mode: random.pick([0o755, 0o750, 0o700]) });
    else if (roll < 0.55) {
      entries.push({ name: `./${leaf}`, content: `${random.int(0, 1e6)}`, mode: random.pick([0o644, 0o755, 0o600]) });
      written.push(leaf);
    } else if (roll < 0.92) {
      const target = written.length > 0 && random.chance(0.9) ? random.pick(written) : random.pick(LEAVES);
      entries.push({ name: `./${leaf}`, type: 'link', linkname: `./${target}` });
      written.push(leaf);
    } else {
      // No absolute or "../" targets: GNU tar puts those in place at the end of an archive, which can undo a later entry.
      entries.push({ name: `./${leaf}`, type: 'symlink', linkname: random.pick(['elsewhere', 'a']) });
    }
  }
  return entries;
}

/** The tree under `root`: each path with its type and mode, content or target, and the files sharing an inode. */
async function describeTree(root: string): Promise<string[]> {
  const lines: string[] = [];
  const inodes = new Map<number, string[]>();
  const walk = async (dir: string, relative: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const shown = relative === '' ? name : `${relative}/${name}`;
      const stat = await lstat(path);
      if (stat.isDirectory()) {
        // Owners left out: a directory the droplet has no entry for is root's when tar makes it, vcap's when the split does.
        lines.push(`${shown}/ ${(stat.mode & 0o7777).toString(8)}`);
        await walk(path, shown);
      } else if (stat.isSymbolicLink()) lines.push(`${shown} -> ${await readlink(path)}`);
      else {
        inodes.set(stat.ino, [...(inodes.get(stat.ino) ?? []), shown]);
        lines.push(`${shown} ${(stat.mode & 0o7777).toString(8)} ${createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 12)}`);
      }
    }
  };
  await walk(root, '');
  for (const group of inodes.values()) if (group.length > 1) lines.push(`same inode: ${group.sort().join(' ')}`);
  return lines.sort();
}

async function extract(blobs: MemoryBlobStore, layers: readonly DropletLayer[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [index, layer] of layers.entries()) {
    const file = `${dir}-${index}.tgz`;
    await writeFile(file, blobs.bytes(layer.digest));
    execFileSync('tar', ['-xzf', file, '-C', dir], { stdio: 'pipe' });
  }
}

async function convert(droplet: Buffer, blobs: MemoryBlobStore, splitDeps: boolean): Promise<DropletLayer[] | InvalidDropletError> {
  try {
    return await convertDropletLayers({ droplet: Readable.from([droplet]), blobs, compressionLevel: 1, splitDeps });
  } catch (error) {
    if (error instanceof InvalidDropletError) return error;
    throw error;
  }
}

/** How one case went, and what is wrong with it (nothing when the property holds). */
interface CaseOutcome {
  readonly kind: 'both refused' | 'split refused' | 'split';
  /** Whether a hard link went into another layer than its own. */
  readonly linkMoved: boolean;
  readonly problems: readonly string[];
}

async function checkCase(seed: number, work: string): Promise<CaseOutcome> {
  const droplet = await buildDroplet(generate(seed));
  const singleStore = new MemoryBlobStore();
  const splitStore = new MemoryBlobStore();
  const single = await convert(droplet, singleStore, false);
  const split = await convert(droplet, splitStore, true);
  if (split instanceof InvalidDropletError) {
    const outcome = (kind: CaseOutcome['kind'], problems: string[]): CaseOutcome => ({ kind, linkMoved: false, problems });
    const left = splitStore.digests().length + splitStore.stagedCount();
    if (left > 0) return outcome('split refused', [`refused but left ${left} blobs or staged writes`]);
    // The split may stop at a droplet it cannot express before it reaches what the single layer refuses.
    const splitOnly = /split droplet layers cannot express it/.test(split.message);
    if (single instanceof InvalidDropletError) return outcome('both refused', single.message === split.message || splitOnly ? [] : [`refused with ${split.message}, the single layer with ${single.message}`]);
    return outcome('split refused', splitOnly ? [] : [`refused what the single layer takes: ${split.message}`]);
  }
  if (single instanceof InvalidDropletError) return { kind: 'split', linkMoved: false, problems: [`converted what the single layer refuses: ${single.message}`] };
  const router = new DropletLayerRouter({ splitDeps: true });
  let linkMoved = false;
  for (const layer of split) {
    const key = layer.role === 'app' ? APP_LAYER : layer.depsIndex;
    for (const { header } of await readLayer(splitStore, layer.digest)) if (header.type === 'link' && router.layerOf(header.name) !== key) linkMoved = true;
  }
  const dir = join(work, String(seed));
  const problems: string[] = [];
  for (const [index, layer] of split.entries()) {
    try {
      await extract(splitStore, [layer], join(dir, `alone-${index}`));
    } catch (error) {
      problems.push(`layer ${index} does not extract on its own: ${String((error as { stderr?: unknown }).stderr ?? error)}`);
    }
  }
  await extract(singleStore, single, join(dir, 'single'));
  await extract(splitStore, split, join(dir, 'split'));
  const [want, got] = [await describeTree(join(dir, 'single')), await describeTree(join(dir, 'split'))];
  if (want.join('\n') !== got.join('\n')) problems.push(`trees differ:\n  single: ${want.join(' | ')}\n  split:  ${got.join(' | ')}`);
  await rm(dir, { recursive: true, force: true });
  return { kind: 'split', linkMoved, problems };
}

describe('split conversion of seeded droplets', { skip: skipOrFail(provisionCommands({ tar: 'tar' })) }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fuzz-split-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it(`splits faithfully or refuses clearly (seed ${SEED}, ${CASES} cases)`, async () => {
    const failures: string[] = [];
    const outcomes: CaseOutcome[] = [];
    for (let index = 0; index < CASES; index += 1) {
      const seed = (SEED + index * 0x9e3779b9) >>> 0;
      const outcome = await checkCase(seed, work);
      outcomes.push(outcome);
      if (outcome.problems.length > 0) failures.push(`FUZZ_SEED=${seed} FUZZ_CASES=1: ${outcome.problems.join('; ')}`);
    }
    assert.deepEqual(failures, []);
    // The mix tests every half: split droplets, with links moved between layers, and refusals of both kinds.
    const count = (test: (outcome: CaseOutcome) => boolean): number => outcomes.filter(test).length;
    const mix = { split: count((o) => o.kind === 'split'), moved: count((o) => o.linkMoved), splitRefused: count((o) => o.kind === 'split refused'), bothRefused: count((o) => o.kind === 'both refused') };
    assert.ok(mix.split >= CASES * 0.2 && mix.moved >= CASES * 0.1 && mix.splitRefused > 0 && mix.bothRefused > 0, `a one-sided mix: ${JSON.stringify(mix)}`);
  });
});
