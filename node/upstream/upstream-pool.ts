// One upstream: an H1Pool (our HTTP/1.1 client, see h1-pool.ts) per target, round-robin selection and passive
// ejection of targets after consecutive gateway failures — connect failures, resets before a response, invalid
// responses — or, opted in, consecutive 5xx (Envoy's outlier detection, simplified), never more than
// `max_ejected_percent` of the targets at once. When every target is ejected we still try them (panic mode).
// Ejection windows run on the monotonic clock.
import type { H1PoolOptions, PipelineCounters, UpstreamClient } from './h1-client.js';
import { H1Pool } from './h1-pool.js';
import { H2Pool } from './h2-pool.js';
import { UndiciClient } from './undici-client.js';
import type { UpstreamConfig } from '../config/index.js';
import type { RetiredCounters } from '../retired-counters.js';

/**
 * Internal, for `bench upstream-client` only (not a user setting): PORTCULLIS_UPSTREAM_CLIENT=undici
 * forwards through undici instead of H1Pool, so the two clients can be measured on the same path.
 */
const USE_UNDICI = process.env.PORTCULLIS_UPSTREAM_CLIENT === 'undici';

export interface Target {
  readonly origin: string;
  readonly hostPort: string;
  readonly pool: UpstreamClient;
  /** Gateway failures since the last answer below 500 (a 5xx answer leaves it as it is). */
  consecutiveFailures: number;
  /** 5xx answers and gateway failures since the last answer below 500 (eject.consecutive_5xx). */
  consecutive5xx: number;
  /** Monotonic ms (performance.now). */
  ejectedUntil: number;
}

/** Counters per upstream, read by metrics at scrape time. */
export interface UpstreamStats {
  ejections: number;
  /** Targets past a threshold kept in rotation because max_ejected_percent were out already (Envoy's ejections_overflow). */
  ejectionsOverflow: number;
}

export class UpstreamPool {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly targets: readonly Target[];
  readonly stats: UpstreamStats = { ejections: 0, ejectionsOverflow: 0 };
  private next = 0;
  /** Set at the first ejection: until then every target's ejectedUntil is 0 and pickNow() reads no clock. */
  private everEjected = false;
  /** Most targets ejected at once: max_ejected_percent of them, rounded down (1 target: 0, 2: 1, 3: 1, 4: 2). */
  private readonly maxEjected: number;

  constructor(name: string, config: UpstreamConfig) {
    this.name = name;
    this.config = config;
    this.targets = config.targets.map((t) => {
      const u = new URL(t);
      const origin = `${u.protocol}//${u.host}`;
      const opts: H1PoolOptions = {
        connections: config.pool.connections,
        keepAliveMs: config.pool.keep_alive_ms,
        connectTimeoutMs: config.timeouts.connect_ms,
        headersTimeoutMs: config.timeouts.response_ms,
        bodyTimeoutMs: config.timeouts.idle_body_ms,
        pipelining: config.pipelining,
      };
      return {
        origin,
        hostPort: u.host,
        consecutiveFailures: 0,
        consecutive5xx: 0,
        ejectedUntil: 0,
        pool: config.protocol !== 'h1' ? new H2Pool(origin, opts) : USE_UNDICI ? new UndiciClient(origin, opts) : new H1Pool(origin, opts),
      };
    });
    this.maxEjected = Math.floor((this.targets.length * config.eject.max_ejected_percent) / 100);
  }

  /** Next target in round-robin order, skipping ejected ones (unless all are). `avoid` skips one target (retry). */
  pick(now: number, avoid: Target | null): Target {
    const ts = this.targets;
    const n = ts.length;
    for (let i = 0; i < n; i++) {
      const t = ts[(this.next + i) % n]!;
      if (t === avoid && n > 1) continue;
      if (t.ejectedUntil <= now) {
        this.next = (this.next + i + 1) % n;
        return t;
      }
    }
    // Panic mode: everything is ejected; keep probing round-robin.
    const t = ts[this.next % n]!;
    this.next = (this.next + 1) % n;
    return t === avoid && n > 1 ? ts[this.next % n]! : t;
  }

  /**
   * pick() at the current time, reading the clock (performance.now) only once a target has ever been ejected:
   * before that every ejectedUntil is 0, so time 0 selects exactly as now would — no clock read per
   * request on a healthy upstream.
   */
  pickNow(avoid: Target | null): Target {
    return this.pick(this.everEjected ? performance.now() : 0, avoid);
  }

  /**
   * Record a gateway failure of `t` (a refused or timed-out connect, a reset before any response byte, a response
   * that is not HTTP: upstream-failure.ts gatewayFailure); ejects the target after `eject.consecutive_failures` in a
   * row. Only an answer below 500 restarts the count: before, a 500 did, and a target alternating a reset and a 500
   * stayed in rotation for good.
   */
  targetFailed(t: Target, now = performance.now()): void {
    t.consecutiveFailures++;
    t.consecutive5xx++;
    this.judge(t, now);
  }

