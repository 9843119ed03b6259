/**
 * Runs each image's conversion once across all instances sharing the database.
 *
 * @remarks
 * Requests here for one image join one in-process flight. The flight's instance converts when its
 * claim on the image row wins: it then holds a lease it renews while it converts. Otherwise it
 * waits until the image lands, woken by `ImageLandings`, and takes the conversion over when the
 * lease runs out (its instance died). A conversion belongs to no request: it goes on when the
 * client hangs up or the request's wait ends, and a retry joins it. At shutdown, conversions still
 * running when time is up are cancelled and handed back: nothing of them kept, their leases
 * released, so another instance takes them over at once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { InvalidDropletError, RegistryError } from '../errors/registry-error.ts';
import type { ConversionMetrics } from '../metrics/conversion-metrics.ts';
import type { AppRef, DropletFacts, DropletSource } from '../sources/droplet-source.ts';
import { SingleFlight } from '../util/single-flight.ts';
import { assembleImage, convertDropletStream, type CommittedBlob } from './assemble-image.ts';
import type { ConversionSlots } from './conversion-slots.ts';
import { conversionFailed, dropletOfAnotherApp } from './droplet-refusals.ts';
import type { ImageLandings } from './image-landings.ts';
import type { ConversionAttempt, ImageRecords, ImageState, StoredDroplet } from './image-records.ts';
import type { ImageTarget } from './image-target.ts';
import type { StorageBudget } from './storage-budget.ts';

export interface ConversionCoordinatorOptions {
  readonly records: ImageRecords;
  readonly blobs: BlobStore;
  readonly source: DropletSource;
  readonly compressionLevel: number;
  /** One layer per buildpack's deps/<i> directory and one for the rest (DROPLET_LAYERS=split), or the droplet in one layer. */
  readonly splitDeps: boolean;
  readonly limits: { readonly maxUncompressedBytes: number; readonly maxEntries: number };
  /** Names this process in conversion records and leases. */
  readonly instance: string;
  readonly slots: ConversionSlots;
  readonly landings: ImageLandings;
  /** A conversion's lease lasts this long without a heartbeat; renewed every third of it. */
  readonly leaseMs: number;
  readonly logger: Logger;
  /** Conversion figures for /metrics; none: not recorded. */
  readonly metrics?: ConversionMetrics;
  /** Refuses conversions while the blobs take the storage budget or more; none: no budget. */
  readonly storageBudget?: Pick<StorageBudget, 'assertRoomForConversion'>;
}

/** What one attempt has read and written so far, for its failure to undo and report. */
interface ConversionRun {
  bytesIn: number;
  readonly written: CommittedBlob[];
  /** Stops the droplet download (shutdown's hand-back). */
  stopReading: () => void;
}

/** Longest a waiter sleeps between looks at the image row, when no notification wakes it. */
const MAX_POLL_MS = 2_000;
/** How long shutdown waits for cancelled conversions to clean up after themselves. */
const HAND_BACK_GRACE_MS = 5_000;

export class ConversionCoordinator {
  readonly #options: ConversionCoordinatorOptions;
  readonly #flights = new SingleFlight<ImageState>();
  #stopping = false;
  /** Aborted when shutdown's time is up: conversions still running give their images back. */
  readonly #handBack = new AbortController();

  constructor(options: ConversionCoordinatorOptions) {
    this.#options = options;
  }

  /**
   * The ready image of the target, converted here or by another instance; joins the conversion
   * under way in this process if there is one. Rejects with MANIFEST_UNKNOWN when the droplet
   * cannot become an image, UNAVAILABLE when an attempt failed for a reason a retry may cure (or
   * the instance is shutting down), TOOMANYREQUESTS when the conversion slots are full.
   */
  imageOf(app: AppRef, droplet: DropletFacts, target: ImageTarget): Promise<ImageState> {
    return this.#flights.run(JSON.stringify(target.key), () => this.#obtain(app, droplet, target));
  }

