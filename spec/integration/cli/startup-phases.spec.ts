/**
 * `serve` tells what it is doing while it starts: each phase (database open and migrations, the
 * staging sweep, the base layers with the rootfs import, listening) is logged as it begins and
 * ends, with the rootfs import's progress inside its phase, all before "started".
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../support/clients/wait-for.ts';
import { startRegistry, type RunningRegistry } from '../../support/start-registry.ts';
import { buildTinyRootfs } from '../../support/test-registry.ts';

const PHASES = ['database.open', 'database.migrate', 'staging.sweep', 'base-layers', 'listen'];

describe('serve start-up', () => {
  let work: string;
  let rootfs: string;
  let registry: RunningRegistry | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'startup-phases-'));
    rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
  });

  after(async () => {
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('logs each phase as it begins and ends, and the rootfs import progress, before "started"', async () => {
    const running = await startRegistry({ env: { STACKS: `cflinuxfs4=${rootfs}`, DROPLETS_DIR: work } });
    registry = running;
    await waitFor('the "started" line', () => running.logs().includes('"event":"started"'), { timeoutMs: 30_000, details: running.logs });
    const lines = running
      .logs()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { event?: string; phase?: string; state?: string; ms?: number; bytesRead?: number; totalBytes?: number });
    const startupEvents = lines
      .filter((line) => line.event === 'startup.phase' || line.event === 'import.progress' || line.event === 'started')
      .map((line) => (line.event === 'startup.phase' ? `${line.phase} ${line.state}` : line.event));
    const progressAt = startupEvents.indexOf('import.progress');
    const phaseLines = startupEvents.filter((event) => event !== 'import.progress');
    assert.deepEqual(phaseLines, [...PHASES.flatMap((phase) => [`${phase} begin`, `${phase} end`]), 'started']);
    assert.ok(
      progressAt > startupEvents.indexOf('base-layers begin') && progressAt < startupEvents.indexOf('base-layers end'),
      `the rootfs import progress is logged inside the base-layers phase: ${startupEvents.join(', ')}`,
    );
    const { size } = await stat(rootfs);
    const progress = lines.filter((line) => line.event === 'import.progress');
    assert.deepEqual(progress.at(-1)?.totalBytes, size);
    assert.ok(lines.filter((line) => line.event === 'startup.phase' && line.state === 'end').every((line) => typeof line.ms === 'number'), 'each end line carries its duration');
  });
});
