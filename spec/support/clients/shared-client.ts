/**
 * A client daemon shared by the tests of one spec file: provisioned and started the first time a
 * test needs it (so a file whose tests are all skipped starts nothing), stopped once in `after`.
 * On the two-core test machines, one daemon per file instead of one per test keeps runs short.
 */
import type { TestContext } from 'node:test';
import { skipOrFail } from '../requirements.ts';

export interface SharedClient<T> {
  /** The started client, or null once the test has been skipped because it can't be provisioned. */
  get(t: TestContext): Promise<T | null>;
  /** Stops the client if it was started. */
  stop(): Promise<void>;
}

/** `provision` returns why the client can't run, or null; `start` and `stop` manage one instance. */
export function sharedClient<T>(
  provision: () => string | null,
  start: () => Promise<T>,
  stop: (client: T) => Promise<void> | void,
): SharedClient<T> {
  let started: Promise<T> | undefined;
  return {
    get: async (t) => {
      const reason = provision();
      if (reason) {
        skipOrFail(t, reason);
        return null;
      }
      started ??= start();
      return started;
    },
    stop: async () => {
      if (!started) return;
      const client = await started.catch(() => undefined);
      started = undefined;
      if (client) await stop(client);
    },
  };
}
