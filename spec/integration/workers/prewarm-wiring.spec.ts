/**
 * How the registry runs the pre-warmer: `startRegistry` starts it with the capi source unless
 * PREWARM_ENABLED=false, and `stop()` stops it. Two foundations side by side, one registry each,
 * the same pushes on both: the enabled registry's work is the evidence of how long the disabled
 * one had to do the same and did nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../../src/config/load-config.ts';
import { startRegistry, type Registry } from '../../../src/wiring/build-registry.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { startPrewarmWorld, type PrewarmWorld } from './prewarm-world.ts';

interface Started {
  readonly world: PrewarmWorld;
  readonly registry: Registry;
  readonly events: string[];
}

/** A foundation and a registry started on it the way `droplet-registry serve` starts one (PGlite, own port). */
async function startOn(env: Record<string, string>): Promise<Started> {
  const world = await startPrewarmWorld();
  const events: string[] = [];
  const config = loadConfig({
    env: {
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: await mkdtemp(join(world.work, 'data-')),
      STACKS: `cflinuxfs4=${join(world.work, 'rootfs.tgz')}`,
      CAPI_URL: world.cf.capiUrl,
      UAA_CLIENT_ID: world.seeded.serviceClient.id,
      UAA_CLIENT_SECRET: world.seeded.serviceClient.secret,
      AUTH: 'none',
      AUTH_NONE_FORCE: 'true',
      PREWARM_INTERVAL_MS: '50',
      PREWARM_INITIAL_APPS: '0',
      ...env,
    },
  });
  const logger = pino({ level: 'info' }, { write: (line: string) => void events.push(String(JSON.parse(line).event)) });
  return { world, registry: await startRegistry(config, logger), events };
}

describe('pre-warmer wiring', () => {
  let enabled: Started;
  let disabled: Started;
  const stopped = new Set<Started>();

  before(async () => {
    enabled = await startOn({});
    disabled = await startOn({ PREWARM_ENABLED: 'false' });
  });

  after(async () => {
    for (const started of [enabled, disabled]) {
      if (started && !stopped.has(started)) await started.registry.stop();
      await started?.world.stop();
    }
  });

  it('startRegistry starts the pre-warmer with the capi source, and stop() gives its leadership up', async () => {
    const prewarmer = enabled.registry.prewarmer;
    assert.ok(prewarmer);
    await waitFor('the first round', () => enabled.events.includes('prewarm.initial'), { timeoutMs: 30_000 });
    enabled.world.cf.foundation.advanceTime(1);
    disabled.world.cf.foundation.advanceTime(1);
    for (const { world } of [enabled, disabled]) world.push('pushed');
    await waitFor('the enabled registry to convert the push', () => prewarmer.counters.conversions === 1, { timeoutMs: 30_000 });
    assert.ok(enabled.events.includes('prewarm.started'));

    await enabled.registry.stop();
    stopped.add(enabled);
    assert.ok(enabled.events.includes('leadership.released'), 'stopping gives leadership up for another instance');
  });

  it('with PREWARM_ENABLED=false, nothing is started and Cloud Controller is never asked for events', () => {
    assert.equal(disabled.registry.prewarmer, undefined);
    assert.ok(disabled.events.includes('prewarm.disabled'));
    assert.equal(disabled.world.cf.requests.count('GET /v3/audit_events'), 0);
    assert.ok(!disabled.events.includes('conversion.succeeded'));
    assert.ok(enabled.world.cf.requests.count('GET /v3/audit_events') > 0, 'meanwhile the enabled registry polled');
  });
});
