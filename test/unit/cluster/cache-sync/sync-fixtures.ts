// The shared introspection cache's test bench: members over one in-process transport standing in for the bus,
// a counting authorization server, a miniature IntrospectionClient, and members that beat without serving (ghosts).
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { Codec, MessageBus, subjects } from '../../../../cluster/protocol/index.js';
import { LocalTransport } from '../../../../cluster/transport/index.js';
import { Membership } from '../../../../cluster/membership/index.js';
import { IntrospectionSync, rendezvousOwner, type IntrospectionSyncOptions } from '../../../../cluster/cache-sync/index.js';
import type { IntrospectionResult } from '../../../../node/contracts/index.js';
import { waitFor } from '../../../helpers/wait.js';

export const silent = pino({ level: 'silent' });
export const ISSUER = 'demo';
export const keyOf = (s: string): string => createHash('sha256').update(s).digest('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** A counting authorization server: `delayMs` per call, `failNext` makes calls fail. */
export class FakeAs {
  calls = 0;
  delayMs = 0;
  failNext = 0;
  async call(key: string): Promise<IntrospectionResult> {
    this.calls++;
    const fail = this.failNext > 0;
    if (fail) this.failNext--;
    await sleep(this.delayMs);
    if (fail) throw Object.assign(new Error('as down'), { code: 'AS_DOWN' });
    return { active: true, claims: { sub: key.slice(0, 8), iss: 'https://as.test' }, expiresAt: Date.now() + 60_000 };
  }
}

/** The IntrospectionClient contract in miniature: local cache, per-key single-flight, coordinate, onResult unless evicted mid-flight. */
export class MiniClient {
  readonly cache = new Map<string, IntrospectionResult>();
  private readonly inflight = new Map<string, { p: Promise<IntrospectionResult>; evicted: boolean }>();
  constructor(private readonly sync: IntrospectionSync, private readonly as: FakeAs) {
    sync.attach(ISSUER, this);
  }
  lookup(key: string): IntrospectionResult | Promise<IntrospectionResult> {
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAt > Date.now()) return hit;
    const f = this.inflight.get(key);
    if (f !== undefined) return f.p;
    const flight = { p: null as unknown as Promise<IntrospectionResult>, evicted: false };
    flight.p = (async () => {
      try {
        const r = await this.sync.coordinator(ISSUER)(key, () => this.as.call(key));
        if (!flight.evicted) { this.cache.set(key, r); this.sync.publisher(ISSUER)(key, r); }
        return r;
      } finally { this.inflight.delete(key); }
    })();
    this.inflight.set(key, flight);
    return flight.p;
  }
  prime(key: string, r: IntrospectionResult): boolean {
    if (r.expiresAt <= Date.now()) return false;
    this.cache.set(key, r);
    return true;
  }
  dropSubject(_iss: string | null, sub: string): string[] {
    const keys = [...this.cache].filter(([, r]) => r.claims?.sub === sub).map(([k]) => k);
    for (const k of keys) this.cache.delete(k);
    return keys;
  }
  evict(key: string): boolean {
    const f = this.inflight.get(key);
    if (f !== undefined) f.evicted = true;
    return this.cache.delete(key);
  }
}

export interface Member { id: string; bus: MessageBus; membership: Membership; sync: IntrospectionSync; client: MiniClient }

/** A key owned by `owner` among `ids`. */
export function keyOwnedBy(owner: string, ids: readonly string[], tag = ''): string {
  for (let i = 0; ; i++) {
    const k = keyOf(`${tag}token-${i}`);
    if (rendezvousOwner(k, ids) === owner) return k;
  }
}

/** Transports and members a test made, closed by close() (call it in afterEach). */
export class SyncMesh {
  private readonly transports: LocalTransport[] = [];
  private readonly members: Member[] = [];

  close = async (): Promise<void> => {
    for (const m of this.members.splice(0)) { m.sync.close(); m.membership.close(); }
    for (const t of this.transports.splice(0)) await t.close();
  };

  mesh = (): LocalTransport => {
    const t = new LocalTransport();
    this.transports.push(t);
    return t;
  };

  member = (t: LocalTransport, id: string, as: FakeAs, opts: Partial<IntrospectionSyncOptions> = {}): Member => {
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    const membership = new Membership({ bus, id, role: 'single', intervalMs: 50 });
    const sync = new IntrospectionSync({ bus, membership, memberId: id, logger: silent, ...opts });
    sync.start();
    membership.start();
    const m = { id, bus, membership, sync, client: new MiniClient(sync, as) };
    this.members.push(m);
    return m;
  };

  cluster = async (n: number, as: FakeAs, opts: Partial<IntrospectionSyncOptions> = {}): Promise<Member[]> => {
    const t = this.mesh();
    const ms = Array.from({ length: n }, (_, i) => this.member(t, `m${i}`, as, opts));
    await waitFor('membership', () => ms.every((m) => m.membership.members().length === n), 2_000);
    return ms;
  };

  /** A member whose heartbeats the test switches on and off (a stall or a crash, never a goodbye). */
  ghost = (t: LocalTransport, id: string): { beating: boolean; stop(): void } => {
    const bus = new MessageBus(t, new Codec(), subjects('t'));
    let seq = 0;
    const g = { beating: true, stop: () => clearInterval(timer) };
    const beat = (): void => {
      if (g.beating) bus.publish(bus.subjects.members, { type: 'member.heartbeat', v: 1, id, role: 'single', host: 'h', pid: 1, startedAt: 1, seq: ++seq, intervalMs: 50 });
    };
    const timer = setInterval(beat, 50);
    beat();
    return g;
  };
}
