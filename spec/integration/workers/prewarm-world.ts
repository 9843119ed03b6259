/**
 * What the pre-warmer specs start from: the seeded CAPI + UAA simulator with its clock frozen (so
 * tests decide which events share a second), tiny rootfs tarballs for both stacks, and registries
 * built in-process on it, as `buildRegistry` builds them from environment variables.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standardDroplet } from '../../support/build-droplet.ts';
import { seedFoundation, startCfSimulator, type App, type CfSimulator, type Droplet, type SeededFoundation } from '../../support/cf-simulator/index.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';
import type { Prewarmer } from '../../../src/workers/prewarmer.ts';

/** When the seeded foundation was set up, by the simulator's frozen clock. */
export const SEEDED_AT = '2025-03-01T09:00:00Z';

export interface PrewarmWorld {
  readonly cf: CfSimulator;
  readonly seeded: SeededFoundation;
  /** A temporary directory for data dirs; removed by `stop`. */
  readonly work: string;
  /** A registry on this foundation; `dataDir` reuses one (a restart), `databaseUrl` picks Postgres. */
  openRegistry(options: { databaseUrl?: string | undefined; dataDir?: string; env?: Record<string, string> }): Promise<TestRegistry>;
  /** `cf push` of a new app in `development`, staged at the clock's current second. */
  push(name: string, options?: { lifecycle?: App['lifecycle']; stack?: string }): Droplet;
  stop(): Promise<void>;
}

export async function startPrewarmWorld(): Promise<PrewarmWorld> {
  const cf = await startCfSimulator();
  cf.foundation.setTime(SEEDED_AT);
  const seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
  const work = await mkdtemp(join(tmpdir(), 'prewarm-'));
  const rootfs = join(work, 'rootfs.tgz');
  await writeFile(rootfs, await buildTinyRootfs());
  const stacks = { cflinuxfs4: rootfs, cflinuxfs3: rootfs };
  let registries = 0;
  return {
    cf,
    seeded,
    work,
    async openRegistry({ databaseUrl, dataDir, env = {} }) {
      registries += 1;
      return createTestRegistry({
        databaseUrl,
        stacks,
        dropletsDir: join(work, 'unused'),
        dataDir: dataDir ?? (await mkdtemp(join(work, `registry-${registries}-`))),
        env: {
          CAPI_URL: cf.capiUrl,
          UAA_CLIENT_ID: seeded.serviceClient.id,
          UAA_CLIENT_SECRET: seeded.serviceClient.secret,
          AUTH: 'none',
          AUTH_NONE_FORCE: 'true',
          PREWARM_INITIAL_APPS: '0',
          PREWARM_INTERVAL_MS: '50',
          ...env,
        },
      });
    },
    push(name, options = {}) {
      const app = cf.foundation.createApp(seeded.spaces.development, { name, buildpacks: ['nodejs_buildpack'], ...options });
      const command = `node ${name}.js`;
      const bits = app.lifecycle === 'docker' ? null : () => standardDroplet({ startCommand: command });
      return cf.foundation.stage(app, bits, { processTypes: { web: command } });
    },
    async stop() {
      await cf.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** The registry's pre-warmer, which `buildRegistry` builds (unstarted) for the capi source. */
export function prewarmerOf(registry: TestRegistry): Prewarmer {
  const { prewarmer } = registry.registry;
  if (!prewarmer) throw new Error('the registry has no pre-warmer (capi source with PREWARM_ENABLED expected)');
  return prewarmer;
}

/** How many conversions the registry ran, by its `conversion.succeeded` log lines. */
export function conversionsLogged(registry: TestRegistry): number {
  return registry.events.filter((event) => event === 'conversion.succeeded').length;
}
