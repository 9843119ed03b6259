/**
 * What reusing Cloud Controller's and UAA's answers saves, and what it costs: lookups in the cache
 * of Cloud Controller's answers by kind and outcome (hit, miss: Cloud Controller asked, stale: a
 * failing upstream's earlier answer served), and every stale answer served, CC's and UAA's alike.
 */
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** An answer served stale: one of the source cache's kinds, a pull permission, a password login. */
type StaleAnswer = 'name' | 'app' | 'current_droplet' | 'droplet' | 'decision' | 'login';

export class SourceCacheMetrics {
  readonly #lookups: Counter<'kind' | 'outcome'>;
  readonly #stale: Counter<'answer'>;

  constructor(registry: Registry) {
    this.#lookups = new Counter({
      name: `${METRIC_PREFIX}capi_cache_lookups_total`,
      help: "Lookups in this instance's cache of Cloud Controller answers, by kind (name, app, current_droplet, droplet) and outcome (hit; miss: Cloud Controller was asked; stale: it failed and an earlier answer was served).",
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    });
    this.#stale = new Counter({
      name: `${METRIC_PREFIX}upstream_stale_answers_total`,
      help: 'Answers served from before because Cloud Controller or UAA failed (UPSTREAM_STALE_IF_ERROR_MS), by answer: name, app, current_droplet, droplet (Cloud Controller lookups), decision (a pull permission), login (a password login).',
      labelNames: ['answer'],
      registers: [registry],
    });
  }

  record(kind: 'name' | 'app' | 'current_droplet' | 'droplet', outcome: 'hit' | 'miss' | 'stale'): void {
    this.#lookups.inc({ kind, outcome });
    if (outcome === 'stale') this.#stale.inc({ answer: kind });
  }

  staleAnswer(answer: StaleAnswer): void {
    this.#stale.inc({ answer });
  }
}
