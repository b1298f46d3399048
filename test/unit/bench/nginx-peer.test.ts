// The nginx peer of jwt-warm (bench/nginx.ts) doing the same hop work as Portcullis: with
// `forwardfor` the config appends X-Forwarded-For, and a real nginx in front of a real upstream
// and auth service delivers it (and the identity headers from the auth answer, not the client's).
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nginxAuthConfig, startNginxAuth, type NginxPeer } from '../../../bench/nginx.js';

const XFF_LINE = 'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;';

async function listen(s: Server): Promise<number> {
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

describe('nginxAuthConfig forwardfor', () => {
  it('appends X-Forwarded-For only when asked, in the proxied location only', () => {
    const base = { dir: '/tmp/x', port: 1, upstreamPort: 2, authPort: 3, authPath: '/verify', cacheTtlS: 600 };
    expect(nginxAuthConfig(base)).not.toContain('X-Forwarded-For');
    const conf = nginxAuthConfig({ ...base, forwardfor: true });
    expect(conf.split(XFF_LINE)).toHaveLength(2);
    const app = conf.slice(conf.indexOf('location / {'), conf.indexOf('location = /_auth'));
    expect(app).toContain(XFF_LINE);
  });
});

describe('nginx peer, live', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => { for (const c of closers.splice(0).reverse()) await c(); });

  for (const forwardfor of [true, false]) {
    it(`the upstream receives ${forwardfor ? 'the client address appended to' : 'the client\'s own'} X-Forwarded-For and the auth service's identity`, async () => {
      const seen: IncomingHttpHeaders[] = [];
      const upstream = createServer((req, res) => { seen.push(req.headers); res.end('ok'); });
      const auth = createServer((_req, res) => { res.setHeader('x-auth-subject', 'alice'); res.end(); });
      const [upstreamPort, authPort] = [await listen(upstream), await listen(auth)];
      closers.push(() => { upstream.closeAllConnections(); upstream.close(); }, () => { auth.closeAllConnections(); auth.close(); });
      const ng = await startNginxAuth({ upstreamPort, authPort, authPath: '/verify', cacheTtlS: 0, forwardfor });
      if ('skipped' in ng) throw new Error(ng.skipped);
      closers.push(() => (ng as NginxPeer).stop());
      const res = await fetch(`${ng.url}/x`, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-auth-subject': 'mallory' } });
      expect(res.status).toBe(200);
      expect(seen).toHaveLength(1);
      expect(seen[0]!['x-forwarded-for']).toBe(forwardfor ? '203.0.113.7, 127.0.0.1' : '203.0.113.7');
      expect(seen[0]!['x-auth-subject']).toBe('alice');
    });
  }
});
