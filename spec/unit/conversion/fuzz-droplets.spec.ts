/**
 * Property test of the droplet conversion against seeded hostile droplets
 * (`hostile-droplet-generator.ts`): each conversion either succeeds with a layer whose every entry
 * is safe under /home/vcap, or fails with an `InvalidDropletError` that names the problem — never
 * another error, never a hang, and never a blob or staged file left in a real `FsBlobStore`.
 *
 * Replay: `FUZZ_SEED=<seed> FUZZ_CASES=<n>` reruns a run; a failure prints each failing case's
 * own seed, and `FUZZ_CASE_SEED=<seed>` runs just that case.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { convertDroplet } from '../../../src/conversion/convert-droplet.ts';
import { createEntryRuleState, rewriteDropletEntry } from '../../../src/conversion/droplet-entry-rules.ts';
import { createTarRewrite } from '../../../src/conversion/rewrite-tar.ts';
import type { LayerDescriptor } from '../../../src/conversion/layer-descriptor.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';
import { BODY_MARKER, ENTRY_KINDS, generateHostileDroplet, type EntryKind, type HostileDroplet } from '../../support/hostile-droplet-generator.ts';
import { END_OF_ARCHIVE, paxHeader, paxRecord, rawEntry } from '../../support/raw-tar.ts';
import { readTar, type ReadEntry } from './read-tar.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_128);
const CASES = Number(process.env.FUZZ_CASES ?? 300);
const ONLY = process.env.FUZZ_CASE_SEED === undefined ? undefined : Number(process.env.FUZZ_CASE_SEED);
/** Far above what any case takes (milliseconds); reaching it means the conversion hangs. */
const HANG_MS = 30_000;

/**
 * What an `InvalidDropletError` may say: each names one problem a user can act on. A message
 * matching none of these is a failure of the property (it names nothing, or something unexpected).
 */
const PROBLEMS = [
  /escapes the droplet through "\.\."/,
  /is an absolute path/,
  /starting with "\.wh\.", which Docker reads as a whiteout/,
  /is a (character device|block device|fifo); only files, directories and links are allowed/,
  /has an unsupported tar entry type/,
  /hard link .* (has an empty target|is not earlier in the droplet|which is a directory|which escapes|which is an absolute path|which has a path component|which lies under)/,
  /symlink .* has an empty target/,
  /is a sparse file/,
  /names the droplet root but is not a directory/,
  /replaces the droplet's app\/ directory with a (file|symlink|hard link)$/,
  /^droplet has no app\/ directory/,
  /^droplet is empty \(its tar archive has no entries\)$/,
  /has a (name|link target) of \d+ bytes, over the limit of 4096 \(PATH_MAX\)$/,
  /has \d+ bytes of PAX extended header records, over the limit of 1048576 \(1 MiB\)$/,
  /^droplet has more paths than a conversion keeps track of/,
  /lies under ".*", which is a (file|hard link) \(not a directory\) at that point of the droplet$/,
  /^droplet is truncated \((its gzip stream ends early|its tar archive ends in the middle of an entry)\)$/,
  /^droplet is not a gzip file$/,
  /^droplet has corrupt gzip data \(.+\)$/,
  /^droplet has data after the end of its gzip stream$/,
  /^droplet is not a valid tar archive \(invalid tar header\)$/,
  /^droplet has a tar extended header over 4 MiB$/,
  /^droplet has more than \d+ entries \(limit maxEntries\)$/,
  /^droplet unpacks to more than \d+ bytes \(limit maxUncompressedBytes\)$/,
  /^droplet is over \d+ bytes before unpacking \(limit maxUncompressedBytes\)$/,
  // The messages proposed with the droplet-entry-rules fix (docs/reliability.md).
  /has a NUL byte in its (name|link target)/,
  /lies under the symlink ".*" earlier in the droplet/,
];

const LAYER_PREFIX = 'home/vcap/';
/** PATH_MAX: no name or link target of a layer entry may be longer (relative to LAYER_PREFIX). */
const MAX_NAME_BYTES = 4096;

interface Outcome {
  readonly droplet: HostileDroplet;
  readonly result: 'converted' | 'refused';
  /** Property violations; empty when the case holds. */
  readonly problems: string[];
  /** Violations of the two properties checked apart: NUL-cut names and entries under a planted symlink. */
  readonly pendingProblems: string[];
}

