/**
 * What the auth integration tests share: the CAPI + UAA simulator with the standard foundation
 * (a user per role of the download matrix), a tiny rootfs, the registry's token signing keys as
 * PEM files, and in-process registries with AUTH=uaa on it, driven through `server.inject`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerInjectOptions, ServerInjectResponse } from '@hapi/hapi';
import { standardDroplet } from '../../support/build-droplet.ts';
import { seedFoundation, startCfSimulator, type CfSimulator, type SeededFoundation, type SeededUser } from '../../support/cf-simulator/index.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

export const WEB = 'acme/development/web';

export interface AuthWorld {
  readonly cf: CfSimulator;
  readonly seed: SeededFoundation;
  /** PEM files of EC P-256 private keys: `keys[0]`, `keys[1]`, and one never configured (`foreignKey`). */
  readonly keys: readonly string[];
  readonly foreignKey: string;
  /** A registry with AUTH=uaa (signing with `keys[0]` unless TOKEN_SIGNING_KEYS is overridden). */
  openRegistry(env?: Record<string, string>): Promise<TestRegistry>;
  stop(): Promise<void>;
}

export async function startAuthWorld(): Promise<AuthWorld> {
  const cf = await startCfSimulator();
  const seed = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
  const work = await mkdtemp(join(tmpdir(), 'auth-'));
  const rootfs = join(work, 'rootfs.tgz');
  await writeFile(rootfs, await buildTinyRootfs());
  const keyFile = async (name: string) => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const file = join(work, `${name}.pem`);
    await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    return file;
  };
  const keys = [await keyFile('key-a'), await keyFile('key-b')];
  const foreignKey = await keyFile('foreign');
  return {
    cf,
    seed,
    keys,
    foreignKey,
    openRegistry: (env = {}) =>
      createTestRegistry({
        stacks: { cflinuxfs4: rootfs },
        dropletsDir: join(work, 'unused'),
        env: {
          CAPI_URL: cf.capiUrl,
          UAA_CLIENT_ID: seed.serviceClient.id,
          UAA_CLIENT_SECRET: seed.serviceClient.secret,
          UAA_LOGIN_CLIENT_ID: seed.loginClient.id,
          UAA_LOGIN_CLIENT_SECRET: seed.loginClient.secret,
          TOKEN_SIGNING_KEYS: keys[0] as string,
          PREWARM_ENABLED: 'false',
          CAPI_TIMEOUT_MS: '2000',
          ...env,
        },
      }),
    async stop() {
      await cf.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** `Authorization: Basic …` for a user and password. */
export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** The `GET /v2/token` a docker pull sends for `scopes`, with the user's password. */
export function tokenRequest(user: Pick<SeededUser, 'username' | 'password'>, scopes: readonly string[] = []): ServerInjectOptions {
  const query = new URLSearchParams({ account: user.username, service: 'localhost' });
  for (const scope of scopes) query.append('scope', scope);
  return { method: 'GET', url: `/v2/token?${query.toString()}`, headers: { authorization: basic(user.username, user.password) } };
}

/** The registry token of a successful token answer (fails the test otherwise). */
export function tokenOf(response: ServerInjectResponse): string {
  if (response.statusCode !== 200) throw new Error(`token request answered ${response.statusCode}: ${response.payload}`);
  return (JSON.parse(response.payload) as { token: string }).token;
}

/** The first error of an OCI error body. */
export function ociError(response: ServerInjectResponse): OciError {
  const [error] = (JSON.parse(response.payload) as { errors: OciError[] }).errors;
  if (!error) throw new Error(`no error in ${response.payload}`);
  return error;
}

interface OciError {
  readonly code: string;
  readonly message: string;
  readonly detail?: unknown;
}
