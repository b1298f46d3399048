// The RFC 7662 clients of one config, one per issuer with introspection, and their lifecycle:
// endpoint discovery with backoff, joining the cluster-wide cache (IntrospectionSharing), and
// reload in two steps — prepare builds clients for new or changed issuers beside the running
// ones, commit swaps (unchanged issuers keep their client, cache and endpoint), discard drops.
import { heapBoundedCacheBytes } from '../cache-heap-bound.js';
import type { Config, IssuerConfig } from '../config/index.js';
import type { IntrospectionSharing } from '../contracts/index.js';
import type { Logger } from '../log.js';
import type { Principal } from '../pipeline/context.js';
import { RetiredCounters } from '../retired-counters.js';
import { IntrospectionClient } from './introspection-client.js';
import { INTROSPECTION_GAUGES, type IntrospectionStats } from './introspection-stats.js';
import { discoverIntrospection } from './introspection-discovery.js';

interface Slot {
  readonly config: string; // JSON of the issuer config, to keep clients of unchanged issuers
  readonly client: IntrospectionClient;
  /** Cleared when a reload retires the client: its answers (old settings) are no longer shared. */
  readonly shares: { open: boolean };
  /** Set on commit: leaves the cluster cache and stops discovery. */
  detach: () => void;
  stopDiscovery: () => void;
}

/** The clients a config needs, built by IntrospectionSet.prepare and not yet in use. */
export interface PreparedIntrospection {
  /** Issuer name → client, for the authenticator of the same config. */
  readonly clients: ReadonlyMap<string, IntrospectionClient>;
  /** @internal */ readonly slots: ReadonlyMap<string, Slot>;
  /** @internal Slots made for this config: attached and discovering on commit, closed on discard. */
  readonly created: readonly Slot[];
}

export interface IntrospectionSetOptions {
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
  /** The cluster-wide cache and owner single-flight; null: this process only. */
  sharing: IntrospectionSharing | null;
}

/** Every key of the stats (the type makes a new one appear here); counters or gauges by INTROSPECTION_GAUGES. */
export const ZERO_STATS: IntrospectionStats = {
  calls_ok: 0, calls_failed: 0, calls_inactive: 0, singleflight_waits: 0, calls_queue_full: 0, calls_late: 0, lookups_deadline: 0, calls_client_limited: 0, calls_preempted: 0, calls_held: 0,
  cache_hits: 0, cache_misses: 0, cache_entries: 0, cache_evictions: 0, latency_ms_sum: 0, latency_count: 0,
};

export class IntrospectionSet {
  private slots: ReadonlyMap<string, Slot> = new Map();
  /** Every counter of the clients a reload retired (gauges not): the summed counters never go down. */
  private readonly retired = new RetiredCounters<IntrospectionStats>(INTROSPECTION_GAUGES);

  constructor(private readonly opts: IntrospectionSetOptions) {}

  /** Build clients for the issuers of `next` that are new or changed. Throws (having built nothing) on an unset client secret variable. */
  prepare(next: Config): PreparedIntrospection {
    const slots = new Map<string, Slot>();
    const created: Slot[] = [];
    try {
      for (const [name, cfg] of Object.entries(next.issuers)) {
        if (cfg.introspection === undefined) continue;
        const old = this.slots.get(name);
        if (old !== undefined && old.config === JSON.stringify(cfg)) { slots.set(name, old); continue; }
        const s = this.build(name, cfg, next); // throws on an unset client secret variable
        created.push(s);
        slots.set(name, s);
      }
    } catch (err) {
      for (const s of created) void s.client.close();
      throw err;
    }
    const clients = new Map<string, IntrospectionClient>();
    for (const [name, s] of slots) clients.set(name, s.client);
    return { clients, slots, created };
  }

