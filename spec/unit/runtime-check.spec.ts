import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { REQUIRED_NODE_MAJOR, unsupportedNode } from '../../src/runtime-check.ts';

describe('runtime check', () => {
  it('accepts Node.js 24 and later, and refuses older ones saying how to run the registry instead', () => {
    assert.equal(unsupportedNode('24.0.0'), undefined);
    assert.equal(unsupportedNode('25.1.2'), undefined);
    const refusal = unsupportedNode('20.20.2');
    assert.match(refusal ?? '', /needs Node\.js 24 or later, and this is Node\.js 20\.20\.2/);
    assert.match(refusal ?? '', /npm start/);
    assert.notEqual(unsupportedNode('garbage'), undefined);
  });

  it('lets the CLI run on the Node.js the tests run on', () => {
    assert.ok(Number(process.versions.node.split('.')[0]) >= REQUIRED_NODE_MAJOR, 'npm test runs on the node@24 dependency');
    const help = spawnSync(process.execPath, ['src/cli.ts', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /serve/);
  });
});