  /**
   * Graceful shutdown: requests waiting on other instances give up, no conversion starts, and
   * those under way may finish within `timeoutMs`; then they are cancelled and handed back.
   */
  async drain(timeoutMs = Infinity): Promise<void> {
    this.#stopping = true;
    await this.#options.landings.stop();
    const settled = this.#flights.drain();
    if (await settlesWithin(settled, timeoutMs)) return;
    this.#handBack.abort(new Error('this registry instance is shutting down'));
    if (!(await settlesWithin(settled, HAND_BACK_GRACE_MS))) {
      this.#options.logger.warn({ event: 'conversion.hand_back_stuck', conversions: this.#flights.size }, 'conversions did not stop when cancelled; their leases will run out');
    }
  }

  /** Waits for the image while another instance converts it, converts it here when nobody does. */
  async #obtain(app: AppRef, droplet: DropletFacts, target: ImageTarget): Promise<ImageState> {
    const { records, landings, leaseMs, instance } = this.#options;
    let waited = false;
    for (;;) {
      const image = await records.find(target.key);
      if (image && image.appGuid !== app.guid) throw dropletOfAnotherApp(droplet);
      if (image?.state === 'ready') return image;
      if (image?.state === 'failed' && (waited || !image.retryable)) {
        // The attempt waited for failed: retrying at once on every waiting instance would hammer a failing source.
        if (!image.retryable) throw conversionFailed(droplet, image.error);
        throw new RegistryError('UNAVAILABLE', `conversion of droplet ${droplet.guid} failed; try again`, { retryAfter: 5 });
      }
      if (this.#stopping) throw shuttingDown();
      if (image?.state === 'converting' && image.leaseHeld) {
        waited = true;
        await landings.wait(image.id, Math.min(MAX_POLL_MS, leaseMs));
        continue;
      }
      const release = await this.#options.slots.acquire(app.guid);
      try {
        // The slot may have come free because shutdown cancelled the conversion holding it.
        if (this.#stopping) throw shuttingDown();
        // Checked before claiming: a claim makes the image row this app's, which would lock the owner out.
        const stored = await records.findDroplet(droplet.guid);
        if (stored && stored.appGuid !== app.guid) throw dropletOfAnotherApp(droplet);
        const imageId = await records.claim(target.key, { appGuid: app.guid, stack: target.stack, instance, leaseMs });
        // Null: another instance claimed it (or finished it) since we looked.
        if (imageId !== null) return await this.#convert(app, droplet, target, imageId);
      } finally {
        release();
      }
    }
  }

  /**
   * Builds the image under the lease this instance holds on `imageId`: from the droplet's layers
   * when it was converted before and they are all still stored (a rebase: no download), else by
   * converting the droplet.
   */
  async #convert(app: AppRef, droplet: DropletFacts, target: ImageTarget, imageId: number): Promise<ImageState> {
    const { records, blobs, logger, instance, metrics } = this.#options;
    const started = performance.now();
    const attempt = await records.startAttempt(imageId, randomUUID(), instance);
    const log = logger.child({ conversion: attempt.conversionId, droplet: droplet.guid, app: app.guid });
    const heartbeat = this.#heartbeat(imageId, log);
    const run: ConversionRun = { bytesIn: 0, written: [], stopReading: () => undefined };
    const handBack = this.#handBack.signal;
    try {
      const stored = await this.#storedDroplet(app, droplet);
      const dropletLayers = stored ?? (await this.#convertDroplet(app, droplet, imageId, run, log));
      const converted = stored ? undefined : dropletLayers;
      const image = await assembleImage({ app, droplet, stack: target.stack, base: target.base, converted: dropletLayers, blobs, onCommitted: (blob) => run.written.push(blob) });
      const conversionMs = Math.round(performance.now() - started);
      const { bytesIn } = run;
      await records.land(attempt, {
        manifestDigest: image.manifestDigest,
        manifest: image.manifestBytes,
        config: { digest: image.configDigest, size: image.configBytes.length },
        layers: image.layers,
        ...(converted ? { converted } : {}),
        conversionMs,
        bytesIn,
      });
      if (converted) {
        const bytesOut = converted.layers.reduce((sum, layer) => sum + layer.size, 0);
        const uncompressed = converted.layers.reduce((sum, layer) => sum + layer.uncompressedSize, 0);
        log.info({ event: 'conversion.succeeded', ms: conversionMs, bytesIn, bytesOut, uncompressed, layers: converted.layers.length, manifest: image.manifestDigest }, 'droplet converted');
        metrics?.succeeded({ seconds: conversionMs / 1000, bytesIn, bytesOut });
      } else {
        await this.#reportRebase(target, image.manifestDigest, conversionMs, log);
      }
      return { id: imageId, appGuid: app.guid, state: 'ready', manifest: image.manifestBytes, manifestDigest: image.manifestDigest, error: null, retryable: true, leaseHeld: false };
    } catch (error) {
      if (handBack.aborted) return await this.#giveBack(attempt, { written: run.written, bytesIn: run.bytesIn, heartbeat, log });
      const retryable = !(error instanceof InvalidDropletError);
      const reason = (error as Error).message;
      log.warn({ event: 'conversion.failed', err: error, retryable }, `droplet conversion failed: ${reason}`);
      metrics?.failed(error, { seconds: (performance.now() - started) / 1000, bytesIn: run.bytesIn });
      await this.#discardUnrecorded(run.written, log);
      await records.fail(attempt, { error: reason, retryable, instance, bytesIn: run.bytesIn }).catch((e: unknown) => log.error({ err: e }, 'could not record the failed conversion'));
      if (!retryable) throw conversionFailed(droplet, reason);
      if (error instanceof RegistryError) throw error;
      throw new RegistryError('UNAVAILABLE', `conversion of droplet ${droplet.guid} failed; try again`, { retryAfter: 5, cause: error });
    } finally {
      clearInterval(heartbeat);
      handBack.removeEventListener('abort', run.stopReading);
    }
  }

  /** Downloads the droplet and converts it into its layers (within the storage budget), noting in `run` what it read and wrote. */
  async #convertDroplet(app: AppRef, droplet: DropletFacts, imageId: number, run: ConversionRun, log: Logger): Promise<StoredDroplet> {
    const { source, blobs, metrics, storageBudget } = this.#options;
    const handBack = this.#handBack.signal;
    log.info({ event: 'conversion.started', image: imageId }, 'converting droplet');
    await storageBudget?.assertRoomForConversion();
    const dropletStream = await source.openDroplet(app, droplet, { signal: handBack });
    metrics?.watchDroplet(dropletStream);
    // Cancelling the download fails the conversion's pipeline, which cancels its staged writes.
    run.stopReading = () => void dropletStream.destroy(handBack.reason as Error);
    if (handBack.aborted) run.stopReading();
    else handBack.addEventListener('abort', run.stopReading, { once: true });
    const result = await convertDropletStream({
      dropletStream,
      blobs,
      compressionLevel: this.#options.compressionLevel,
      splitDeps: this.#options.splitDeps,
      limits: this.#options.limits,
      onProgress: (bytesRead) => {
        run.bytesIn = bytesRead;
      },
      onCommitted: (blob) => run.written.push(blob),
    });
    return { dropletGuid: droplet.guid, appGuid: app.guid, ...result };
  }

