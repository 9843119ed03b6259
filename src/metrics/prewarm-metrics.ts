/**
 * The pre-warmer's figures, read from its counters at each scrape: events handled, warms by
 * outcome, events given up, whether this instance leads, and the lag between a droplet being
 * staged (its audit event) and the pre-warmer handling it.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** What the pre-warmer (workers/prewarmer.ts) has done since this process started; read at each scrape. */
export interface PrewarmCounters {
  /** Audit events dealt with for good (warmed, skipped or given up), each counted once. */
  eventsSeen: number;
  /** Warms that converted a droplet. */
  conversions: number;
  /** Warms that found the image already there. */
  alreadyReady: number;
  /** Droplets that cannot become images (docker, cnb, no rootfs for the stack…) or are gone. */
  skipped: number;
  /** Warms that failed (CAPI, blobstore unavailable…) and are retried on a later round. */
  failures: number;
  /** Events given up after their droplet failed to warm on MAX_ATTEMPTS rounds. */
  givenUp: number;
  /** Seconds between the last handled event's `created_at` and its handling; `null` before the first. */
  lastLagSeconds: number | null;
}

/** What the gauges read: the pre-warmer's counters and leadership. */
export interface PrewarmState {
  readonly counters: Readonly<PrewarmCounters>;
  readonly isLeader: boolean;
}

export class PrewarmMetrics {
  #prewarmer: PrewarmState | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const counters = () => this.#prewarmer?.counters;
    // The pre-warmer counts since the process started; each scrape copies its totals.
    const events: Counter = new Counter({
      name: `${METRIC_PREFIX}prewarm_events_total`,
      help: 'Staging audit events the pre-warmer has dealt with for good (warmed, skipped or given up).',
      registers,
      collect: () => copyTotal(events, counters()?.eventsSeen),
    });
    const warms: Counter<'outcome'> = new Counter({
      name: `${METRIC_PREFIX}prewarm_warms_total`,
      help: 'Pre-warm attempts by outcome: converted, ready (already there), skipped (cannot become an image, or no droplet), failed (retried later).',
      labelNames: ['outcome'],
      registers,
      collect: () => {
        const current = counters();
        warms.reset();
        if (!current) return;
        warms.inc({ outcome: 'converted' }, current.conversions);
        warms.inc({ outcome: 'ready' }, current.alreadyReady);
        warms.inc({ outcome: 'skipped' }, current.skipped);
        warms.inc({ outcome: 'failed' }, current.failures);
      },
    });
    const givenUp: Counter = new Counter({
      name: `${METRIC_PREFIX}prewarm_given_up_total`,
      help: 'Staging events given up after their droplet failed to warm on 20 rounds (their first pull converts it).',
      registers,
      collect: () => copyTotal(givenUp, counters()?.givenUp),
    });
    const lag: Gauge = new Gauge({
      name: `${METRIC_PREFIX}prewarm_lag_seconds`,
      help: "Seconds between the last handled staging event's creation in Cloud Controller and its handling here (0 before the first).",
      registers,
      collect: () => lag.set(counters()?.lastLagSeconds ?? 0),
    });
    const leader: Gauge = new Gauge({
      name: `${METRIC_PREFIX}prewarm_leader`,
      help: '1 when this instance leads pre-warming (follows the audit events), else 0.',
      registers,
      collect: () => leader.set(this.#prewarmer?.isLeader ? 1 : 0),
    });
  }

  /** Where the metrics read from; without one (directory source, pre-warming off) they stay at zero. */
  observe(prewarmer: PrewarmState): void {
    this.#prewarmer = prewarmer;
  }
}

function copyTotal(counter: Counter, total: number | undefined): void {
  counter.reset();
  if (total) counter.inc(total);
}
