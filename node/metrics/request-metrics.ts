// Request metrics kept in plain counters on the hot path (no label lookups beyond the
// route's entry, no allocation per request, no prom-client call) and turned into
// Prometheus families at scrape time. Components register their counters via addSource();
// component-collector.ts sorts them into real families.
import { STATUS_CODES } from 'node:http';
import { Registry, Counter, Gauge } from './prom-parts.js';
import { ComponentCollector, type MetricSource } from './component-collector.js';
import { histogramSamples, ScrapedFamily, type Sample } from './scraped-family.js';

/** Latency bucket bounds in seconds (Prometheus convention). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The `status` label of a status: registered codes (node:http's table), 499 and 0 as themselves, any other
 * as its class (`520` → `5xx`). An upstream that answers the status a client asks for (`/status/<n>`) would
 * otherwise add a series per code, ~400 per route; the class keeps `status=~"5.."` alerts matching.
 */
const STATUS_LABELS: readonly string[] = Array.from({ length: 1000 }, (_, n) => (n === 0 || n === 499 || STATUS_CODES[n] !== undefined ? String(n) : `${Math.floor(n / 100)}xx`));

/** The label a finished request's `status` is counted under (see STATUS_LABELS; `other` outside 0–999). */
export function statusLabel(status: number): string {
  return STATUS_LABELS[status] ?? 'other';
}

class RouteStats {
  /** By status label (statusLabel): a bounded set, whatever statuses upstreams send. */
  readonly byStatus = new Map<string, number>();
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  bytesIn = 0;
  bytesOut = 0;
}

/** Per-process request metrics; one instance per proxy process. */
export class RequestMetrics {
  readonly registry = new Registry();
  private readonly routes = new Map<string, RouteStats>();
  readonly upstreamErrors = new Map<string, number>(); // "upstream\0kind" → count
  /** Responses that did not end complete: "route\0outcome\0reason" → count. */
  readonly incompleteResponses = new Map<string, number>();
  /** Response heads of unknown length that waited for their first body byte (uWS cannot send them alone). */
  headsHeld = 0;
  /** Requests in flight on the main (uWS) listener; `inflightH2` on the HTTP/2 one (both in portcullis_inflight_requests). */
  inflight = 0;
  inflightH2 = 0;
  /** "allowed" or the stable deny reason → count. */
  readonly decisions = new Map<string, number>();
  private readonly components: ComponentCollector;

  constructor() {
    const self = this;
    new Counter({
      name: 'portcullis_requests_total', help: 'Requests by route and status', labelNames: ['route', 'status'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [route, s] of self.routes) for (const [status, n] of s.byStatus) this.inc({ route, status }, n);
      },
    });
    new ScrapedFamily('portcullis_request_duration_seconds', 'Total time from request to last response byte', 'histogram', () => {
      const out: Sample[] = [];
      for (const [route, s] of self.routes) out.push(...histogramSamples('portcullis_request_duration_seconds', { route }, LATENCY_BUCKETS, s.buckets, s.sum, s.count));
      return out;
    }).register(this.registry);
    new Counter({
      name: 'portcullis_request_bytes_total', help: 'Body bytes by route and direction', labelNames: ['route', 'direction'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [route, s] of self.routes) { this.inc({ route, direction: 'in' }, s.bytesIn); this.inc({ route, direction: 'out' }, s.bytesOut); }
      },
    });
    new Counter({
      name: 'portcullis_upstream_errors_total', help: 'Upstream failures by upstream and kind (refused, reset, timeout, ...)', labelNames: ['upstream', 'kind'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, n] of self.upstreamErrors) { const [upstream, kind] = k.split('\0'); this.inc({ upstream: upstream!, kind: kind! }, n); }
      },
    });
    new Counter({
      name: 'portcullis_responses_incomplete_total', help: 'Responses that did not reach the client whole, by route, outcome (truncated: cut by the proxy; aborted: the client connection ended first) and reason', labelNames: ['route', 'outcome', 'reason'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, n] of self.incompleteResponses) { const [route, outcome, reason] = k.split('\0'); this.inc({ route: route!, outcome: outcome!, reason: reason! }, n); }
      },
    });
    new Counter({
      name: 'portcullis_response_heads_held_total', help: 'Response heads of unknown length (chunked, close-delimited) still unsent after the upstream read that brought them: uWebSockets.js sends them with the first body byte', registers: [this.registry],
      collect() { this.reset(); this.inc(self.headsHeld); },
    });
    new Counter({
      name: 'portcullis_auth_decisions_total', help: 'Token decisions on routes with auth: allowed, or denied by stable reason code', labelNames: ['decision', 'reason'], registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, n] of self.decisions) this.inc(reason === 'allowed' ? { decision: 'allowed', reason: '' } : { decision: 'denied', reason }, n);
      },
    });
    new Gauge({
      name: 'portcullis_inflight_requests', help: 'Requests being processed', registers: [this.registry],
      collect() { this.set(self.inflight + self.inflightH2); },
    });
    this.components = new ComponentCollector(this.registry);
  }

  private route(name: string): RouteStats {
    let s = this.routes.get(name);
    if (s === undefined) { s = new RouteStats(); this.routes.set(name, s); }
    return s;
  }

  /** Record one finished request. `seconds` total duration. */
  observe(route: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const s = this.route(route);
    const label = statusLabel(status);
    s.byStatus.set(label, (s.byStatus.get(label) ?? 0) + 1);
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    s.buckets[i]!++; // non-cumulative; made cumulative at scrape
    s.sum += seconds;
    s.count++;
    s.bytesIn += bytesIn;
    s.bytesOut += bytesOut;
  }

  /** Count a token decision: `reason` null = allowed. */
  decision(reason: string | null): void {
    const k = reason ?? 'allowed';
    this.decisions.set(k, (this.decisions.get(k) ?? 0) + 1);
  }

  /** Count a response that did not end complete (`outcome` truncated or aborted); `reason` as in the access log. */
  incomplete(route: string, outcome: string, reason: string): void {
    const k = `${route}\0${outcome}\0${reason}`;
    this.incompleteResponses.set(k, (this.incompleteResponses.get(k) ?? 0) + 1);
  }

  upstreamError(upstream: string, kind: string): void {
    const k = `${upstream}\0${kind}`;
    this.upstreamErrors.set(k, (this.upstreamErrors.get(k) ?? 0) + 1);
  }

  /** Register a function returning `{ "component.name": value }` read at scrape time. */
  addSource(fn: MetricSource): void {
    this.components.add(fn);
  }

  clearSources(): void {
    this.components.clear();
  }

  /** Every registered source key with its current value, before mapping to families (tests, diagnosis). */
  sourceValues(): Record<string, number> {
    return this.components.read();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
