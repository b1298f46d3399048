// The per-file stand of a suite whose proxies share one NATS bus: a nats-server, the demo authorization
// server and echo upstream, started together before the file's tests, and stopped after them with every
// member the file started through it (and the stand's own NATS connection, when it asked for one).
import { afterAll, beforeAll } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startNatsServer, type NatsServer } from '../../helpers/nats.js';
import { ADMIN_ENV, BUS_AUTH, BUS_ENV, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import { call, memberConfig } from './proxy-fixtures.js';

export interface BusStand {
  readonly as: AuthServer;
  readonly echo: EchoUpstream;
  readonly nats: NatsServer & { stop(): Promise<void> };
  /** The stand's own NATS connection (only with `{ client: true }`). */
  readonly nc: NatsConnection;
  /** The `cluster` section of a member of this file's bus: the server, `prefix`, the bus key; `extra` merged in. */
  cluster(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Start a member (memberConfig on the echo upstream, `cluster(extra)`); stopped after the file. */
  member(extra?: Record<string, unknown>, opts?: { args?: string[]; timeoutMs?: number }): Promise<ProxyProcess>;
  /** Stop `p` after the file (a proxy the file started itself). */
  track<P extends ProxyProcess>(p: P): P;
}

/** Register the stand's beforeAll/afterAll in the calling file (or describe); `prefix`: the subject prefix of its members (default a random one). */
export function busStand(opts: { prefix?: string; client?: boolean } = {}): BusStand {
  const prefix = opts.prefix ?? `pbs${Math.random().toString(36).slice(2, 8)}`;
  let as: AuthServer | undefined;
  let echo: EchoUpstream | undefined;
  let nats: (NatsServer & { stop(): Promise<void> }) | undefined;
  let nc: NatsConnection | undefined;
  const members: ProxyProcess[] = [];

  beforeAll(async () => {
    [as, echo, nats] = await Promise.all([startAuthServer(), startEchoUpstream(), startNatsServer()]);
    if (opts.client === true) nc = await connect({ servers: [nats.url] });
  }, 30_000);
  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await nc?.close();
    await nats?.stop();
    await Promise.all([as?.close(), echo?.close()]);
  });

  const ready = <T>(v: T | undefined, what: string): T => { if (v === undefined) throw new Error(`bus stand: ${what} used before beforeAll`); return v; };
  const stand: BusStand = {
    get as() { return ready(as, 'as'); },
    get echo() { return ready(echo, 'echo'); },
    get nats() { return ready(nats, 'nats'); },
    get nc() { return ready(nc, 'nc (ask for { client: true })'); },
    cluster: (extra = {}) => ({ nats: { servers: [stand.nats.url] }, subject_prefix: prefix, auth: BUS_AUTH, ...extra }),
    async member(extra = {}, o = {}) {
      const p = await startProxy(memberConfig(stand.as, stand.echo.url, stand.cluster(extra)), { env: { ...ADMIN_ENV, ...BUS_ENV }, ...o });
      members.push(p);
      return p;
    },
    track(p) { members.push(p); return p; },
  };
  return stand;
}

/** Wait until eight calls in a row with `token` answer 200: each on a fresh connection, so `--workers 2` spreads them over both workers. */
export async function bothWorkersServe(p: ProxyProcess, token: string, ms = 15_000): Promise<void> {
  const all200 = async (): Promise<boolean> => { for (let i = 0; i < 8; i++) if ((await call(p, token)).status !== 200) return false; return true; };
  await waitFor('both workers to serve', all200, ms);
}
