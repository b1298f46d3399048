// A second `serve` on a port another process already serves must refuse to start. uWS binds with
// SO_REUSEPORT by default, so before, a second instance (another config, a forgotten one) started
// "listening" on the same port and the kernel gave it part of the connections: half the clients were
// judged by the wrong config. Now one process binds exclusively; `--workers` share among siblings
// only, their primary checking the port first. Real processes, the proxy's own answers told apart.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePort } from '../../helpers/ports.js';
import { baseConfig, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';

/** An upstream answering with its own name, so a response shows which proxy (config) it went through. */
function namedUpstream(name: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.end(name));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

/** `n` fresh connections to `url`: the bodies received (each names the upstream that answered). */
async function bodies(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await request(url, { headers: { connection: 'close' }, reset: true });
    out.push(await r.body.text());
  }
  return out;
}

const config = (port: number, upstream: string): Record<string, unknown> => ({
  ...baseConfig(upstream), server: { listen: { host: '127.0.0.1', port } }, log: { level: 'warn', access: false },
});

describe('a port another process serves', () => {
  const ups: Server[] = [];
  const procs: ProxyProcess[] = [];
  let first: { server: Server; url: string };
  let second: { server: Server; url: string };
  /** The single process both cases try to share a port with, and its port. */
  let a: ProxyProcess;
  let port = 0;

  beforeAll(async () => {
    [first, second, port] = await Promise.all([namedUpstream('first'), namedUpstream('second'), freePort()]);
    ups.push(first.server, second.server);
    a = await startProxy(config(port, first.url));
    procs.push(a);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(ups.map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
  });

  it('a second single-process serve refuses to start, naming the port; the first keeps every connection', async () => {
    await expect(startProxy(config(port, second.url), { timeoutMs: 20_000 }).then((p) => { procs.push(p); return p; }))
      .rejects.toThrow(new RegExp(`server\\.listen: cannot listen on 127\\.0\\.0\\.1:${port}`));
    expect(new Set(await bodies(a.url, 40)), 'every connection reached the first instance\'s upstream').toEqual(new Set(['first']));
  });

  it('serve --workers 2 on a port a single process serves refuses to start; and a single process on the workers\' port too', async () => {
    // the two directions side by side: each is a start or two and a refusal of its own
    const workersRefused = expect(startProxy(config(port, second.url), { args: ['--workers', '2'], timeoutMs: 30_000 }).then((p) => { procs.push(p); return p; }))
      .rejects.toThrow(/server\.listen: cannot listen on .*another process holds the port/);
    const singleRefused = (async () => {
      const other = await freePort();
      const w = await startProxy(config(other, second.url), { args: ['--workers', '2'], timeoutMs: 30_000 });
      procs.push(w);
      await expect(startProxy(config(other, first.url), { timeoutMs: 20_000 }).then((p) => { procs.push(p); return p; }))
        .rejects.toThrow(new RegExp(`server\\.listen: cannot listen on 127\\.0\\.0\\.1:${other}`));
      expect(new Set(await bodies(w.url, 40)), 'the workers kept every connection').toEqual(new Set(['second']));
    })();
    await Promise.all([workersRefused, singleRefused]);
    expect(new Set(await bodies(a.url, 40))).toEqual(new Set(['first']));
  }, 90_000);
});