  /** The droplet's recorded layers when every one of them is still in the blobstore (else it is converted again). */
  async #storedDroplet(app: AppRef, droplet: DropletFacts): Promise<StoredDroplet | undefined> {
    const stored = await this.#options.records.findDroplet(droplet.guid);
    if (!stored) return undefined;
    if (stored.appGuid !== app.guid) throw dropletOfAnotherApp(droplet);
    for (const layer of stored.layers) if (!(await this.#options.blobs.stat(layer.digest))) return undefined;
    return stored;
  }

  /** Logs and counts a rebase, saying which parts of the base changed since the droplet's previous image. */
  async #reportRebase(target: ImageTarget, manifestDigest: string, ms: number, log: Logger): Promise<void> {
    const previous = await this.#options.records.previousBase(target.key).catch(() => undefined);
    const { key } = target;
    const parts = [
      ['stack', previous?.stackDigest, key.stackDigest],
      ['foundation', previous?.foundationDigest, key.foundationDigest],
      ['lifecycle', previous?.lifecycleDigest, key.lifecycleDigest],
    ] as const;
    const changes = previous ? parts.filter(([, from, to]) => from !== to) : [];
    const changed = Object.fromEntries(changes.map(([part, from, to]) => [part, { from: from || null, to: to || null }]));
    const summary = changes.length > 0 ? changes.map(([part, from, to]) => `${part} ${from || 'none'} → ${to || 'none'}`).join(', ') : 'no earlier image of it here';
    log.info({ event: 'image.rebased', ms, stack: target.stack, changed, manifest: manifestDigest }, `droplet's stored layers put on a new base (${summary})`);
    this.#options.metrics?.rebased(changes.map(([part]) => part));
  }

