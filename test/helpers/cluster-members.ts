// Real `portcullis serve` members of one bus for the cluster suites: the config every member
// shares (loopback listeners, admin token, quiet log, one verifier thread), its `cluster` section
// (fresh subject prefix, this file's bus key), starting N members, waiting for N in a member's view.
import { request } from 'undici';
import { ADMIN_TOKEN, BUS_AUTH, BUS_ENV, startProxy, waitReady, type ProxyProcess } from './proxy-process.js';
import { waitFor } from './wait.js';

/** A fresh bus subject prefix `<tag><6 random chars>`, so suites never see each other's streams. */
export function subjectPrefix(tag: string): string {
  return `${tag}${Math.random().toString(36).slice(2, 8)}`;
}

/** The `cluster` section of a member on `servers` under `prefix`, with the bus key (BUS_AUTH); `extra` keys are added and win. */
export function busSection(servers: string | readonly string[], prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { nats: { servers: typeof servers === 'string' ? [servers] : [...servers] }, subject_prefix: prefix, auth: BUS_AUTH, ...extra };
}

/**
 * A member's config: server and admin on 127.0.0.1 port 0 (admin token from PORTCULLIS_TEST_ADMIN_TOKEN),
 * log level warn without access lines, one verifier thread. `sections` (issuers, upstreams, routes,
 * cluster, event_sources…) are added at the top level and win over those defaults.
 */
export function clusterMemberConfig(sections: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
    ...sections,
  };
}

/**
 * Start `n` members on the same `config` at once (the admin token, the bus key and `env` in their
 * environment), then wait until every one answers /readyz 200. Fails when one does not start or get ready.
 */
export async function startMembers(n: number, config: unknown, env: Record<string, string> = {}): Promise<ProxyProcess[]> {
  const members = await Promise.all(Array.from({ length: n }, () => startProxy(config, { env: { ...BUS_ENV, ...env } })));
  await Promise.all(members.map((p) => waitReady(p)));
  return members;
}

/**
 * Poll the authenticated /readyz of `p` every 100 ms until 200 with `members` members in its view — proxy instances, or
 * with `count: 'serving_processes'` the processes answering requests (a `--workers N` instance's workers each count);
 * throws with the last body after `ms` (default 30 s).
 */
export async function waitReadyWithMembers(p: ProxyProcess, members: number, ms = 30_000, count: 'members' | 'serving_processes' = 'members'): Promise<void> {
  let last = '';
  await waitFor(`/readyz 200 with ${members} ${count}`, async () => {
    const r = await request(`${p.adminUrl}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    last = await r.body.text();
    return r.statusCode === 200 && (JSON.parse(last) as { cluster?: Record<string, unknown> }).cluster?.[count] === members;
  }, ms, { everyMs: 100, detail: () => last });
}
