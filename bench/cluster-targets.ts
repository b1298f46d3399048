// What the cluster scenarios start and ask: the peers (nats-server, authorization server, upstream), N
// Portcullis members (`serve --config`, one process each) on them with a token config (JWT and optionally introspection), their
// readiness and membership, revocations through the admin API, and the cluster metrics.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Client } from 'undici';
import { startNatsProcess, type NatsProcess } from './nats-process.js';
import { startPortcullis, startUpstreamProcess, type RunningTarget } from './targets.js';
import { BENCH_SCOPE, INTROSPECTION_SECRET_ENV, benchConfigHead, startAuthServerProcess, tokenConfigEnv, type AuthServerProcess } from './token-targets.js';
import { sourceValues } from '../node/metrics/index.js';

/** A started member: its proxy and admin ports. */
export type Member = RunningTarget & { adminPort: number; id: string };

export interface MemberConfigOptions {
  upstreamPort: number;
  issuer: string;
  algorithms: readonly string[];
  /** Add the issuer's RFC 7662 introspection (opaque tokens), endpoint from discovery. */
  introspection?: boolean;
  /** Omit for a standalone instance (no cluster section). */
  /** `direct`: also `cluster.revocation.direct` on loopback, any port (the direct revocation push); `receiver`: `cluster.revocation.receiver` (default: the config's default). */
  cluster?: { natsUrl: string; prefix: string; memberId: string; direct?: boolean; receiver?: 'main' | 'thread' };
  /** Introspection positive-result TTL, s (config default 60). */
  introspectionTtlS?: number;
  /**
   * Add route `/probe/*` requiring a scope no bench token has: a valid token gets 403 there
   * without an upstream hop, a revoked one 401 (the revocation check runs before authorization),
   * so a prober sees the refusal at the cost of the proxy alone.
   */
  probeRoute?: boolean;
}

/** The scope `/probe/*` requires (no bench token carries it). */
export const PROBE_SCOPE = 'bench:probe';

/** Variable holding the members' bus key (`cluster.auth.key_env`); startMembers sets it. */
export const BUS_KEY_ENV = 'PORTCULLIS_BENCH_BUS_KEY';
/** The bus key of every member this bench process starts (and of its bus observers). */
export const BENCH_BUS_KEY = randomBytes(48).toString('base64');

/**
 * One member's config: one issuer, one route `/*` requiring scope orders:read (optionally
 * `/probe/*` before it), one worker
 * process, verifier pool of 1, access log off; with `cluster`, NATS + JetStream revocations
 * under a per-run subject prefix (runs never see each other's stream).
 */
function revocationYaml(c: NonNullable<MemberConfigOptions['cluster']>): string {
  const parts = [...(c.direct === true ? ['direct: { listen: "127.0.0.1:0" }'] : []), ...(c.receiver === undefined ? [] : [`receiver: ${c.receiver}`])];
  return parts.length === 0 ? '' : `  revocation: { ${parts.join(', ')} }\n`;
}

export function memberConfigYaml(o: MemberConfigOptions): string {
  const intro = o.introspection === true
    ? `\n    introspection: { client_id: portcullis, client_secret_env: ${INTROSPECTION_SECRET_ENV}${o.introspectionTtlS !== undefined ? `, cache_ttl_s: ${o.introspectionTtlS}` : ''} }`
    : '';
  const cluster = o.cluster === undefined ? '' : `cluster:
  nats: { servers: ["${o.cluster.natsUrl}"] }
  subject_prefix: ${o.cluster.prefix}
  member_id: ${o.cluster.memberId}
  auth: { key_env: ${BUS_KEY_ENV} }
${revocationYaml(o.cluster)}`;
  return `${benchConfigHead(o.issuer, o.algorithms, o.upstreamPort, intro)}
routes:${o.probeRoute === true ? `
  - name: probe
    match: { path: "/probe/*" }
    upstream: app
    auth: { scopes: { all: [${PROBE_SCOPE}] } }` : ''}
  - name: api
    match: { path: "/*" }
    upstream: app
    auth: { scopes: { all: [${BENCH_SCOPE}] } }
verifier: { pool_size: 1, cache_entries: 200000 }
${cluster}log: { level: info, access: false }
`;
}

