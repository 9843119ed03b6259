/**
 * The directory source: droplets saved on disk (e.g. with `cf download-droplet`), laid out as
 *
 *   <DROPLETS_DIR>/<org>/<space>/<app>/
 *     <droplet-guid>.tgz          the droplet (`droplet_<guid>.tgz`, cf download-droplet's name, works too;
 *                                 `droplet.tgz`, no guid at all, gets one derived from the names: see below)
 *     <droplet-guid>.json         optional: the droplet's facts in the shape of a CAPI v3 droplet
 *                                 (state, stack, process_types, buildpacks, created_at, lifecycle, checksum)
 *     current                     optional: a text file holding the guid of the current droplet
 *
 * `latest` is the droplet named in `current`; without that file, the STAGED droplet created last
 * (sidecar `created_at`, else the file's mtime; ties broken by guid). The droplet's `created_at`
 * itself (the image's `created`) is the sidecar's, else the newest mtime inside the droplet
 * (newest-entry-time.ts): images depend on the droplet's bytes, not on when the file was copied.
 * `latest` keeps the file's mtime because "the droplet copied in last is the latest" is what people
 * expect of a folder, and it spares reading every droplet to pick one.
 *
 * Org, space and app names match through their repository form (see repository-names.ts). Guids
 * of orgs, spaces and apps are derived from their names (name-based UUIDs), so they are stable
 * across restarts; so is the guid of a droplet saved without one (`droplet.tgz`), derived from the
 * app's names and the file name, so two apps' `droplet.tgz` never share a tag or a cached image.
 *
 * Directory listings, `current` and the sidecars are read once and then reused while a `stat`
 * says they are unchanged (unchanged-path-cache.ts), so a warm pull costs a few `stat`s rather
 * than four `readdir`s and failed opens; a droplet dropped into the folder is seen at once.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { RegistryError } from '../../errors/registry-error.ts';
import { verifyChecksum } from '../checksum-verifier.ts';
import type { AppRef, DropletFacts, DropletSource } from '../droplet-source.ts';
import { pickRepositoryComponent, type NameLevel } from '../repository-names.ts';
import { SingleFlight } from '../../util/single-flight.ts';
import { newestEntryTime } from './newest-entry-time.ts';
import { UnchangedPathCache } from './unchanged-path-cache.ts';

const DROPLET_FILE = /^(?:droplet_)?([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})\.(?:tgz|tar\.gz)$/;

/** The stem of a droplet saved without a guid (`droplet.tgz`): such a file gets a derived guid. */
const UNNAMED_DROPLET_STEM = 'droplet';

interface DropletFile {
  readonly guid: string;
  readonly path: string;
  /** `<stem>.json`, next to the droplet. */
  readonly sidecarName: string;
}

/** What a directory holds: its subdirectories, and the names of all its entries. */
interface Listing {
  readonly directories: readonly string[];
  readonly names: ReadonlySet<string>;
}

/** Paths remembered per cache: far more than the apps a folder holds, still a few MB at most. */
const MAX_CACHED_PATHS = 20_000;

/**
 * Tar entries read for a droplet's `created_at` (when no sidecar has one): more than droplets
 * hold (a large node app has tens of thousands of files); past it, the newest mtime seen so far.
 */
export const MAX_ENTRIES_FOR_CREATED_AT = 200_000;