describe('conversion of seeded hostile droplets', () => {
  let work: string;
  /** Every seeded case, converted once up front; the tests only read it. */
  let outcomes: readonly Outcome[];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'fuzz-droplets-'));
    const seeds = ONLY === undefined ? Array.from({ length: CASES }, (_, i) => (SEED + i * 0x9e3779b9) >>> 0) : [ONLY];
    const converted: Outcome[] = [];
    for (const [index, seed] of seeds.entries()) converted.push(await runCase(generateHostileDroplet(seed), join(work, `case-${index}`)));
    outcomes = converted;
  }, { timeout: 20 * 60_000 });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it(`converts safely or refuses clearly, leaving no blob behind (seed ${SEED}, ${CASES} cases)`, () => {
    const failing = outcomes.filter((outcome) => outcome.problems.length > 0);
    assert.deepEqual(failing.map(describeFailure), [], `${failing.length} of ${outcomes.length} cases broke the property`);
  });

  it('generates what it claims: every entry kind, good and refused droplets alike', { skip: ONLY !== undefined && 'one case replayed' }, () => {
    const seen = new Set<EntryKind>(outcomes.flatMap((outcome) => outcome.droplet.kinds));
    assert.deepEqual(ENTRY_KINDS.filter((kind) => !seen.has(kind)), [], 'entry kinds never generated: raise FUZZ_CASES');
    const converted = outcomes.filter((outcome) => outcome.result === 'converted').length;
    assert.ok(converted >= CASES * 0.1 && converted <= CASES * 0.9, `${converted} of ${CASES} converted: the mix is too one-sided to test both halves`);
    const convertedBad = outcomes.filter((outcome) => outcome.result === 'converted' && outcome.droplet.wrapping === 'gzip' && outcome.droplet.kinds.some(isRefusedKind));
    assert.deepEqual(convertedBad.map(describeFailure), [], 'droplets with entries that must be refused were converted');
  });

  it('converts no seeded case into a layer with a NUL-cut name or an entry under a symlink it planted', () => {
    const failing = outcomes.filter((outcome) => outcome.pendingProblems.length > 0);
    assert.deepEqual(
      failing.map((outcome) => `FUZZ_CASE_SEED=${outcome.droplet.seed}: ${outcome.pendingProblems.join('; ')}`),
      [],
    );
  });

  it(
    'refuses names with NUL bytes and entries under a symlink the droplet planted (a symlink app/x -> /etc, then app/x/passwd)',
    async () => {
      const crafted: Array<[string, Buffer[]]> = [
        ['symlink then file', [rawEntry({ name: './app/x', typeflag: '2', linkname: '/etc' }), rawEntry({ name: './app/x/passwd', typeflag: '0' }, Buffer.from('root::0:0::/:/bin/sh\n'))]],
        ['symlink then hard link', [rawEntry({ name: './app/f', typeflag: '0' }), rawEntry({ name: './app/x', typeflag: '2', linkname: '../../../etc' }), rawEntry({ name: './app/x/shadow', typeflag: '1', linkname: './app/f' })]],
        ['NUL in a name', [paxHeader(paxRecord('path', '\u0000x')), rawEntry({ name: 'decoy', typeflag: '2', linkname: '/etc' })]],
      ];
      for (const [label, entries] of crafted) {
        const converting = convertDroplet({ droplet: Readable.from([gzipSync(Buffer.concat([...entries, END_OF_ARCHIVE]))]), blobs: new FsBlobStore({ root: join(work, 'crafted') }), compressionLevel: 1 });
        await assert.rejects(converting, InvalidDropletError, label);
      }
    },
  );

  it(
    'rewrites a tar whose last entry has no body and no end-of-archive blocks, read only after it was all written',
    async () => {
      // Found by case 2091233934 of the default run: extract finishes while its last entry still
      // waits for the reader, the pack is finalized first, and the entry then fails with
      // "already finalized or destroyed" — a good droplet failing its conversion (503).
      const tarBytes = Buffer.concat([rawEntry({ name: './app/f', typeflag: '0' }, Buffer.alloc(70_000, 1)), rawEntry({ name: './app/d/', typeflag: '5' })]);
      const state = createEntryRuleState();
      const rewrite = createTarRewrite((header) => rewriteDropletEntry(header, state));
      const written = new Promise((resolve) => rewrite.once('finish', resolve));
      rewrite.end(tarBytes);
      // The reader starts late: once the input is all in, or after a moment if the rewrite holds it back.
      await Promise.race([written, new Promise((resolve) => setTimeout(resolve, 200))]);
      const entries = await readTar(Buffer.concat(await rewrite.toArray()));
      assert.deepEqual(entries.map((entry) => entry.header.name), ['home/vcap/app/f', 'home/vcap/app/d/']);
    },
  );
});

