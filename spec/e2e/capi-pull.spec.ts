/**
 * Cloud Foundry as the source, end to end: the built registry as a process, configured only
 * through environment variables, in front of the CAPI + UAA simulator and a fresh Postgres
 * database, pulled by real clients. The seeded droplets are built for the busybox stand-in rootfs,
 * with a buildpack-style `node` on the PATH through profile.d, so the images run. After a
 * simulated `cf push`, the pre-warmer has the image ready before the first pull.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxRootfs } from '../support/build-busybox-rootfs.ts';
import { buildDroplet, type DropletEntry } from '../support/build-droplet.ts';
import { seedFoundation, startCfSimulator, type CfSimulator, type SeededFoundation } from '../support/cf-simulator/index.ts';
import { provisionDockerd, startDockerd } from '../support/clients/dockerd.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { sharedClient } from '../support/clients/shared-client.ts';
import { createSkopeo, provisionSkopeo } from '../support/clients/skopeo.ts';
import { waitFor } from '../support/clients/wait-for.ts';
import { startRegistry, type RunningRegistry } from '../support/start-registry.ts';
import { eachDatabase, type TestDatabase } from '../support/test-database.ts';

/** The seeded `web` app; CF names that are already valid OCI repository components. */
const REPOSITORY = 'acme/development/web';
/** How much of the registry's log a failing client test shows. */
const REGISTRY_LOG_CHARS = 8_000;
/** A hang guard for each test, never a performance assertion. */
const TEST_TIMEOUT = { timeout: 600_000 };

const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
if (!postgres) throw new Error('test-database offers no postgres variant');

const dockerd = sharedClient(provisionDockerd, startDockerd, (client) => client.stop());
const skopeo = sharedClient(provisionSkopeo, async () => createSkopeo(), (client) => client.dispose());

