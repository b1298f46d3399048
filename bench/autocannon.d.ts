// Types for the parts of autocannon 8 the harness uses (the package ships none).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      pipelining?: number;
      /** Seconds. */
      duration?: number;
      /** Seconds. */
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Total requests, spread over the connections; when set, `duration` is ignored and the run waits for every response. */
      amount?: number;
      /** Request templates each connection cycles through; `setupRequest` runs right before each send. */
      requests?: Array<{ method?: string; path?: string; headers?: Record<string, string>; setupRequest?: (req: RequestData) => RequestData }>;
      /** Requests per second over all connections (each connection gets an equal per-second quota). */
      overallRate?: number;
      connectionRate?: number;
      ignoreCoordinatedOmission?: boolean;
      warmup?: { connections?: number; duration?: number };
      workers?: number;
      title?: string;
    }
    interface RequestData { method: string; path: string; headers: Record<string, string>; [key: string]: unknown }
    interface Histogram {
      average: number; mean: number; stddev: number; min: number; max: number; total: number;
      p50: number; p90: number; p97_5: number; p99: number; p99_9: number;
      [key: string]: number;
    }
    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      resets: number;
      mismatches: number;
      '2xx': number;
      statusCodeStats: Record<string, { count: number }>;
      latency: Histogram;
      requests: Histogram & { sent: number };
      throughput: Histogram;
    }
    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
    }
  }

  function autocannon(opts: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
