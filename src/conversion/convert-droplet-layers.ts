/**
 * Droplet → image layers in one streaming pass: the downloaded `.tgz` is gunzipped and its
 * entries re-rooted under /home/vcap and checked exactly as for the single layer
 * (convert-droplet.ts), then each entry goes to its layer as it streams (droplet-layer-routing.ts):
 * one per `deps/<i>` directory, and the app layer for the rest. Every layer is compressed and
 * hashed at the same time on its own pipeline, their gzip blocks spread over the cores from one
 * shared budget (so memory is that of one layer's blocks plus one partial block per layer); a
 * layer whose reader falls behind pauses the droplet, so memory stays flat whatever the droplet's
 * size. The layers are committed together once all are complete (staged-layers.ts): a bad droplet
 * fails with an `InvalidDropletError` and leaves nothing in the blobstore, and a layer the store
 * already has is not written again.
 */
import { pipeline } from 'node:stream/promises';
import type { ConvertDropletOptions } from './convert-droplet.ts';
import { InvalidDropletError } from '../errors/registry-error.ts';
import { createDropletInput } from './droplet-input.ts';
import { APP_LAYER, DROPLET_PREFIX, DropletLayerRouter, layerRank } from './droplet-layer-routing.ts';
import type { DropletLayer } from './droplet-layer.ts';
import { GzipBlockBudget } from './reproducible-gzip.ts';
import { createTarSplit, TarOutput } from './split-tar.ts';
import { cancelStagedLayers, commitStagedLayers, writeStagedLayer, type StagedLayer, type StoredOutcome } from './staged-layers.ts';

export type { DropletLayer } from './droplet-layer.ts';
export type { StoredOutcome } from './staged-layers.ts';

/** One droplet to convert into layers. */
export interface ConvertDropletLayersOptions extends ConvertDropletOptions {
  /** One layer per deps/<i> directory (up to MAX_DEPS_LAYERS) and one for the rest; false: one layer, as convertDroplet makes. */
  readonly splitDeps: boolean;
  /**
   * Told of each layer once all are stored, bottom → top, before the promise settles:
   * `committed` when this conversion wrote its blob, `found` when the store already had it (the
   * copy written was dropped). A caller undoing a later failure removes only the committed ones.
   */
  readonly onLayerStored?: ((layer: DropletLayer, outcome: StoredOutcome) => void) | undefined;
}

/** A layer being written. */
interface LayerWrite {
  readonly key: string;
  readonly output: TarOutput;
  /** The staged layer, or undefined when the write failed (the conversion's failure says why). */
  readonly staged: Promise<StagedLayer | undefined>;
}

/** Converts one droplet into stored gzip layers rooted at /home/vcap, bottom → top. */
export async function convertDropletLayers(options: ConvertDropletLayersOptions): Promise<DropletLayer[]> {
  const input = createDropletInput(options);
  const router = new DropletLayerRouter({ splitDeps: options.splitDeps });
  const writes = new Map<string, LayerWrite>();
  // The layers share the cores: one budget of gzip blocks in flight, as one layer has on its own.
  const gzipBudget = new GzipBlockBudget();
  let failure: { readonly error: unknown } | undefined;

  const split = createTarSplit(
    (header) => {
      const rewritten = input.rule(header);
      if (rewritten === null) return null;
      const routed = router.route(rewritten, input.state.tree.lastPlaceReplaced);
      // In one layer, a directory replaced by a file or link takes what was under it along; split,
      // what a lower layer holds under it would show through again once the path is a directory.
      if (router.splitSoFar && input.state.tree.lastPlaceDroppedDirectory) {
        throw new InvalidDropletError(
          `droplet entry ${JSON.stringify(`./${rewritten.name.slice(DROPLET_PREFIX.length)}`)} replaces a directory with a ${rewritten.type}; split droplet layers cannot express it (give the path one entry, or convert with DROPLET_LAYERS=single)`,
        );
      }
      return {
        output: layerOutput(routed.layer),
        header: routed.header,
        before: routed.before,
        copies: routed.copies.map((copy) => ({ output: layerOutput(copy.layer), header: copy.header })),
      };
    },
    { observe: input.stagingInfo.observe, atEnd: input.checkComplete },
  );
  // The first failure is the one reported; it stops the droplet and every layer's write.
  const fail = (error: unknown): void => {
    if (failure !== undefined) return;
    failure = { error };
    split.destroy();
    for (const write of writes.values()) write.output.readable.destroy();
  };
  function layerOutput(key: string): TarOutput {
    const existing = writes.get(key);
    if (existing !== undefined) return existing.output;
    const output = new TarOutput();
    const { blobs, compressionLevel, signal } = options;
    const staged = writeStagedLayer(output.readable, { blobs, compressionLevel, signal, gzipBudget }).catch((error: unknown) => {
      fail(error);
      return undefined;
    });
    writes.set(key, { key, output, staged });
    if (failure !== undefined) output.readable.destroy();
    return output;
  }

  // Staged at once, as the single layer is: every droplet has an app layer.
  layerOutput(APP_LAYER);
  try {
    await pipeline([options.droplet, ...input.stages, split], { signal: options.signal });
  } catch (error) {
    fail(error);
  }
  const ordered = [...writes.values()].sort((a, b) => layerRank(a.key) - layerRank(b.key));
  const staged = await Promise.all(ordered.map((write) => write.staged));
  const complete = staged.filter((layer): layer is StagedLayer => layer !== undefined);
  if (failure !== undefined || complete.length !== ordered.length) {
    await cancelStagedLayers(complete);
    throw input.describeFailure(failure?.error);
  }
  const outcomes = await commitStagedLayers(options.blobs, complete);
  const layers = complete.map(({ descriptor }, index): DropletLayer => {
    const { key } = ordered[index] as LayerWrite;
    return key === APP_LAYER ? { ...descriptor, role: 'app' } : { ...descriptor, role: 'deps', depsIndex: key };
  });
  layers.forEach((layer, index) => options.onLayerStored?.(layer, outcomes[index] as StoredOutcome));
  const info = input.stagingInfo.result();
  if (info !== undefined) options.onStagingInfo?.(info);
  return layers;
}
