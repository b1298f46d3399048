// An introspection endpoint that drips its answer a byte at a time, forever: every idle timer stays
// happy. Waiters coalesced on that one call all get 503 at timeout_ms, and the call itself is cut
// at late_answer_ms (a total bound), so its connection serves other tokens again afterwards — also
// when the dripped body follows an error status.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { startProxy, baseConfig, ADMIN_ENV, type ProxyProcess } from '../../helpers/proxy-process.js';
import { waitFor } from '../../helpers/wait.js';
import {
  SECRET_ENV, asIssuer, bearer, call, echoed, expectUnavailable, introspection, startRecorder, waitReady, type Recorder,
} from './tokens-helpers.js';

const TIMEOUT_MS = 200;
const LATE_MS = 600;
let as: AuthServer;
let echo: EchoUpstream;
let fake: Recorder;
let proxy: ProxyProcess;
/** token → the status whose body drips forever (200 or an error status). */
const dripped = new Map<string, number>();

beforeAll(async () => {
  as = await startAuthServer();
  echo = await startEchoUpstream();
  fake = await startRecorder((_req, body, res) => {
    const token = new URLSearchParams(body).get('token') ?? '';
    if (!dripped.has(token)) {
      const exp = Math.floor(Date.now() / 1000) + 300;
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"active":true,"sub":"bob","iss":"${as.issuer}","exp":${exp}}`);
      return;
    }
    // a head, then one space every 50 ms: valid JSON whitespace that never ends
    res.writeHead(dripped.get(token)!, { 'content-type': 'application/json' });
    const t = setInterval(() => res.write(' '), 50);
    res.on('close', () => clearInterval(t));
  });
  proxy = await startProxy(baseConfig(echo.url, {
    issuers: {
      demo: asIssuer(as, {
        introspection: introspection({ endpoint: `${fake.url}/introspect`, timeout_ms: TIMEOUT_MS, late_answer_ms: LATE_MS, connections: 1, max_pending: 64 }),
      }),
    },
    routes: [{ name: 'orders', match: { path: '/orders/*' }, upstream: 'app', auth: {} }],
  }), { env: { ...ADMIN_ENV, ...SECRET_ENV } });
  await waitReady(proxy);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([as?.close(), echo?.close(), fake?.close()]);
});

const token = (): string => randomBytes(32).toString('base64url');
const get = (t: string) => call(`${proxy.url}/orders/1`, { headers: bearer(t) });

describe('introspection answer dripped forever', () => {
  it('every request coalesced on the hung call gets 503 with Retry-After; the AS saw one call', async () => {
    const t = token();
    dripped.set(t, 200);
    const before = fake.hits.length;
    const replies = await Promise.all(Array.from({ length: 20 }, () => get(t)));
    for (const r of replies) expectUnavailable(r);
    expect(fake.hits.length - before).toBe(1);
  });

  it('the hung call is cut at late_answer_ms: the only connection then answers other tokens again', async () => {
    const hung = token();
    dripped.set(hung, 200);
    expectUnavailable(await get(hung));
    // before: the dripping call held the one connection for good, and every other token got 503
    await waitFor('another token is introspected and forwarded', async () => (await get(token())).status === 200, 5_000);
    expect(echoed(await get(token())).headers['x-auth-subject']).toBe('bob');
  });

  it('an error status whose body drips forever: 503, and its connection too is freed at late_answer_ms', async () => {
    await waitFor('the connection is free', async () => (await get(token())).status === 200, 5_000);
    const hung = token();
    dripped.set(hung, 500);
    expectUnavailable(await get(hung));
    // before: the error body was drained after the call had given its connection back, with no deadline
    await waitFor('another token is introspected and forwarded', async () => (await get(token())).status === 200, 5_000);
  });
});