  /**
   * The target answered with `status`: below 500 restarts both counts; a 5xx leaves the gateway-failure count
   * as it is (the application's answer, not a dead target) and counts toward `eject.consecutive_5xx` when that is on.
   */
  responded(t: Target, status: number): void {
    if (status < 500) {
      if (t.consecutiveFailures !== 0 || t.consecutive5xx !== 0) { t.consecutiveFailures = 0; t.consecutive5xx = 0; }
      return;
    }
    if (this.config.eject.consecutive_5xx === 0) return;
    t.consecutive5xx++;
    this.judge(t, performance.now());
  }

  /** Has `x` reached an ejection threshold (it failed its last requests)? */
  private due(x: Target): boolean {
    const e = this.config.eject;
    return x.consecutiveFailures >= e.consecutive_failures || (e.consecutive_5xx > 0 && x.consecutive5xx >= e.consecutive_5xx);
  }

  /**
   * Eject `t` if a count reached its threshold — unless max_ejected_percent of the targets are out already (counted
   * as an overflow). The cap spares the targets still serving a shared overload; when every target in rotation has
   * reached its threshold there is none to spare, and `t` takes the slot of the one ejected longest ago, which goes
   * back into rotation (it has had the longest to recover). Before, the first ejected kept its slot for its whole
   * window while the one left failed every request (two targets: every POST 502 for up to duration_ms, though the
   * ejected one had come back). With no slot at all (max_ejected_percent 0, or one target) `t` stays in rotation.
   */
  private judge(t: Target, now: number): void {
    if (!this.due(t) || t.ejectedUntil > now) return;
    let out = 0;
    let oldest: Target | null = null;
    let spared = false; // a target in rotation below its thresholds
    for (const x of this.targets) {
      if (x.ejectedUntil <= now) { if (x !== t && !this.due(x)) spared = true; continue; }
      out++;
      if (oldest === null || x.ejectedUntil < oldest.ejectedUntil) oldest = x;
    }
    if (out >= this.maxEjected) {
      this.stats.ejectionsOverflow++;
      if (spared || oldest === null) return;
      oldest.ejectedUntil = 0; // back now; its counts stay, so its next failure may take a slot again
    }
    const e = this.config.eject;
    t.ejectedUntil = now + e.duration_ms;
    this.everEjected = true;
    this.stats.ejections++;
  }

  /** Open connections to this upstream (for /metrics). */
  connections(): { connected: number; pending: number; running: number } {
    let connected = 0, pending = 0, running = 0;
    for (const t of this.targets) {
      const s = t.pool.stats();
      connected += s.connected;
      pending += s.pending;
      running += s.running;
    }
    return { connected, pending, running };
  }

  /** Pipelining counters over the targets (zero unless `pipelining` > 1). */
  pipelineCounters(): PipelineCounters {
    const out: PipelineCounters = { pipelined: 0, retried: 0, discarded: 0, stray: 0 };
    for (const t of this.targets) {
      const c = t.pool.pipelineCounters?.();
      if (c === undefined) continue;
      out.pipelined += c.pipelined;
      out.retried += c.retried;
      out.discarded += c.discarded;
      out.stray += c.stray;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => t.pool.destroy())));
  }

  /**
   * A reload replaced this upstream: requests that started on the old config finish here (close()
   * would answer them 502), and the targets keep nothing open once they are done.
   */
  retire(): void {
    for (const t of this.targets) {
      if (t.pool.retire !== undefined) t.pool.retire();
      else void t.pool.close().catch(() => t.pool.destroy());
    }
  }

  destroy(): void {
    for (const t of this.targets) t.pool.destroy();
  }
}

/** Keys of poolStats that are levels, not counts: a reload does not carry them over to the pool replacing this one. */
export const UPSTREAM_GAUGES: ReadonlySet<string> = new Set(['connections', 'pending']);

/** One pool's component values: `connections`, `pending`, `ejections`, `stray_bytes`, and the pipelining counters where it is on. */
export function poolStats(up: UpstreamPool): Record<string, number> {
  const c = up.connections();
  const p = up.pipelineCounters();
  const out: Record<string, number> = { connections: c.connected, pending: c.pending, ejections: up.stats.ejections, ejections_overflow: up.stats.ejectionsOverflow, stray_bytes: p.stray };
  if (up.config.pipelining > 1) Object.assign(out, { pipelined: p.pipelined, pipeline_retried: p.retried, pipeline_discarded: p.discarded });
  return out;
}

/**
 * Component values of every upstream for /metrics (`upstream.<name>_<key>` of poolStats), with the
 * counters of the pools a reload replaced under that name (`retired`): they never go down.
 */
export function addUpstreamStats(out: Record<string, number>, upstreams: ReadonlyMap<string, UpstreamPool>, retired: ReadonlyMap<string, RetiredCounters<Record<string, number>>> = new Map()): void {
  for (const [name, up] of upstreams) {
    const s = poolStats(up);
    retired.get(name)?.addTo(s);
    for (const [k, v] of Object.entries(s)) out[`upstream.${name}_${k}`] = v;
  }
}
