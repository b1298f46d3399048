// The proxy out of file descriptors (its open-files limit lowered with prlimit to what it holds) cannot open
// a connection to the introspection endpoint: a token it has not judged yet gets 503 (fail closed, never
// forwarded, never 401 "inactive"), nothing is cached, and the same token passes once descriptors are back.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Pool } from 'undici';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { SECRET_ENV, asIssuer, introspection, startRecorder, waitReady, type Recorder } from './tokens-helpers.js';

let as: AuthServer;
let echo: EchoUpstream;
let fake: Recorder;
let proxy: ProxyProcess;

/** Set the soft open-files limit of `pid` (util-linux prlimit; the hard one stays). */
function openFilesLimit(pid: number, soft: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:`]);
}

/** The lowest descriptor number `pid` has free: the one its next open would take. */
function lowestFreeFd(pid: number): number {
  const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let n = 0;
  while (open.has(n)) n++;
  return n;
}

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  fake = await startRecorder((_req, _body, res) => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ active: true, sub: 'bob', iss: as.issuer, exp }));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: { demo: asIssuer(as, { introspection: introspection({ endpoint: `${fake.url}/introspect`, cache_ttl_s: 300 }) }) },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
    verifier: { pool_size: 1 },
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), fake?.close()]);
});

describe('introspection with no file descriptor left', () => {
  it('answers 503, caches nothing, and lets the same token through once descriptors are back', async () => {
    const pid = proxy.proc.pid!;
    const pool = new Pool(proxy.url, { connections: 1, pipelining: 1 });
    const get = async (token: string | null): Promise<number> => {
      const r = await pool.request({ path: '/orders/1', method: 'GET', headers: token === null ? {} : { authorization: `Bearer ${token}` } });
      await r.body.dump();
      return r.statusCode;
    };
    // the client connection open first, kept alive (no token: no introspection yet): only the introspection connect finds no descriptor
    expect(await get(null)).toBe(401);
    expect(fake.hits.length, 'no introspection connection yet').toBe(0);
    const token = randomBytes(32).toString('base64url');
    const callsBefore = fake.hits.length;
    // no new descriptor at all (the ones open stay usable): the limit bounds a descriptor's NUMBER and a new one takes
    // the lowest free number, so the limit is that number — a count below what it holds left holes under the limit
    // (descriptors closed earlier) and the connect took one (CI: 200). Set again if a close opened a hole meanwhile.
    for (let i = 0, limit = -1; i < 20 && lowestFreeFd(pid) !== limit; i++) {
      limit = lowestFreeFd(pid);
      openFilesLimit(pid, limit);
    }
    let starved: number;
    try {
      starved = await get(token);
    } finally {
      openFilesLimit(pid, 4096);
    }
    expect(starved, 'fail closed: 503, never a 401 "inactive" nor a forward').toBe(503);
    expect(fake.hits.length, 'no introspection call reached the server').toBe(callsBefore);
    expect(await get(token), 'nothing cached from the failed call: the token is introspected and passes').toBe(200);
    await pool.close();
    expect(proxy.proc.exitCode).toBeNull();
  });
});
