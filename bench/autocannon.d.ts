/** The slice of autocannon (which ships no types) that the bench uses. */
declare module 'autocannon' {
  export interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
    p99_9?: number;
  }
  export interface Result {
    url: string;
    requests: Histogram;
    latency: Histogram;
    throughput: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    mismatches: number;
    /** Seconds actually run. */
    duration: number;
    start: Date;
    finish: Date;
    connections: number;
    pipelining: number;
    statusCodeStats: Record<string, { count: number }>;
  }
  /** Internals of autocannon's per-connection client that the bench adjusts. */
  export interface AutocannonClient {
    parser: Record<number, ((...args: unknown[]) => unknown) | undefined>;
    pipelinedRequests: { addBody: (data: Buffer) => void };
  }
  export interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    connections?: number;
    pipelining?: number;
    duration?: number;
    timeout?: number;
    setupClient?: (client: AutocannonClient) => void;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
