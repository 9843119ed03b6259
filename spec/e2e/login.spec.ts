/**
 * Logging in with Cloud Foundry identities, end to end: the built registry as a process (AUTH=uaa,
 * the default with CAPI_URL) in front of the CAPI + UAA simulator, and real clients logging in the
 * ways users do — `docker login` with a password and with a UAA token, skopeo and podman with
 * `--creds`, containerd's `ctr --user` (the POST token flow) — then pulling. A space supporter's
 * pull is denied in words, an anonymous one refused, and no credential reaches the registry's log.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxRootfs } from '../support/build-busybox-rootfs.ts';
import { buildDroplet, type DropletEntry } from '../support/build-droplet.ts';
import { seedFoundation, startCfSimulator, type CfSimulator, type SeededFoundation, type SeededUser } from '../support/cf-simulator/index.ts';
import { provisionContainerd, startContainerd } from '../support/clients/containerd.ts';
import { provisionDockerd, startDockerd } from '../support/clients/dockerd.ts';
import { createPodman, provisionPodman } from '../support/clients/podman.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { sharedClient } from '../support/clients/shared-client.ts';
import { createSkopeo, provisionSkopeo } from '../support/clients/skopeo.ts';
import { startRegistry, type RunningRegistry } from '../support/start-registry.ts';

/** The seeded `web` app. */
const REPOSITORY = 'acme/development/web';
/** How much of the registry's log a failing client test shows. */
const REGISTRY_LOG_CHARS = 8_000;
/** A hang guard for each test, never a performance assertion. */
const TEST_TIMEOUT = { timeout: 600_000 };

const dockerd = sharedClient(provisionDockerd, startDockerd, (client) => client.stop());
const containerd = sharedClient(provisionContainerd, startContainerd, (client) => client.stop());
const podman = sharedClient(provisionPodman, async () => createPodman(), (client) => client.dispose());
const skopeo = sharedClient(provisionSkopeo, async () => createSkopeo(), (client) => client.dispose());