/** Kinds the rules must refuse whatever surrounds them. */
function isRefusedKind(kind: EntryKind): boolean {
  return kind.startsWith('bad:') && kind !== 'bad:size-lies';
}

function describeFailure(outcome: Outcome): string {
  const { droplet } = outcome;
  return `FUZZ_CASE_SEED=${droplet.seed} (${droplet.wrapping}; ${droplet.kinds.join(', ')}; limits ${JSON.stringify(droplet.limits)}): ${outcome.problems.join('; ') || outcome.result}`;
}

async function runCase(droplet: HostileDroplet, root: string): Promise<Outcome> {
  const blobs = new FsBlobStore({ root });
  const problems: string[] = [];
  const pendingProblems: string[] = [];
  let result: Outcome['result'] = 'refused';
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no outcome after ${HANG_MS} ms: the conversion hangs`)), HANG_MS);
  });
  try {
    const layer = await Promise.race([
      convertDroplet({ droplet: Readable.from([droplet.bytes]), blobs, compressionLevel: 1, limits: droplet.limits }),
      hang,
    ]);
    result = 'converted';
    const stored = await storedFiles(root);
    if (stored.blobs.join() !== layer.digest.slice('sha256:'.length)) problems.push(`store holds blobs [${stored.blobs.join()}] instead of the layer alone`);
    await checkLayer(await readFile(join(root, 'blobs', 'sha256', layer.digest.slice(7))), layer, problems, pendingProblems);
  } catch (error) {
    if (!(error instanceof InvalidDropletError)) {
      problems.push(`failed with ${(error as Error).name}: ${(error as Error).message}`);
    } else if (!PROBLEMS.some((pattern) => pattern.test(error.message))) {
      problems.push(`refused with a message that names no known problem: ${JSON.stringify(error.message)}`);
    }
    const stored = await storedFiles(root);
    if (stored.blobs.length > 0) problems.push(`left blobs behind: ${stored.blobs.join()}`);
  } finally {
    clearTimeout(timer);
  }
  const { staging } = await storedFiles(root);
  if (staging.length > 0) problems.push(`left staged writes behind: ${staging.join()}`);
  await rm(root, { recursive: true, force: true });
  return { droplet, result, problems, pendingProblems };
}

async function storedFiles(root: string): Promise<{ blobs: string[]; staging: string[] }> {
  const list = (dir: string) => readdir(join(root, dir)).catch(() => [] as string[]);
  return { blobs: await list('blobs/sha256'), staging: await list('staging') };
}

/** Every property a converted layer must have; violations go into `problems`. */
async function checkLayer(stored: Buffer, layer: LayerDescriptor, problems: string[], pendingProblems: string[]): Promise<void> {
  const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (sha(stored) !== layer.digest) problems.push('the stored bytes do not have the layer digest');
  const tarBytes = gunzipSync(stored);
  if (sha(tarBytes) !== layer.diffId) problems.push('the uncompressed layer does not have the diff_id');
  pendingProblems.push(...rawNameProblems(tarBytes));
  let entries: ReadEntry[];
  try {
    entries = await readTar(tarBytes);
  } catch (error) {
    problems.push(`the layer is not a readable tar: ${(error as Error).message}`);
    return;
  }
  const seen = new Map<string, string>();
  for (const { header, content } of entries) {
    const where = `entry ${JSON.stringify(header.name)}`;
    if (!header.name.startsWith(LAYER_PREFIX) || header.name === LAYER_PREFIX) {
      problems.push(`${where} is not under ${LAYER_PREFIX}`);
      continue;
    }
    const relative = header.name.slice(LAYER_PREFIX.length).replace(/\/$/, '');
    const pathProblem = unsafePath(relative);
    if (pathProblem) problems.push(`${where} ${pathProblem}`);
    if (Buffer.byteLength(relative) > MAX_NAME_BYTES) problems.push(`${where} has a name past PATH_MAX`);
    if (Buffer.byteLength(header.linkname ?? '') > LAYER_PREFIX.length + MAX_NAME_BYTES) problems.push(`${where} has a link target past PATH_MAX`);
    if (!['file', 'directory', 'symlink', 'link'].includes(header.type ?? '')) problems.push(`${where} is a ${header.type}`);
    if ((header.type === 'directory') !== header.name.endsWith('/')) problems.push(`${where}: a trailing slash must mean a directory`);
    if (header.uid !== 2000 || header.gid !== 2000) problems.push(`${where} is owned by ${header.uid}:${header.gid}, not vcap`);
    if (header.mode !== undefined && header.mode > 0o7777) problems.push(`${where} has mode ${header.mode.toString(8)}`);
    const components = relative.split('/');
    for (let i = 1; i < components.length; i += 1) {
      const parent = components.slice(0, i).join('/');
      if (seen.get(parent) === 'symlink') pendingProblems.push(`${where} lies under the symlink ${JSON.stringify(parent)}`);
    }
    if (header.type === 'link') {
      const target = header.linkname ?? '';
      if (!target.startsWith(LAYER_PREFIX)) problems.push(`hard link ${where} points outside ${LAYER_PREFIX}: ${JSON.stringify(target)}`);
      else {
        const targetPath = target.slice(LAYER_PREFIX.length);
        const targetProblem = unsafePath(targetPath);
        if (targetProblem) problems.push(`hard link ${where} points to a path that ${targetProblem}`);
        const targetType = seen.get(targetPath);
        if (targetType === undefined || targetType === 'directory') problems.push(`hard link ${where} points to ${JSON.stringify(target)}, which is not an earlier non-directory`);
        const targetComponents = targetPath.split('/');
        for (let i = 1; i < targetComponents.length; i += 1) {
          const parent = targetComponents.slice(0, i).join('/');
          if (seen.get(parent) === 'symlink') problems.push(`hard link ${where} points through the symlink ${JSON.stringify(parent)}`);
        }
      }
    }
    if (header.type !== 'file' && content.length > 0) problems.push(`${where} (${header.type}) has a body`);
    const marker = Buffer.from(BODY_MARKER);
    if (header.type === 'file' && content.subarray(0, marker.length).equals(marker)) {
      // The generator starts every body with the path it meant; a body of another path means a misplaced file.
      const origin = content.subarray(marker.length, content.indexOf(10)).toString('utf8');
      if (origin !== relative && !origin.includes('\u0000')) problems.push(`${where} holds the body written for ${JSON.stringify(origin)}`);
    }
    // Extraction replaces a path with anything but a directory by removing what was under it.
    if (header.type !== 'directory') for (const path of seen.keys()) if (path.startsWith(`${relative}/`)) seen.delete(path);
    seen.set(relative, header.type ?? 'unknown');
  }
  const app = seen.get('app');
  if (!(app === 'directory' || (app === undefined && [...seen.keys()].some((path) => path.startsWith('app/'))))) problems.push('the layer has no home/vcap/app directory');
}

/** Why a layer-relative path is unsafe, or undefined. */
function unsafePath(relative: string): string | undefined {
  const components = relative.split('/');
  if (components.some((component) => component === '' || component === '.' || component === '..')) return 'is not a normalised path';
  if (components.some((component) => component.startsWith('.wh.'))) return 'is a whiteout';
  return undefined;
}

/**
 * What Docker's Go tar reader sees and tar-stream hides: name, link and prefix fields must end at
 * their first NUL (tar-stream stops reading there, Go too, so bytes after it mean the name was cut),
 * and PAX path records must hold no NUL at all (Go refuses the whole archive).
 */
function rawNameProblems(tarBytes: Buffer): string[] {
  const problems: string[] = [];
  const field = (block: Buffer, start: number, length: number): string | undefined => {
    const bytes = block.subarray(start, start + length);
    const end = bytes.indexOf(0);
    if (end >= 0 && bytes.subarray(end).some((byte) => byte !== 0)) return bytes.toString('latin1').replace(/\u0000+$/, '').replaceAll('\u0000', '\\0');
    return undefined;
  };
  for (let offset = 0; offset + 512 <= tarBytes.length; ) {
    const block = tarBytes.subarray(offset, offset + 512);
    offset += 512;
    if (block.every((byte) => byte === 0)) continue;
    const size = Number.parseInt(block.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    for (const [name, start, length] of [['name', 0, 100], ['linkname', 157, 100], ['prefix', 345, 155]] as const) {
      const cut = field(block, start, length);
      if (cut !== undefined) problems.push(`a header's ${name} field is cut by a NUL: ${JSON.stringify(cut)}`);
    }
    if (block[156] === 0x78 /* x */) {
      const records = tarBytes.subarray(offset, offset + size).toString('latin1');
      if (/(^|\n)\d+ (path|linkpath)=[^\n]*\u0000/.test(records)) problems.push(`a PAX path record holds a NUL: ${JSON.stringify(records.slice(0, 200))}`);
    }
    offset += Math.ceil(size / 512) * 512;
  }
  return problems;
}
