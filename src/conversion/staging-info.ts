/**
 * Captures the droplet's `staging_info.yml` (JSON since Diego: detected buildpack, start command)
 * while the droplet streams through, so the image config can fall back to its start command
 * without a second read of the droplet.
 */
import type { EntryBodyObserver, EntryHeader } from './rewrite-tar.ts';

/** Where the rewrite emits the droplet's `./staging_info.yml`. */
const STAGING_INFO_LAYER_PATH = 'home/vcap/staging_info.yml';

// Real ones are a few hundred bytes; anything far bigger is not worth holding in memory.
const MAX_STAGING_INFO_BYTES = 1024 * 1024;

/** Watches one droplet's rewrite for its staging_info.yml. */
export interface StagingInfoCapture {
  /** Pass as the rewrite's `observe` option. */
  observe(header: EntryHeader): EntryBodyObserver | undefined;
  /** The parsed file once the stream has ended, or `undefined` when absent, too big or not a JSON object. */
  result(): Record<string, unknown> | undefined;
}

/** A capture for one droplet. A later entry of the same name replaces an earlier one, as on extraction. */
export function createStagingInfoCapture(): StagingInfoCapture {
  let chunks: Buffer[] | null = null;
  let bytes = 0;
  return {
    observe(header) {
      if (header.name !== STAGING_INFO_LAYER_PATH) return undefined;
      chunks = [];
      bytes = 0;
      return (chunk) => {
        bytes += chunk.length;
        if (bytes <= MAX_STAGING_INFO_BYTES) chunks?.push(chunk);
      };
    },
    result() {
      if (chunks === null || bytes > MAX_STAGING_INFO_BYTES) return undefined;
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
      } catch {
        // DEA-era droplets wrote YAML; without a start command from it the caller uses CAPI's.
        return undefined;
      }
    },
  };
}