  /** A conversion cancelled by shutdown: nothing of it kept, its lease released, waiters elsewhere woken to take it over. */
  async #giveBack(attempt: ConversionAttempt, progress: { written: CommittedBlob[]; bytesIn: number; heartbeat: NodeJS.Timeout; log: Logger }): Promise<never> {
    const { records, instance } = this.#options;
    // No renewal may come after the release.
    clearInterval(progress.heartbeat);
    await this.#discardUnrecorded(progress.written, progress.log);
    await records.handBack(attempt, instance, progress.bytesIn).catch((e: unknown) => progress.log.error({ err: e }, 'could not release the conversion lease; it will run out'));
    progress.log.info({ event: 'conversion.handed_back', image: attempt.imageId, bytesIn: progress.bytesIn }, 'shutting down: conversion cancelled and handed back to the other instances');
    throw shuttingDown();
  }

  /** Renews the lease every third of its length, so a missed renewal or two do not lose it. */
  #heartbeat(imageId: number, log: Logger): NodeJS.Timeout {
    const { records, instance, leaseMs } = this.#options;
    let warned = false;
    const timer = setInterval(() => {
      records.renewLease(imageId, { instance, leaseMs }).then(
        (held) => {
          if (held || warned) return;
          warned = true;
          // The work goes on: the image is reproducible, so whichever instance lands it first wins and the other's rows are the same.
          log.warn({ event: 'conversion.lease_lost', image: imageId }, 'another instance took this conversion over (the lease ran out)');
        },
        (error: unknown) => log.warn({ event: 'conversion.heartbeat_failed', err: error }, 'could not renew the conversion lease'),
      );
    }, Math.max(1, Math.floor(leaseMs / 3)));
    timer.unref();
    return timer;
  }

  /**
   * Undoes what this conversion wrote that no row references yet: its own blobs are deleted. A
   * deps layer is handed to garbage collection instead (a blob row marked unreferenced, removed
   * after the grace period): another app's conversion may have found it in the store meanwhile and
   * be about to reference it. So is a blob that cannot be deleted now.
   */
  async #discardUnrecorded(written: readonly CommittedBlob[], log: Logger): Promise<void> {
    const { records, blobs } = this.#options;
    for (const blob of written) {
      try {
        if (await records.isBlobRecorded(blob.digest)) continue;
        if (!blob.shared) {
          try {
            await blobs.delete(blob.digest);
            continue;
          } catch (error) {
            log.warn({ err: error, digest: blob.digest }, 'could not remove a blob of the failed conversion; garbage collection will');
          }
        }
        await records.leaveToCollection(blob);
      } catch (error) {
        log.error({ err: error, digest: blob.digest }, 'could not remove or record a blob of the failed conversion; it stays in the blobstore without a row');
      }
    }
  }
}

function shuttingDown(): RegistryError {
  return new RegistryError('UNAVAILABLE', 'this registry instance is shutting down; try again', { retryAfter: 1 });
}

/** Whether `work` settles within `ms` (Infinity: waits for it). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms === Infinity) {
    await work;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([work.then(() => true), timeout]).finally(() => clearTimeout(timer));
}
