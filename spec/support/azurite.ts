/**
 * Azurite (the Azure Storage emulator, npm devDependency) for the Azure blobstore's tests: its blob
 * service as a child process on a free loopback port, storing under a temp directory, with an
 * account of its own whose key is random. Azurite checks Shared Key and SAS signatures (a wrong
 * key or a tampered SAS gets 403), as Azure does.
 *
 * The SDK may speak a newer service version than Azurite knows, hence `--skipApiVersionCheck`;
 * `--disableTelemetry` keeps it off the network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { stopChild, waitUntilListening } from './child-server.ts';
import { freePort } from './free-port.ts';

export interface AzuriteServer {
  /** The account's blob endpoint as Azurite addresses it: `http://127.0.0.1:<port>/<account>`. */
  readonly endpoint: string;
  readonly accountName: string;
  readonly accountKey: string;
  /** Creates a container (the registry expects its container to exist, as on Azure). */
  createContainer(name: string): Promise<void>;
  /** Every blob name under `prefix` (stripped of it), uncommitted ones included, whatever the store's API says. */
  listKeys(container: string, prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

const ACCOUNT_NAME = 'dropletregistry';

export async function startAzurite(): Promise<AzuriteServer> {
  const location = await mkdtemp(join(tmpdir(), 'droplet-registry-azurite-'));
  const accountName = ACCOUNT_NAME;
  const accountKey = randomBytes(64).toString('base64');
  try {
    const { child, port } = await launch(location, `${accountName}:${accountKey}`);
    const endpoint = `http://127.0.0.1:${port}/${accountName}`;
    const credential = new StorageSharedKeyCredential(accountName, accountKey);
    const container = (name: string) => new ContainerClient(`${endpoint}/${name}`, credential);
    return {
      endpoint,
      accountName,
      accountKey,
      async createContainer(name) {
        await container(name).create();
      },
      async listKeys(name, prefix = '') {
        const keys: string[] = [];
        for await (const blob of container(name).listBlobsFlat({ prefix, includeUncommitedBlobs: true })) keys.push(blob.name.slice(prefix.length));
        return keys.sort();
      },
      async stop() {
        await stopChild(child);
        await rm(location, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(location, { recursive: true, force: true });
    throw error;
  }
}

/** Azurite's blob service entry point, run on this Node.js (the `node` devDependency in tests). */
function azuriteBlobMain(): string {
  const packageJson = createRequire(import.meta.url).resolve('azurite/package.json');
  return join(dirname(packageJson), 'dist', 'src', 'blob', 'main.js');
}

/** Tries a few free ports: another process may take one between choosing and binding. */
async function launch(location: string, accounts: string): Promise<{ child: ChildProcess; port: number }> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        azuriteBlobMain(),
        '--blobHost', '127.0.0.1',
        '--blobPort', String(port),
        '--location', location,
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--silent',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, AZURITE_ACCOUNTS: accounts } },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitUntilListening(child, port, 'Azurite', 1500);
      return { child, port };
    } catch (error) {
      await stopChild(child);
      lastError = new Error(`Azurite did not start: ${(error as Error).message}\n${stderr}`);
      if (!/EADDRINUSE/.test(stderr)) break;
    }
  }
  throw lastError;
}
