// The `status` label of portcullis_requests_total stays a bounded set when an upstream answers
// whatever status a client asks for (an httpbin-style `/status/<n>`): registered codes keep their
// number, any other is counted under its class (`520` → `5xx`), on both listeners.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { STATUS_CODES } from 'node:http';
import { Pool } from 'undici';
import { startProxy, baseConfig, ADMIN_ENV, ADMIN_TOKEN, type ProxyProcess } from '../../helpers/proxy-process.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../../helpers/upstreams.js';
import { h2Connect, h2Request } from '../../helpers/h2-client.js';
import { metrics, waitReady } from '../auth/tokens-helpers.js';

let upstream: ScriptedUpstream;
let proxy: ProxyProcess;
// every final status node:http lets an upstream send in 200–599 (the proxy answers 502 past 599)
const STATUSES = Array.from({ length: 400 }, (_, i) => 200 + i);
// the labels they may be counted under: registered codes and 499 (the proxy's "client left") by number, the rest by class
const LABELS = new Set([...STATUSES.filter((n) => STATUS_CODES[n] !== undefined || n === 499).map(String), '2xx', '3xx', '4xx', '5xx']);

beforeAll(async () => {
  upstream = await startScriptedUpstream((req, res) => {
    const n = Number(/^\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
    res.writeHead(n, { 'content-length': '0' }).end();
  });
  proxy = await startProxy(baseConfig(upstream.url, {
    server: { listen: { host: '127.0.0.1', port: 0 }, http2: { listen: { host: '127.0.0.1', port: 0 } } },
    routes: [{ name: 'echo-status', match: { path: '/status/*' }, upstream: 'app', auth: 'none' }],
    log: { level: 'info', access: false },
  }), { env: ADMIN_ENV });
  await waitReady(proxy);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

const seriesOf = (text: string, route: string): Map<string, number> => {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^portcullis_requests_total\\{route="${route}",status="([^"]+)"\\} (\\S+)$`, 'gm'))) out.set(m[1]!, Number(m[2]));
  return out;
};

describe('portcullis_requests_total{status} under every status an upstream can send', () => {
  it('keeps registered codes, counts the others under their class, on the main and the HTTP/2 listener', async () => {
    const pool = new Pool(proxy.url, { connections: 8 });
    const got = new Map<number, number>();
    try {
      await Promise.all(Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < STATUSES.length; i += 8) {
          const r = await pool.request({ path: `/status/${STATUSES[i]}`, method: 'GET' });
          await r.body.dump();
          got.set(STATUSES[i]!, r.statusCode);
        }
      }));
    } finally {
      await pool.close();
    }
    // the client still receives each status as the upstream sent it
    for (const n of STATUSES) expect(got.get(n), `status ${n}`).toBe(n);
    const h2Port = Number(/"http2Port":(\d+)/.exec(proxy.output())?.[1]);
    const session = await h2Connect(`http://127.0.0.1:${h2Port}`);
    try {
      for (const n of [520, 299, 404]) expect((await h2Request(session, { ':method': 'GET', ':path': `/status/${n}` })).status).toBe(n);
    } finally {
      session.close();
    }

    const series = seriesOf(await metrics(proxy, ADMIN_TOKEN), 'echo-status');
    // before: one series per status sent (400); now the registered ones, 499 and the 4 classes (64)
    expect(series.size).toBeLessThanOrEqual(LABELS.size);
    expect([...series.keys()].filter((l) => !LABELS.has(l))).toEqual([]);
    expect(series.get('404')).toBe(2);
    expect(series.get('520')).toBeUndefined();
    // 5xx: 500–599 minus the registered 5xx codes, plus the HTTP/2 listener's 520
    const registered5xx = STATUSES.filter((n) => n >= 500 && STATUS_CODES[n] !== undefined).length;
    expect(series.get('5xx')).toBe(100 - registered5xx + 1);
    expect(series.get('2xx')).toBe(100 - STATUSES.filter((n) => n < 300 && STATUS_CODES[n] !== undefined).length + 1);
    let total = 0;
    for (const v of series.values()) total += v;
    expect(total).toBe(STATUSES.length + 3);
  }, 60_000);
});
