/**
 * The layering of `src/`, from the entry down: each area may import only from areas below it, so
 * dependencies point one way (routes → services → conversion/sources/blobstore/db) and a change
 * low down never needs one higher up. Areas on one line are peers and import nothing of each
 * other. A new top-level area must be placed here to pass.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

const LAYERS: readonly (readonly string[])[] = [
  ['cli.ts'],
  ['commands'],
  // The composition root: the only place that reads the whole configuration and builds the parts.
  ['wiring'],
  ['server'],
  ['routes'],
  ['admin'],
  ['workers'],
  ['images', 'auth'],
  // Image records describe what conversions produce (layer descriptors).
  ['db'],
  ['conversion'],
  ['sources', 'blobstore', 'config'],
  ['metrics'],
  ['errors', 'util', 'logger.ts', 'startup-phase.ts', 'runtime-check.ts'],
];

function layerOf(area: string): number {
  const index = LAYERS.findIndex((layer) => layer.includes(area));
  assert.notEqual(index, -1, `src/${area} has no place in the layering: add it to LAYERS in ${relative(process.cwd(), fileURLToPath(import.meta.url))}`);
  return index;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => join(entry.parentPath, entry.name));
}

/** Relative specifiers of a module's static imports, re-exports and dynamic imports. */
function importsOf(source: string): string[] {
  const specifiers = [...source.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\s*\(\s*'(\.{1,2}\/[^']+)'\s*\)|^import\s+'(\.{1,2}\/[^']+)'/gm)];
  return specifiers.map((match) => (match[1] ?? match[2] ?? match[3]) as string);
}

/** The top-level area of a path under src/: its first directory, or the file itself. */
function areaOf(path: string): string {
  return relative(SRC, path).split('/')[0] as string;
}

describe('the import graph of src/', () => {
  it('has every arrow pointing down the layering', async () => {
    const upward: string[] = [];
    for (const file of await sourceFiles(SRC)) {
      const from = areaOf(file);
      for (const specifier of importsOf(await readFile(file, 'utf8'))) {
        const to = areaOf(resolve(dirname(file), specifier));
        if (to === from) continue;
        if (layerOf(to) <= layerOf(from)) upward.push(`${relative(SRC, file)} imports ${specifier} (${from} → ${to})`);
      }
    }
    assert.deepEqual(upward, [], `imports against the layering:\n${upward.join('\n')}`);
  });

  it('finds the arrows it checks (an import against the layering is reported)', () => {
    assert.deepEqual(importsOf("import type { A } from '../routes/a.ts';\nexport { B } from './b.ts';\nconst c = await import('../db/c.ts');\nimport './d.ts';"), [
      '../routes/a.ts',
      './b.ts',
      '../db/c.ts',
      './d.ts',
    ]);
    assert.ok(layerOf('routes') < layerOf('db'), 'a file in db importing routes would be reported');
  });
});