/** A subject prefix unique to this run. */
export function runPrefix(): string {
  return `bench${randomBytes(4).toString('hex')}`;
}

/** What a cluster scenario's members run against, and the members' token env and this run's subject prefix. */
export interface ClusterPeers {
  readonly nats: NatsProcess;
  readonly as: AuthServerProcess;
  readonly upstream: RunningTarget;
  readonly env: Record<string, string>;
  readonly adminToken: string;
  readonly prefix: string;
}

/** Start nats-server, the authorization server and the upstream (unpinned), one after the other, each stop pushed on `stops` as it starts: the caller stops them, after a failure too. */
export async function startClusterPeers(stops: Array<() => Promise<void>>): Promise<ClusterPeers> {
  const nats = await startNatsProcess();
  stops.push(() => nats.stop());
  const as = await startAuthServerProcess();
  stops.push(() => as.stop());
  const upstream = await startUpstreamProcess();
  stops.push(() => upstream.stop());
  return { nats, as, upstream, ...tokenConfigEnv(), prefix: runPrefix() };
}

/** Start members `ids` in parallel (each its own `serve` process, unpinned unless `cpus`). */
export async function startMembers(ids: readonly string[], config: (id: string) => string, env: Record<string, string>, cpus?: readonly number[], cli?: string): Promise<Member[]> {
  const withKey = { ...env, [BUS_KEY_ENV]: BENCH_BUS_KEY };
  const settled = await Promise.allSettled(ids.map(async (id) => ({ ...(await startPortcullis(config(id), cpus, withKey, cli)), id })));
  const ok = settled.filter((s): s is PromiseFulfilledResult<Member> => s.status === 'fulfilled').map((s) => s.value);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(ok.map((m) => m.stop().catch(() => {})));
    throw failed.reason;
  }
  return ok;
}

/** GET /readyz until 200 (keys loaded, revocations replayed); throws with the last body. */
export async function waitReady(m: Member, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${m.adminPort}/readyz`);
      last = await r.text();
      if (r.status === 200) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > until) throw new Error(`member ${m.id} not ready within ${timeoutMs} ms: ${last.slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pure: one component's counters (`members_live`, `revocation_propagation_ms_p99`…) read back from the families of a /metrics text, in the component's own units. */
export function componentValues(metrics: string, component: string): Record<string, number> {
  return sourceValues(metrics, component);
}

/** The member's `cluster` component values from admin /metrics. */
export async function clusterMetrics(m: Member, adminToken: string): Promise<Record<string, number>> {
  const r = await fetch(`http://127.0.0.1:${m.adminPort}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (!r.ok) throw new Error(`member ${m.id} /metrics: ${r.status}`);
  return componentValues(await r.text(), 'cluster');
}

/** Wait until every member sees `n` serving members (heartbeats heard), so ownership is settled before a measurement. */
export async function waitMembership(members: readonly Member[], adminToken: string, n: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const live = await Promise.all(members.map(async (m) => (await clusterMetrics(m, adminToken)).members_live ?? 0));
    if (live.every((x) => x === n)) return;
    if (Date.now() > until) throw new Error(`members see ${live.join(', ')} live members, expected ${n} each, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `POST /revocations` over `admin` (an undici Client on the member's admin port, connected
 * beforehand: fetch() costs a millisecond of its own before anything is written). Resolves
 * with the status and when the answer's headers arrived (performance.now()).
 */
export async function revokeAt(admin: Client, adminToken: string, body: Record<string, unknown>): Promise<{ status: number; answeredAt: number; persisted: boolean | null }> {
  const r = await admin.request({
    path: '/revocations', method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const answeredAt = performance.now();
  const j = (await r.body.json().catch(() => ({}))) as { persisted?: boolean | null };
  return { status: r.statusCode, answeredAt, persisted: j.persisted ?? null };
}

/** Pure: the `jti` claim of a JWT (no verification). */
export function jtiOf(jwt: string): string {
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: unknown };
  if (typeof payload.jti !== 'string') throw new Error('token has no jti');
  return payload.jti;
}
