/**
 * Polls until something is ready. Daemons answer some time after they start, and how long varies
 * with the machine, so tests wait for readiness instead of sleeping; the timeout only stops a hang.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Called on every round; a string ends the wait at once with that message (e.g. "exited early"). */
  abort?: () => string | null;
  /** Appended to the error message on timeout or abort, e.g. the daemon's log. */
  details?: () => string;
}

/** Resolves once `ready()` returns true (exceptions count as "not yet"); rejects on timeout or abort. */
export async function waitFor(what: string, ready: () => Promise<boolean> | boolean, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 60_000, intervalMs = 200 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw new Error(`${what}: ${aborted}${formatDetails(options)}`);
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not ready after ${timeoutMs} ms${lastError ? ` (last error: ${lastError})` : ''}${formatDetails(options)}`);
    }
    await sleep(intervalMs);
  }
}

function formatDetails(options: WaitOptions): string {
  const details = options.details?.();
  return details ? `\n--- log\n${details}` : '';
}