  /** Swap to `p`: new clients join the cluster cache and start discovery, retired ones close once their waiting lookups are answered. Never throws. */
  commit(p: PreparedIntrospection): void {
    for (const [name, s] of p.slots) if (p.created.includes(s)) this.start(name, s);
    for (const [name, s] of this.slots) if (p.slots.get(name) !== s) this.retire(s, true);
    this.slots = p.slots;
  }

  /** A refused reload: close what prepare built. */
  discard(p: PreparedIntrospection): void {
    for (const s of p.created) void s.client.close();
  }

  /** Whether `issuer`'s endpoint is known; null when the issuer has no introspection. */
  ready(issuer: string): boolean | null {
    const s = this.slots.get(issuer);
    return s === undefined ? null : s.client.ready();
  }

  /** A client's cached principal for `token` (SHA-256 hex `key`), or undefined; calls nobody (the cluster gate's look, node/auth). */
  cached(token: string, key: string): Principal | undefined {
    for (const s of this.slots.values()) {
      const p = s.client.cached(token, key);
      if (p !== undefined) return p;
    }
    return undefined;
  }

  /** A revoked token leaves every client's cache. */
  evict(token: string): void {
    for (const s of this.slots.values()) s.client.evict(token);
  }

  /** This process's cached outcomes of `sub`'s tokens (of `iss` when not null) leave every client's cache; how many were dropped. */
  dropSubject(iss: string | null, sub: string): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.client.dropSubject(iss, sub).length;
    return n;
  }

  /** Stats summed over the live clients, plus the counters of retired ones. */
  stats(): IntrospectionStats {
    const out: IntrospectionStats = { ...ZERO_STATS };
    this.retired.addTo(out);
    for (const s of this.slots.values()) {
      const st = s.client.stats();
      for (const k of Object.keys(out) as (keyof IntrospectionStats)[]) out[k] += st[k];
    }
    return out;
  }

  close(): void {
    for (const s of this.slots.values()) this.retire(s);
    this.slots = new Map();
  }

  private build(name: string, cfg: IssuerConfig, next: Config): Slot {
    const { logger, env, sharing } = this.opts;
    // an unchanged issuer URL keeps the endpoint discovery found (a changed cache TTL needs no new lookup)
    const old = this.slots.get(name);
    const oldCfg = old === undefined ? undefined : (JSON.parse(old.config) as IssuerConfig);
    const endpoint = oldCfg !== undefined && oldCfg.issuer === cfg.issuer && JSON.stringify(oldCfg.discovery) === JSON.stringify(cfg.discovery) ? old!.client.endpoint : null;
    const shares = { open: true };
    const publish = sharing?.publisher(name);
    const client = new IntrospectionClient({
      name, issuer: cfg, env, maxEntries: next.verifier.cache_entries, maxBytes: heapBoundedCacheBytes(next.verifier.cache_bytes), logger, endpoint,
      ...(sharing !== null ? { coordinate: sharing.coordinator(name), onResult: (key, result) => { if (shares.open) publish?.(key, result); } } : {}),
    });
    return { config: JSON.stringify(cfg), client, shares, detach: () => {}, stopDiscovery: () => {} };
  }

  private start(name: string, s: Slot): void {
    const sharing = this.opts.sharing;
    if (sharing !== null) s.detach = sharing.attach(name, s.client);
    if (s.client.endpoint === null) s.stopDiscovery = discoverIntrospection(name, JSON.parse(s.config) as IssuerConfig, s.client, this.opts.logger);
  }

  /** `replaced`: a reload, lookups waiting on it get their answer first; else (shutdown) it closes now. */
  private retire(s: Slot, replaced = false): void {
    // the lookups still waiting on it get their answer, but the cluster (and this member's new
    // client, through the owner's kept results) does not: it was fetched under the replaced settings
    s.shares.open = false;
    s.detach();
    s.stopDiscovery();
    if (replaced) this.retired.retire(s.client, s.client.retire()); // counts on while its waiters are answered
    else void s.client.close();
  }
}
