// Pieces of the receiver-thread suites: a member config with `cluster.revocation.receiver`, a
// /metrics reader, and a TCP relay in front of nats-server that can cut and refuse only the
// receiver threads' connections (told apart by the NATS client name in CONNECT).
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import type { AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';

/** A proxy config on `upstream` with the given `cluster` section. */
export function threadConfig(as: AuthServer, upstream: string, cluster: Record<string, unknown>): Record<string, unknown> {
  return {
    server: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    issuers: { demo: { issuer: as.issuer, audiences: ['portcullis-demo'] } },
    upstreams: { app: { targets: [upstream] } },
    routes: [{ name: 'api', match: { path: '/api/*' }, upstream: 'app', auth: {} }],
    cluster,
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

/** GET /api/x with the token, on a fresh connection (so `--workers` processes share them). */
export async function call(p: ProxyProcess, token: string): Promise<{ status: number; challenge: string }> {
  const r = await request(`${p.url}/api/x`, { headers: { authorization: `Bearer ${token}`, connection: 'close' } });
  await r.body.dump();
  return { status: r.statusCode, challenge: String(r.headers['www-authenticate'] ?? '') };
}

/** Every sample of `family` at `p` whose labels contain `labels` (e.g. `path="thread"`), summed. */
export async function metric(p: ProxyProcess, family: string, labels = ''): Promise<number> {
  const text = await (await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(family)) continue;
    const rest = line.slice(family.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{')) || !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The relay: `url` to give members; `cutReceivers(true)` closes the receiver threads' connections and refuses new ones. */
export interface NatsRelay {
  readonly url: string;
  cutReceivers(on: boolean): void;
  /** Receiver-thread connections refused or cut so far. */
  readonly refused: number;
  close(): Promise<void>;
}

/** A plain TCP relay to `port` on 127.0.0.1 that reads the client's CONNECT line for its name. */
export async function startNatsRelay(port: number): Promise<NatsRelay> {
  let cut = false;
  let refused = 0;
  const receivers = new Set<Socket>();
  const all = new Set<Socket>();
  const server: Server = createServer((c) => {
    const up = tcpConnect({ host: '127.0.0.1', port });
    all.add(c);
    let head = '';
    let known = false;
    const end = (): void => { c.destroy(); up.destroy(); receivers.delete(c); all.delete(c); };
    c.on('data', (d: Buffer) => {
      if (!known) {
        head += d.toString('latin1');
        if (!head.includes('\r\n')) { up.write(d); return; }
        known = true;
        if (/"name":"[^"]*revocation-receiver"/.test(head)) {
          if (cut) { refused++; end(); return; }
          receivers.add(c);
        }
      }
      up.write(d);
    });
    up.on('data', (d: Buffer) => c.write(d));
    c.on('error', end);
    up.on('error', end);
    c.on('close', end);
    up.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  return {
    url: `nats://127.0.0.1:${addr.port}`,
    cutReceivers(on: boolean) {
      cut = on;
      if (on) for (const s of [...receivers]) { refused++; s.destroy(); }
    },
    get refused() { return refused; },
    close: () => new Promise<void>((r) => { for (const s of all) s.destroy(); server.close(() => r()); }),
  };
}