describe('Cloud Foundry source, end to end', { skip: await postgres.skipReason() }, () => {
  let workDir: string;
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let database: TestDatabase;
  let registry: RunningRegistry;

  before(async () => {
    workDir = makeScratchDir('e2e-capi-pull');
    const rootfs = join(workDir, 'rootfs.tgz');
    await buildBusyboxRootfs(rootfs);
    cf = await startCfSimulator();
    seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => buildDroplet(dropletEntries(startCommand)) });
    database = await postgres.create();
    registry = await startRegistry({
      env: {
        CAPI_URL: cf.capiUrl,
        UAA_CLIENT_ID: seeded.serviceClient.id,
        UAA_CLIENT_SECRET: seeded.serviceClient.secret,
        STACKS: `cflinuxfs4=${rootfs},cflinuxfs3=${rootfs}`,
        DATABASE_URL: database.url as string,
        AUTH: 'none',
        AUTH_NONE_FORCE: 'true',
        PREWARM_INTERVAL_MS: '250',
      },
    });
  });

  after(async () => {
    await Promise.allSettled([dockerd.stop(), skopeo.stop()]);
    await registry?.stop();
    await cf?.stop();
    await database?.cleanup();
    if (workDir) removeScratchDir(workDir);
  });

  test('docker pulls and runs org/space/app:latest, the current droplet', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const image = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.docker(['pull', image]));
    const { stdout } = await client.docker(['run', '--rm', '--network', 'none', image]);
    assert.equal(appLine(stdout), 'uid=2000 pwd=/home/vcap/app port=8080 node server.js');
    assert.equal(await dropletLabel(client.docker, image), seeded.droplets.webCurrent.guid);
  });

  test('docker pulls and runs :<droplet-guid> of an earlier staged droplet', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const image = `${registry.host}/${REPOSITORY}:${seeded.droplets.webPrevious.guid}`;
    await withRegistryLogs(client.docker(['pull', image]));
    const { stdout } = await client.docker(['run', '--rm', '--network', 'none', image]);
    assert.equal(appLine(stdout), 'uid=2000 pwd=/home/vcap/app port=8080 node server.js --previous');
    assert.equal(await dropletLabel(client.docker, image), seeded.droplets.webPrevious.guid);
  });

  test('skopeo list-tags lists latest and the staged droplets', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const tags = await withRegistryLogs(client.listTags(`${registry.host}/${REPOSITORY}`));
    assert.deepEqual(tags.sort(), ['latest', seeded.droplets.webPrevious.guid, seeded.droplets.webCurrent.guid].sort());
  });

  test('after cf push, the pre-warmer has the image ready: the pull converts nothing and latest is the new droplet', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const pushed = cf.foundation.stage(seeded.apps.web, () => buildDroplet(dropletEntries('node pushed.js')), { processTypes: { web: 'node pushed.js' } });
    const isWarm = (line: LogLine) => line.event === 'prewarm.warmed' && line.droplet === pushed.guid;
    await waitFor('the pre-warmer to convert the pushed droplet', () => logLines().some(isWarm), { timeoutMs: 120_000, details: registry.logs });
    const warmed = logLines().find(isWarm);
    assert.equal(warmed?.outcome, 'converted');
    assert.equal(logLines().filter((line) => line.event === 'conversion.succeeded' && line.droplet === pushed.guid).length, 1);

    const image = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.docker(['pull', image]));
    const lines = logLines();
    const since = lines.findIndex(isWarm);
    assert.ok(since >= 0, 'the log tail still reaches back to the pre-warm');
    const afterWarm = lines.slice(since + 1);
    assert.ok(afterWarm.some((line) => line.event === 'request' && line.path === `/v2/${REPOSITORY}/manifests/latest`), 'the pull reached the registry');
    assert.deepEqual(afterWarm.filter((line) => line.event === 'conversion.succeeded'), [], 'the pull triggered no conversion');

    const { stdout } = await client.docker(['run', '--rm', '--network', 'none', image]);
    assert.equal(appLine(stdout), 'uid=2000 pwd=/home/vcap/app port=8080 node pushed.js');
    assert.equal(await dropletLabel(client.docker, image), pushed.guid);
  });

  type LogLine = Record<string, unknown>;

  /** The registry's JSON log lines (the tail it keeps), parsed; the cut first line is dropped. */
  function logLines(): LogLine[] {
    return registry.logs().split('\n').flatMap((text) => {
      try {
        return [JSON.parse(text) as LogLine];
      } catch {
        return [];
      }
    });
  }

  /** Adds the end of the registry's log to a client's failure, so the report shows both sides. */
  async function withRegistryLogs<T>(operation: Promise<T>): Promise<T> {
    try {
      return await operation;
    } catch (error) {
      if (error instanceof Error) error.message += `\n--- registry log (end)\n${registry.logs().slice(-REGISTRY_LOG_CHARS)}`;
      throw error;
    }
  }
});

/** The droplet guid the image says it was built from. */
async function dropletLabel(docker: (args: string[]) => Promise<{ stdout: string }>, image: string): Promise<string> {
  return (await docker(['image', 'inspect', '--format', '{{index .Config.Labels "org.cloudfoundry.droplet.guid"}}', image])).stdout.trim();
}

/** The line the app printed, picked out of whatever else the launcher wrote. */
function appLine(stdout: string): string | undefined {
  return stdout.split('\n').find((line) => line.startsWith('uid='));
}

/**
 * A nodejs-buildpack-style droplet: `node` under `deps/0/bin`, put on the PATH by the buildpack's
 * profile.d script, the way Diego's launcher sources it. This `node` only prints who runs it, where,
 * on which port, and its arguments (the start command after `node`).
 */
function dropletEntries(startCommand: string): DropletEntry[] {
  return [
    { name: './', type: 'directory' },
    { name: './app/', type: 'directory' },
    { name: './app/server.js', content: '// the app\n' },
    { name: './deps/', type: 'directory' },
    { name: './deps/0/', type: 'directory' },
    { name: './deps/0/bin/', type: 'directory' },
    { name: './deps/0/bin/node', content: '#!/bin/sh\necho "uid=$(id -u) pwd=$(pwd) port=$PORT node $*"\n', mode: 0o755 },
    { name: './logs/', type: 'directory' },
    { name: './profile.d/', type: 'directory' },
    { name: './profile.d/0_node.sh', content: 'export PATH="$DEPS_DIR/0/bin:$PATH"\n' },
    { name: './staging_info.yml', content: JSON.stringify({ detected_buildpack: 'nodejs', start_command: startCommand }) },
    { name: './tmp/', type: 'directory' },
  ];
}
