/**
 * The reading half of a droplet conversion, shared by the single-layer and the split conversion:
 * the stages that turn the downloaded `.tgz` into tar bytes (progress, the gzip magic probe,
 * gunzip, the decompression-bomb limits), the entry rule with the entry limit, the completeness
 * check, the staging_info.yml capture, and the translation of archive failures into an
 * `InvalidDropletError`. The rules and limits see the droplet as a whole, whatever layers its
 * entries end up in.
 */
import type { Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InvalidDropletError } from '../errors/registry-error.ts';
import { describeArchiveError } from './archive-errors.ts';
import { createByteMeter } from './byte-meter.ts';
import type { ConversionLimits } from './convert-droplet.ts';
import { checkDropletComplete, createEntryRuleState, rewriteDropletEntry, type EntryRuleState } from './droplet-entry-rules.ts';
import { createGzipMagicProbe } from './gzip-magic-probe.ts';
import type { TarEntryRule } from './rewrite-tar.ts';
import { createStagingInfoCapture, type StagingInfoCapture } from './staging-info.ts';
import { LAYER_CHUNK_BYTES } from './stream-chunk-size.ts';

/** What reading one droplet needs. */
export interface DropletInputOptions {
  readonly limits?: ConversionLimits | undefined;
  /** Compressed bytes read so far, after each chunk. */
  readonly onProgress?: ((bytesRead: number) => void) | undefined;
}

/** The parts of one droplet's reading, for one conversion. */
export interface DropletInput {
  /** Put these behind the droplet stream: what comes out is the droplet's tar. */
  readonly stages: readonly Duplex[];
  /** The droplet rule (re-rooting, security rules) with the entry limit. */
  readonly rule: TarEntryRule;
  /** What the rule has seen of the droplet so far. */
  readonly state: EntryRuleState;
  /** Refuses a droplet that, all through, would give an image with no app; call once every entry is through. */
  readonly checkComplete: () => void;
  readonly stagingInfo: StagingInfoCapture;
  /** An archive failure as the `InvalidDropletError` that says what is wrong; other errors unchanged. */
  describeFailure(error: unknown): unknown;
}

/** The reading stages, rule and checks for one droplet. */
export function createDropletInput(options: DropletInputOptions): DropletInput {
  const { maxUncompressedBytes, maxEntries } = options.limits ?? {};
  const state = createEntryRuleState();
  let entries = 0;
  const rule: TarEntryRule = (header) => {
    entries += 1;
    if (maxEntries !== undefined && entries > maxEntries) {
      throw new InvalidDropletError(`droplet has more than ${maxEntries} entries (limit maxEntries)`);
    }
    return rewriteDropletEntry(header, state);
  };
  // An image with no app would start nothing: refused once every entry is through, before the commit.
  const checkComplete = (): void => {
    if (entries === 0) throw new InvalidDropletError('droplet is empty (its tar archive has no entries)');
    checkDropletComplete(state);
  };
  let tarBytes = 0;
  const limitTarBytes = (total: number): void => {
    tarBytes = total;
    if (maxUncompressedBytes !== undefined && total > maxUncompressedBytes) {
      throw new InvalidDropletError(`droplet unpacks to more than ${maxUncompressedBytes} bytes (limit maxUncompressedBytes)`);
    }
  };
  const magic = createGzipMagicProbe();
  const stages = [
    createByteMeter((total) => {
      if (maxUncompressedBytes !== undefined && total > maxUncompressedBytes) {
        throw new InvalidDropletError(`droplet is over ${maxUncompressedBytes} bytes before unpacking (limit maxUncompressedBytes)`);
      }
      options.onProgress?.(total);
    }),
    magic.stream,
    createGunzip({ chunkSize: LAYER_CHUNK_BYTES }),
    createByteMeter(limitTarBytes),
  ];
  return {
    stages,
    rule,
    state,
    checkComplete,
    stagingInfo: createStagingInfoCapture(),
    describeFailure(error) {
      const problem = describeArchiveError(error, tarBytes, magic.startsAsGzip());
      return problem === undefined ? error : new InvalidDropletError(`droplet ${problem}`, { cause: error });
    },
  };
}
