/**
 * `node dist/cli.js` run by a shell whose `node` is the machine's own, often older than the
 * Node.js 24 that `npm ci` installs: the built CLI refuses at once and says how to run it instead.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { unsupportedNode } from '../../../src/runtime-check.ts';
import { CLI, ensureServerBuilt } from '../../support/start-registry.ts';

describe('the built CLI on the machine’s own Node.js', () => {
  before(async () => {
    await ensureServerBuilt();
  });

  it('exits 2 naming the version and the commands that use Node.js 24, when the system Node.js is older', (t) => {
    // PATH without node_modules/.bin, where npm puts the node@24 dependency's binary.
    const path = (process.env.PATH ?? '').split(':').filter((dir) => !dir.includes('node_modules')).join(':');
    let version: string;
    try {
      version = execFileSync('node', ['--version'], { env: { PATH: path }, encoding: 'utf8' }).trim().replace(/^v/, '');
    } catch {
      t.diagnostic('this machine has no Node.js of its own; the version rule is covered by spec/unit/runtime-check.spec.ts');
      return;
    }
    const run = spawnSync('node', [CLI, '--help'], { env: { PATH: path }, encoding: 'utf8' });
    if (unsupportedNode(version) === undefined) {
      assert.equal(run.status, 0, `the system Node.js ${version} is new enough: ${run.stderr}`);
      return;
    }
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, new RegExp(`needs Node\\.js 24 or later, and this is Node\\.js ${version.replaceAll('.', '\\.')}`));
    assert.match(run.stderr, /npm start/);
    assert.equal(run.stdout, '', 'nothing else ran');
  });
});