/** `created_at` of a droplet without sidecar `created_at` whose tar cannot be read or holds no mtime. */
export const UNKNOWN_CREATED_AT = '1970-01-01T00:00:00Z';

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
  readonly #listings = new UnchangedPathCache(readListing, { maxEntries: MAX_CACHED_PATHS });
  readonly #currentFiles = new UnchangedPathCache((path) => readFile(path, 'utf8'), { maxEntries: MAX_CACHED_PATHS });
  readonly #sidecars = new UnchangedPathCache(async (path) => parseSidecar(await readFile(path, 'utf8'), path), { maxEntries: MAX_CACHED_PATHS });
  readonly #contentTimes = new UnchangedPathCache((path) => this.#readContentTime(path), { maxEntries: MAX_CACHED_PATHS });
  /** Concurrent first pulls of a droplet read its content once. */
  readonly #contentTimeReads = new SingleFlight<string>();
  readonly #logger: Logger;
  /** Droplet files already warned about for having no guid in their name (one per such file). */
  readonly #warnedUnnamed = new Set<string>();

  constructor(options: { root: string; defaultStack: string; logger: Logger }) {
    this.#root = options.root;
    this.#defaultStack = options.defaultStack;
    this.#logger = options.logger;
  }

  async findApp(org: string, space: string, app: string): Promise<AppRef> {
    const name = `${org}/${space}/${app}`;
    const orgName = await this.#pickDirectory(this.#root, org, 'org', name);
    const spaceName = await this.#pickDirectory(join(this.#root, orgName), space, 'space', name);
    const appName = await this.#pickDirectory(join(this.#root, orgName, spaceName), app, 'app', name);
    return appRef(orgName, spaceName, appName);
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
    const listing = await this.#appListing(app);
    const current = listing.names.has('current')
      ? await this.#currentFiles.get(join(this.#appDir(app), 'current')).then(
          (text) => text.trim(),
          (error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return null; // removed since the listing
            throw error;
          },
        )
      : null;
    if (current) return this.#findDropletIn(app, listing, current);
    const staged = await this.#stagedFilesIn(app, listing);
    const ordered = await Promise.all(
      staged.map(async (droplet) => ({ ...droplet, order: droplet.sidecar.created_at ?? isoSeconds((await stat(droplet.file.path)).mtime) })),
    );
    const newest = ordered.sort((a, b) => b.order.localeCompare(a.order) || b.file.guid.localeCompare(a.file.guid))[0];
    if (!newest) throw new RegistryError('MANIFEST_UNKNOWN', `app ${app.name} has no current droplet`);
    return this.#factsFrom(app, newest.file, newest.sidecar);
  }

  async findDroplet(app: AppRef, dropletGuid: string): Promise<DropletFacts> {
    return this.#findDropletIn(app, await this.#appListing(app), dropletGuid);
  }

  async lookupDroplet(dropletGuid: string): Promise<{ app: AppRef; droplet: DropletFacts } | null> {
    for (const org of await this.#directories(this.#root)) {
      for (const space of await this.#directories(join(this.#root, org))) {
        for (const name of await this.#directories(join(this.#root, org, space))) {
          const app = appRef(org, space, name);
          const file = (await this.#dropletFiles(app)).find((candidate) => candidate.guid === dropletGuid);
          if (file) return { app, droplet: await this.#facts(app, file) };
        }
      }
    }
    return null;
  }

  async listStagedDroplets(app: AppRef): Promise<DropletFacts[]> {
    return this.#stagedDropletsIn(app, await this.#appListing(app));
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

  async #pickDirectory(parent: string, component: string, level: NameLevel, repository: string): Promise<string> {
    return pickRepositoryComponent(await this.#directories(parent), (name) => name, component, level, repository);
  }

  async #directories(parent: string): Promise<string[]> {
    return [...(await this.#listing(parent)).directories];
  }

  /** The listing of `dir`; empty when it is gone or not a directory. */
  async #listing(dir: string): Promise<Listing> {
    return this.#listings.get(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return EMPTY_LISTING;
      throw error;
    });
  }

  #appListing(app: AppRef): Promise<Listing> {
    return this.#listing(this.#appDir(app));
  }

  async #dropletFiles(app: AppRef): Promise<DropletFile[]> {
    return this.#dropletFilesIn(app, await this.#appListing(app));
  }

  #dropletFilesIn(app: AppRef, listing: Listing): DropletFile[] {
    const dir = this.#appDir(app);
    return [...listing.names].flatMap((name) => {
      const stem = DROPLET_FILE.exec(name)?.[1];
      if (!stem) return [];
      const path = join(dir, name);
      const sidecarName = `${stem}.json`;
      if (stem.toLowerCase() !== UNNAMED_DROPLET_STEM) return [{ guid: stem, path, sidecarName }];
      const guid = nameBasedGuid('droplet', app.org.name, app.space.name, app.name, name);
      this.#warnUnnamedOnce(path, guid);
      return [{ guid, path, sidecarName }];
    });
  }

  #warnUnnamedOnce(path: string, guid: string): void {
    if (this.#warnedUnnamed.has(path)) return;
    this.#warnedUnnamed.add(path);
    this.#logger.warn(
      { event: 'directory.droplet_without_guid', file: path, tag: guid },
      `droplet ${path} has no guid in its name; it is served as tag ${guid} (name it <droplet-guid>.tgz to choose the tag)`,
    );
  }

  async #findDropletIn(app: AppRef, listing: Listing, dropletGuid: string): Promise<DropletFacts> {
    const file = this.#dropletFilesIn(app, listing).find((candidate) => candidate.guid === dropletGuid);
    if (!file) {
      throw new RegistryError('MANIFEST_UNKNOWN', `droplet ${dropletGuid} not found for app ${app.name}`);
    }
    return this.#facts(app, file, listing);
  }

  async #stagedDropletsIn(app: AppRef, listing: Listing): Promise<DropletFacts[]> {
    const staged = await this.#stagedFilesIn(app, listing);
    return Promise.all(staged.map(({ file, sidecar }) => this.#factsFrom(app, file, sidecar)));
  }

  /** The app's STAGED droplet files, with their sidecars. */
  async #stagedFilesIn(app: AppRef, listing: Listing): Promise<Array<{ file: DropletFile; sidecar: SidecarDroplet }>> {
    const files = await Promise.all(this.#dropletFilesIn(app, listing).map(async (file) => ({ file, sidecar: await this.#sidecar(app, file, listing) })));
    return files.filter(({ sidecar }) => (sidecar.state ?? 'STAGED') === 'STAGED');
  }

  async #facts(app: AppRef, file: DropletFile, listing?: Listing): Promise<DropletFacts> {
    return this.#factsFrom(app, file, await this.#sidecar(app, file, listing));
  }

  async #sidecar(app: AppRef, file: DropletFile, listing?: Listing): Promise<SidecarDroplet> {
    const hasSidecar = (listing ?? (await this.#appListing(app))).names.has(file.sidecarName);
    if (!hasSidecar) return {};
    return this.#sidecars.get(join(this.#appDir(app), file.sidecarName)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return {}; // removed since the listing
      throw error;
    });
  }

  async #factsFrom(app: AppRef, file: DropletFile, sidecar: SidecarDroplet): Promise<DropletFacts> {
    const createdAt = sidecar.created_at ?? (await this.#contentTimeReads.run(file.path, () => this.#contentTimes.get(file.path)));
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

  /** The droplet's `created_at` from its content (see newest-entry-time.ts); UNKNOWN_CREATED_AT when it has none (with a warning) or is no regular file. */
  async #readContentTime(path: string): Promise<string> {
    // A FIFO (a droplet still being written, as tests hold a conversion open with) would be read away from the conversion.
    if (!(await stat(path)).isFile()) return UNKNOWN_CREATED_AT;
    try {
      const { newest, complete } = await newestEntryTime(path, MAX_ENTRIES_FOR_CREATED_AT);
      if (!complete) {
        this.#logger.warn(
          { event: 'directory.created_at_partial', file: path, entries: MAX_ENTRIES_FOR_CREATED_AT },
          `droplet ${path} has more than ${MAX_ENTRIES_FOR_CREATED_AT} entries; its created_at is the newest mtime among the first of them`,
        );
      }
      if (newest) return isoSeconds(newest);
      this.#logger.warn({ event: 'directory.created_at_unknown', file: path }, `droplet ${path} has no entry with an mtime; its created_at is ${UNKNOWN_CREATED_AT}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).syscall) throw error; // the file itself: gone, unreadable
      this.#logger.warn(
        { event: 'directory.created_at_unknown', file: path, error: (error as Error).message },
        `droplet ${path} is not a readable .tgz (${(error as Error).message}); its created_at is ${UNKNOWN_CREATED_AT}`,
      );
    }
    return UNKNOWN_CREATED_AT;
  }
}

/** ISO 8601 to the second, as CAPI writes `created_at`. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

const EMPTY_LISTING: Listing = { directories: [], names: new Set() };

async function readListing(dir: string): Promise<Listing> {
  const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
  return { directories: entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name), names: new Set(entries.map((entry) => entry.name)) };
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

/** The app in folder `<org>/<space>/<app>` (its directory names, not repository forms). */
function appRef(org: string, space: string, app: string): AppRef {
  return {
    guid: nameBasedGuid('app', org, space, app),
    name: app,
    space: { guid: nameBasedGuid('space', org, space), name: space },
    org: { guid: nameBasedGuid('org', org), name: org },
  };
}

/** A stable UUID-shaped id for a name path (the directory source has no Cloud Controller guids). */
function nameBasedGuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\0')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
