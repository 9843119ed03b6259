/**
 * An in-process registry for protocol tests: the real composition (`buildRegistry`) on a test
 * database, a temporary data dir and a droplets dir the test fills; requests go through
 * `server.inject`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.ts';
import { buildRegistry, type BuildOptions, type Registry } from '../../src/wiring/build-registry.ts';
import { buildDroplet } from './build-droplet.ts';

/** A small stand-in for a stack rootfs: enough entries to be a real layer. */
export function buildTinyRootfs(): Promise<Buffer> {
  return buildDroplet([
    { name: 'bin/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { name: 'bin/sh', content: '#!stand-in shell\n', mode: 0o755, uid: 0, gid: 0 },
    { name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\nvcap:x:2000:2000::/home/vcap:/bin/sh\n', mode: 0o644, uid: 0, gid: 0 },
    { name: 'home/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { name: 'home/vcap/', type: 'directory', mode: 0o755, uid: 2000, gid: 2000 },
  ]);
}

export interface DropletFixture {
  readonly org: string;
  readonly space: string;
  readonly app: string;
  readonly guid: string;
  readonly bytes: Buffer;
  /** The sidecar JSON (a CAPI v3 droplet); none when omitted. */
  readonly json?: Record<string, unknown>;
}

/** Lays a droplet out the way the directory source reads it. */
export async function writeDroplet(dropletsDir: string, droplet: DropletFixture): Promise<void> {
  const dir = join(dropletsDir, droplet.org, droplet.space, droplet.app);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${droplet.guid}.tgz`), droplet.bytes);
  if (droplet.json) await writeFile(join(dir, `${droplet.guid}.json`), JSON.stringify(droplet.json));
}

export interface TestRegistry {
  readonly registry: Registry;
  readonly dataDir: string;
  readonly dropletsDir: string;
  /** Every log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The `event` field of every log line so far (import.start, conversion.succeeded, …). */
  readonly events: string[];
  /** Stops the registry (and removes its data dir unless `keepData`). */
  close(options?: { keepData?: boolean }): Promise<void>;
}

export async function createTestRegistry(options: {
  databaseUrl?: string;
  stacks: Record<string, string>;
  dropletsDir: string;
  dataDir?: string;
  env?: Record<string, string>;
  /** Wraps the registry's blobstore, e.g. in a `FaultyBlobStore`. */
  wrapBlobStore?: BuildOptions['wrapBlobStore'];
}): Promise<TestRegistry> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'registry-data-')));
  const config = loadConfig({
    env: {
      DATA_DIR: dataDir,
      DROPLETS_DIR: options.dropletsDir,
      STACKS: Object.entries(options.stacks)
        .map(([stack, path]) => `${stack}=${path}`)
        .join(','),
      PORT: '0',
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
      ...options.env,
    },
  });
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const registry = await buildRegistry(config, logger, { wrapBlobStore: options.wrapBlobStore });
  return {
    registry,
    dataDir,
    logs,
    get events() {
      return logs.map((line) => String(line.event));
    },
    dropletsDir: options.dropletsDir,
    async close({ keepData = false } = {}) {
      await registry.stop();
      if (!keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
