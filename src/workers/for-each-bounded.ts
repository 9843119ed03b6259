/** Runs an async task per item with at most `limit` running at once, so background work never floods CAPI or the blobstore. */

/**
 * Calls `task` for each item, `limit` at a time, in order. Stops taking new items once `stopped()`
 * is true (items under way finish). Tasks must not reject: each one handles its own failure.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>, stopped: () => boolean): Promise<void> {
  let next = 0;
  const runner = async (): Promise<void> => {
    while (next < items.length && !stopped()) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, runner));
}
