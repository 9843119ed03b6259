/**
 * Readiness (`GET /readyz`): whether this instance can serve pulls now, as opposed to `/healthz`
 * (the process runs). Each check names a dependency; the answer is 200 when all pass, else 503
 * naming each failing check and why, so route_registrar (bin/healthy) takes the instance out of
 * the route and an operator reading the body sees what to fix.
 *
 * @remarks
 * Probes come every few seconds from every health checker: a check's result is reused for its
 * `cacheMs` and concurrent probes share one run, so Cloud Controller and UAA are not hammered; a
 * check that does not answer within `timeoutMs` fails (an unreachable database hangs rather than
 * refusing).
 */
import type { ServerRoute } from '@hapi/hapi';

/** One dependency readiness depends on: resolves when it is usable, rejects saying why not. */
export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<void>;
  /** How long a result is reused, in milliseconds (0: every probe runs the check). */
  readonly cacheMs: number;
}

/** What a check found, as `/readyz` reports it. */
export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, CheckResult>;
}

/** Longest a check may take before it counts as failed: under bin/healthy's curl timeout (3 s by default). */
export const READINESS_CHECK_TIMEOUT_MS = 2_000;

interface Cached {
  readonly result: CheckResult;
  readonly at: number;
}

export class Readiness {
  readonly #checks: readonly ReadinessCheck[];
  readonly #timeoutMs: number;
  readonly #cache = new Map<string, Cached>();
  readonly #running = new Map<string, Promise<CheckResult>>();

  constructor(checks: readonly ReadinessCheck[], options: { timeoutMs?: number } = {}) {
    this.#checks = checks;
    this.#timeoutMs = options.timeoutMs ?? READINESS_CHECK_TIMEOUT_MS;
  }

  /** Runs (or reuses) every check. */
  async report(): Promise<ReadinessReport> {
    const results = await Promise.all(this.#checks.map(async (check) => [check.name, await this.#result(check)] as const));
    return { ready: results.every(([, result]) => result.ok), checks: Object.fromEntries(results) };
  }

  #result(check: ReadinessCheck): Promise<CheckResult> {
    const cached = this.#cache.get(check.name);
    if (cached && performance.now() - cached.at < check.cacheMs) return Promise.resolve(cached.result);
    const running = this.#running.get(check.name);
    if (running) return running;
    const run = this.#run(check).then((result) => {
      this.#cache.set(check.name, { result, at: performance.now() });
      this.#running.delete(check.name);
      return result;
    });
    this.#running.set(check.name, run);
    return run;
  }

  async #run(check: ReadinessCheck): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      await Promise.race([check.check(), timeout]);
      return { ok: true };
    } catch (error) {
      return { ok: false, error: describeFailure(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * `GET /readyz`: unauthenticated, 200 `{status: "ready"}` or 503 `{status: "not ready"}`, each
 * check's result. Why a check fails (internal addresses, user names, upstream answers) is told
 * only to a probe on this machine (the socket's peer is loopback: bin/healthy, an operator on the
 * VM); anyone else learns which checks fail.
 */
export function readinessRoute(readiness: Readiness): ServerRoute {
  return {
    method: 'GET',
    path: '/readyz',
    options: { auth: false },
    handler: async (request, h) => {
      const { ready, checks } = await readiness.report();
      const local = isLoopback(request.info.remoteAddress);
      const shown = local ? checks : Object.fromEntries(Object.entries(checks).map(([name, result]) => [name, { ok: result.ok }]));
      return h
        .response({ status: ready ? 'ready' : 'not ready', checks: shown })
        .code(ready ? 200 : 503)
        .header('cache-control', 'no-store');
    },
  };
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The failure's message, with anything that could carry a secret taken out: credentials in URLs
 * (`//user:password@`) and query strings (signed URLs). Probes are unauthenticated.
 */
export function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return text.replace(/\/\/[^/\s@]*@/g, '//').replace(/(https?:\/\/[^\s?]*)\?\S*/g, '$1');
}