describe('logging in with Cloud Foundry identities', () => {
  let workDir: string;
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let registry: RunningRegistry;

  const image = (tag = 'latest') => `${registry.host}/${REPOSITORY}:${tag}`;
  const creds = (user: SeededUser) => `${user.username}:${user.password}`;

  before(async () => {
    workDir = makeScratchDir('e2e-login');
    const rootfs = join(workDir, 'rootfs.tgz');
    await buildBusyboxRootfs(rootfs);
    const key = join(workDir, 'token-key.pem');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    cf = await startCfSimulator();
    seeded = seedFoundation(cf, { dropletBytes: ({ startCommand }) => buildDroplet(dropletEntries(startCommand)) });
    registry = await startRegistry({
      env: {
        CAPI_URL: cf.capiUrl,
        UAA_CLIENT_ID: seeded.serviceClient.id,
        UAA_CLIENT_SECRET: seeded.serviceClient.secret,
        UAA_LOGIN_CLIENT_ID: seeded.loginClient.id,
        UAA_LOGIN_CLIENT_SECRET: seeded.loginClient.secret,
        TOKEN_SIGNING_KEYS: key,
        STACKS: `cflinuxfs4=${rootfs}`,
        PREWARM_ENABLED: 'false',
      },
    });
  });

  after(async () => {
    await Promise.allSettled([dockerd.stop(), containerd.stop(), podman.stop(), skopeo.stop()]);
    await registry?.stop();
    await cf?.stop();
    if (workDir) removeScratchDir(workDir);
  });

  test('docker login with a CF password, then docker pull', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const user = seeded.users.space_developer;
    const login = await withRegistryLogs(client.docker(['login', registry.host, '-u', user.username, '--password-stdin'], { input: user.password }));
    assert.match(login.stdout, /Login Succeeded/);
    await withRegistryLogs(client.docker(['pull', image()]));
    assert.equal(await dropletLabel(client.docker, image()), seeded.droplets.webCurrent.guid);
  });

  test('docker login with a UAA token (cf oauth-token), then docker pull', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const token = await cfOauthToken(seeded.users.org_manager);
    assert.match(token, /^bearer eyJ/);
    const login = await withRegistryLogs(client.docker(['login', registry.host, '-u', 'ignored', '--password-stdin'], { input: token }));
    assert.match(login.stdout, /Login Succeeded/);
    const previous = image(seeded.droplets.webPrevious.guid);
    await withRegistryLogs(client.docker(['pull', previous]));
    assert.equal(await dropletLabel(client.docker, previous), seeded.droplets.webPrevious.guid);
    assert.ok(logLines().some((line) => line.event === 'token.issued' && line.user === seeded.users.org_manager.username), 'the token was issued to the UAA token user');
  });

  test("a space supporter's docker pull is denied, saying why", TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const user = seeded.users.space_supporter;
    await withRegistryLogs(client.docker(['login', registry.host, '-u', user.username, '--password-stdin'], { input: user.password }));
    const failure = await client.docker(['pull', image('latest')]).then(
      () => assert.fail('the pull succeeded'),
      (error: Error) => error.message,
    );
    assert.match(failure, /denied: space-supporter may not download droplets of this app/);
  });

  test('an anonymous docker pull is refused', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    await client.docker(['logout', registry.host]);
    const failure = await client.docker(['pull', image('latest')]).then(
      () => assert.fail('the pull succeeded'),
      (error: Error) => error.message,
    );
    assert.match(failure, /unauthorized: log in with your Cloud Foundry user/);
  });

  test('skopeo with --creds', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const user = seeded.users.space_auditor;
    const { stdout } = await withRegistryLogs(client.skopeo(['inspect', '--config', '--tls-verify=false', '--creds', creds(user), `docker://${image()}`]));
    assert.equal((JSON.parse(stdout) as { config: { Labels: Record<string, string> } }).config.Labels['org.cloudfoundry.droplet.guid'], seeded.droplets.webCurrent.guid);
    const anonymous = await client.skopeo(['inspect', '--config', '--tls-verify=false', `docker://${image()}`]).then(
      () => assert.fail('an anonymous inspect succeeded'),
      (error: Error) => error.message,
    );
    assert.match(anonymous, /unauthorized: log in with your Cloud Foundry user/);
  });

  test('podman pull with --creds', TEST_TIMEOUT, async (t) => {
    const client = await podman.get(t);
    if (!client) return;
    await withRegistryLogs(client.podman(['pull', '--tls-verify=false', '--creds', creds(seeded.users.space_manager), image()]));
    const { stdout } = await client.podman(['image', 'inspect', '--format', '{{index .Labels "org.cloudfoundry.droplet.guid"}}', image()]);
    assert.equal(stdout.trim(), seeded.droplets.webCurrent.guid);
  });

  test('ctr images pull --user (POST /v2/token, the password grant form)', TEST_TIMEOUT, async (t) => {
    const client = await containerd.get(t);
    if (!client) return;
    await withRegistryLogs(client.ctr(['images', 'pull', '--plain-http', '--user', creds(seeded.users.admin_read_only), image()]));
    assert.ok(
      logLines().some((line) => line.event === 'request' && line.method === 'POST' && line.path === '/v2/token' && line.status === 200),
      'containerd got its token with POST',
    );
  });

  test('no password or token reached the log', TEST_TIMEOUT, () => {
    const log = registry.logs();
    for (const user of Object.values(seeded.users)) assert.ok(!log.includes(user.password), `${user.username}'s password is in the log`);
    assert.doesNotMatch(log, /eyJ[\w-]+\.eyJ/, 'a JWT is in the log');
  });

  /** What `cf oauth-token` prints: a password grant of the cf CLI's client, with the `bearer ` prefix. */
  async function cfOauthToken(user: SeededUser): Promise<string> {
    const response = await fetch(`${cf.uaaUrl}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('cf:').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: user.username, password: user.password }),
    });
    return `bearer ${((await response.json()) as { access_token: string }).access_token}`;
  }

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

/** A small buildpack-style droplet; what it runs does not matter here, only who may pull it. */
function dropletEntries(startCommand: string): DropletEntry[] {
  return [
    { name: './', type: 'directory' },
    { name: './app/', type: 'directory' },
    { name: './app/server.js', content: '// the app\n' },
    { name: './staging_info.yml', content: JSON.stringify({ detected_buildpack: 'nodejs', start_command: startCommand }) },
    { name: './tmp/', type: 'directory' },
  ];
}
