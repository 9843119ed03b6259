/**
 * The directory source: droplets saved on disk (e.g. with `cf download-droplet`), laid out as
 *
 *   <DROPLETS_DIR>/<org>/<space>/<app>/
 *     <droplet-guid>.tgz          the droplet (`droplet_<guid>.tgz`, cf download-droplet's name, works too)
 *     <droplet-guid>.json         optional: the droplet's facts in the shape of a CAPI v3 droplet
 *                                 (state, stack, process_types, buildpacks, created_at, lifecycle, checksum)
 *     current                     optional: a text file holding the guid of the current droplet
 *
 * `latest` is the droplet named in `current`; without that file, the STAGED droplet created last
 * (sidecar `created_at`, else the file's mtime; ties broken by guid). Org, space and app names
 * match through their repository form (see repository-names.ts). Guids of orgs, spaces and apps
 * are derived from their names (name-based UUIDs), so they are stable across restarts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RegistryError } from '../../errors/registry-error.ts';
import { verifyChecksum } from '../checksum-verifier.ts';
import type { AppRef, DropletFacts, DropletSource } from '../droplet-source.ts';
import { pickByRepositoryComponent } from '../repository-names.ts';

const DROPLET_FILE = /^(?:droplet_)?([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})\.(?:tgz|tar\.gz)$/;

interface DropletFile {
  readonly guid: string;
  readonly path: string;
}

interface SidecarDroplet {
  state?: string;
  stack?: string | null;
  process_types?: Record<string, string> | null;
  buildpacks?: Array<{ name: string; version?: string | null }> | null;
  created_at?: string;
  lifecycle?: { type?: string };
  checksum?: { type: 'sha256' | 'sha1'; value: string } | null;
}

export class DirectorySource implements DropletSource {
  readonly #root: string;
  readonly #defaultStack: string;

  constructor(options: { root: string; defaultStack: string }) {
    this.#root = options.root;
    this.#defaultStack = options.defaultStack;
  }

  async findApp(org: string, space: string, app: string): Promise<AppRef> {
    const orgName = await this.#pickDirectory(this.#root, org);
    const spaceName = orgName && (await this.#pickDirectory(join(this.#root, orgName), space));
    const appName = spaceName && (await this.#pickDirectory(join(this.#root, orgName, spaceName), app));
    if (!orgName || !spaceName || !appName) {
      throw new RegistryError('NAME_UNKNOWN', `repository ${org}/${space}/${app} not found`, {
        detail: { name: `${org}/${space}/${app}` },
      });
    }
    return {
      guid: nameBasedGuid('app', orgName, spaceName, appName),
      name: appName,
      space: { guid: nameBasedGuid('space', orgName, spaceName), name: spaceName },
      org: { guid: nameBasedGuid('org', orgName), name: orgName },
    };
  }

  async findAppByGuid(appGuid: string): Promise<AppRef> {
    for (const org of await this.#directories(this.#root)) {
      for (const space of await this.#directories(join(this.#root, org))) {
        for (const app of await this.#directories(join(this.#root, org, space))) {
          if (nameBasedGuid('app', org, space, app) === appGuid) return this.findApp(org, space, app);
        }
      }
    }
    throw new RegistryError('NAME_UNKNOWN', `no app with guid ${appGuid}`, { detail: { name: appGuid } });
  }

  async currentDroplet(app: AppRef): Promise<DropletFacts> {
    const current = await readFile(join(this.#appDir(app), 'current'), 'utf8').then(
      (text) => text.trim(),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      },
    );
    if (current) return this.findDroplet(app, current);
    const staged = await this.listStagedDroplets(app);
    const newest = staged.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.guid.localeCompare(a.guid))[0];
    if (!newest) throw new RegistryError('MANIFEST_UNKNOWN', `app ${app.name} has no current droplet`);
    return newest;
  }

  async findDroplet(app: AppRef, dropletGuid: string): Promise<DropletFacts> {
    const file = (await this.#dropletFiles(app)).find((candidate) => candidate.guid === dropletGuid);
    if (!file) {
      throw new RegistryError('MANIFEST_UNKNOWN', `droplet ${dropletGuid} not found for app ${app.name}`);
    }
    return this.#facts(app, file);
  }

  async listStagedDroplets(app: AppRef): Promise<DropletFacts[]> {
    const files = await this.#dropletFiles(app);
    const facts = await Promise.all(files.map((file) => this.#facts(app, file)));
    return facts.filter((droplet) => droplet.state === 'STAGED');
  }

  async openDroplet(app: AppRef, droplet: DropletFacts, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const file = (await this.#dropletFiles(app)).find((candidate) => candidate.guid === droplet.guid);
    if (!file) throw new RegistryError('MANIFEST_UNKNOWN', `droplet ${droplet.guid} not found for app ${app.name}`);
    const stream = createReadStream(file.path, { signal: options.signal, highWaterMark: 1024 * 1024 });
    return verifyChecksum(stream, droplet.checksum, `droplet ${droplet.guid}`);
  }

  #appDir(app: AppRef): string {
    return join(this.#root, app.org.name, app.space.name, app.name);
  }

  async #pickDirectory(parent: string, component: string): Promise<string | undefined> {
    return pickByRepositoryComponent(await this.#directories(parent), (name) => name, component);
  }

  async #directories(parent: string): Promise<string[]> {
    const entries = await readdir(parent, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
      throw error;
    });
    return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  }

  async #dropletFiles(app: AppRef): Promise<DropletFile[]> {
    const dir = this.#appDir(app);
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    return names.flatMap((name) => {
      const guid = DROPLET_FILE.exec(name)?.[1];
      return guid ? [{ guid, path: join(dir, name) }] : [];
    });
  }

  async #facts(app: AppRef, file: DropletFile): Promise<DropletFacts> {
    const sidecarPath = join(this.#appDir(app), `${file.guid}.json`);
    const sidecar = await readFile(sidecarPath, 'utf8').then(
      (text) => parseSidecar(text, sidecarPath),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return {} as SidecarDroplet;
        throw error;
      },
    );
    const createdAt = sidecar.created_at ?? (await stat(file.path)).mtime.toISOString().replace(/\.\d+Z$/, 'Z');
    return {
      guid: file.guid,
      appGuid: app.guid,
      state: sidecar.state ?? 'STAGED',
      lifecycleType: sidecar.lifecycle?.type ?? 'buildpack',
      stack: sidecar.stack === undefined ? this.#defaultStack : sidecar.stack,
      processTypes: sidecar.process_types ?? null,
      buildpacks: sidecar.buildpacks ?? [],
      createdAt,
      checksum: sidecar.checksum ?? null,
    };
  }
}

function parseSidecar(text: string, path: string): SidecarDroplet {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as SidecarDroplet;
  } catch (error) {
    throw new RegistryError('MANIFEST_UNKNOWN', `droplet metadata ${path} is not valid: ${(error as Error).message}`);
  }
}

/** A stable UUID-shaped id for a name path (the directory source has no Cloud Controller guids). */
function nameBasedGuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\0')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
