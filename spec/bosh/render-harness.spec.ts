/**
 * spec/bosh/render.rb itself: bosh-template's helpers and errors, on a small job made for it
 * (fixtures/harness-job), so the job tests stand on a harness that behaves like the director.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RenderError, renderJob, requireRuby, type LinkSpec } from './support/render-job.ts';

const jobDir = join(import.meta.dirname, 'fixtures', 'harness-job');
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-harness-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const db: LinkSpec = {
  address: 'q-s0.database.default.cf.bosh',
  instances: [
    { name: 'database', index: 0, id: 'db-0', az: 'z1', address: '10.0.0.1', bootstrap: true },
    { name: 'database', index: 1, id: 'db-1', az: 'z2', address: '10.0.0.2', bootstrap: false },
  ],
  properties: { port: 5524 },
};

function render(options: { properties?: object; links?: Record<string, LinkSpec>; templates?: string[]; spec?: object }, outputDir?: string) {
  return renderJob({ jobDir, properties: {}, links: { db }, templates: ['all.erb'], ...options }, outputDir);
}

describe('render.rb', () => {
  it('supplies p, if_p, link, if_link and spec as bosh-template does', async (t) => {
    if (!requireRuby(t)) return;
    const files = await render({
      properties: { a: { without_default: 'given', undeclared: 'never seen' } },
      links: { db, peers: { instances: [{}, {}, {}] } },
      spec: { bootstrap: false, index: 3, id: 'abc', az: 'z2', address: '10.0.0.9', deployment: 'dep', name: 'ig' },
    });
    assert.equal(
      files['out/all.txt'],
      [
        'with_default=42',
        'given=given',
        'first_of=42',
        'false_default=false',
        'undeclared_with_default=d',
        'list=x,y',
        'if_p=given',
        'if_p_two=42/2',
        'link_p=5524',
        'link_p_default=dflt',
        'link_address=q-s0.database.default.cf.bosh',
        'link_instances=database/0@z1:10.0.0.1* database/1@z2:10.0.0.2',
        'link_if_p=else',
        'peers=3',
        'spec=false 3 abc z2 10.0.0.9 dep ig harness-job',
        'name=harness-job index=3',
        'properties=42',
        '',
      ].join('\n'),
    );
  });

  it('takes p(name, default) and else branches when a property or optional link is absent', async (t) => {
    if (!requireRuby(t)) return;
    const text = (await render({}))['out/all.txt'] as string;
    assert.match(text, /^given=fallback$/m);
    assert.match(text, /^if_p=else$/m);
    assert.match(text, /^peers=none$/m);
  });

  it("reports a missing property with bosh-template's message and the template line", async (t) => {
    if (!requireRuby(t)) return;
    await assert.rejects(render({ templates: ['missing.erb'] }), (error: Error) => {
      assert.ok(error instanceof RenderError);
      assert.equal(
        error.message,
        "Unable to render templates for job 'harness-job'. Errors are:\n  - Error filling in template 'missing.erb' (line 2: Can't find property 'a.without_default')",
      );
      return true;
    });
  });

  it('reports every failing template, and a missing link', async (t) => {
    if (!requireRuby(t)) return;
    await assert.rejects(render({ templates: ['missing.erb', 'missing-link.erb'] }), (error: Error) => {
      assert.match(error.message, /Error filling in template 'missing\.erb' \(line 2: Can't find property 'a\.without_default'\)/);
      assert.match(error.message, /Error filling in template 'missing-link\.erb' \(line 2: Can't find link 'peers'\)/);
      return true;
    });
  });

  it('refuses to render without a required link, or with a link the job does not consume', async (t) => {
    if (!requireRuby(t)) return;
    await assert.rejects(render({ links: {} }), /Failed to resolve link 'db' with type 'database' from job 'harness-job'/);
    await assert.rejects(render({ links: { db, cache: { instances: [] } } }), /link 'cache' is given but the job does not consume it/);
  });

  it('lays out the rendered job, scripts under bin/ executable', async (t) => {
    if (!requireRuby(t)) return;
    const dir = join(scratch, 'job');
    await render({ templates: ['all.erb', 'bin-script.erb'] }, dir);
    assert.equal(statSync(join(dir, 'bin', 'script')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, 'out', 'all.txt')).mode & 0o777, 0o644);
    assert.equal(readFileSync(join(dir, 'bin', 'script'), 'utf8'), '#!/bin/sh\necho 42\n');
  });
});
