// server.decision.unix_socket: the decision endpoints on a unix-domain socket, as an nginx on
// the same host calls them (`server unix:/…`). A real proxy process whose trusted_edges exclude
// loopback: over TCP the same call is refused, over the socket the file mode decides. A second
// process replaces the socket file; the last test stops it with SIGTERM, as an orchestrator does.
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthServer } from '../../../cluster/cli/demo/auth-server.js';
import { startEchoUpstream, type EchoUpstream } from '../../../cluster/cli/demo/echo-upstream.js';
import { ADMIN_ENV, ADMIN_TOKEN, startProxy, type ProxyProcess } from '../../helpers/proxy-process.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { waitFor } from '../../helpers/wait.js';
import { DECISION, INTROSPECTION_SECRET, decisionPolicy, send, waitReady, type Answer } from './decision-fixtures.js';

const ENV = { ...ADMIN_ENV, PT_INTROSPECTION_SECRET: INTROSPECTION_SECRET };

let as: AuthServer;
let echo: EchoUpstream;
let proxy: ProxyProcess;
/** The process that replaced the socket file (test 5); the drain test stops it. */
let other: ProxyProcess | undefined;
let dir: string;
let sock: string;
let agent: Agent;
let token: string;

/** Introspection held by the authorization server in the drain test, ms (under the issuer's timeout below). */
const HELD_MS = 3_000;

function config(unixPath: string): Record<string, unknown> {
  const policy = decisionPolicy(as, echo.url) as { issuers: { demo: { introspection: Record<string, unknown> } } };
  policy.issuers.demo.introspection.timeout_ms = HELD_MS + 2_000;
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, decision: { ...DECISION, trusted_edges: ['10.255.0.0/16'], unix_socket: { path: unixPath, mode: '0660' } } },
    admin: { listen: { host: '127.0.0.1', port: 0 }, token_env: 'PORTCULLIS_TEST_ADMIN_TOKEN' },
    ...policy,
    log: { level: 'warn', access: false },
    verifier: { pool_size: 1 },
  };
}

/** One call over the unix socket. */
async function viaSocket(path: string, headers: Record<string, string>): Promise<Answer> {
  const r = await request(`http://localhost${path}`, { headers, dispatcher: agent });
  const text = await r.body.text();
  let json: Record<string, unknown> | null = null;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: r.statusCode, headers: r.headers, text, json };
}

const original = (uri: string, extra: Record<string, string> = {}): Record<string, string> => ({ 'x-original-uri': uri, 'x-original-method': 'GET', host: 'api.example', ...extra });

beforeAll(async () => {
  [as, echo] = await Promise.all([startAuthServer(), startEchoUpstream()]);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-decision-sock-'));
  sock = join(dir, 'decision.sock');
  agent = new Agent({ connect: { socketPath: sock } });
  proxy = await startProxy(config(sock), { env: ENV });
  await waitReady(proxy.adminUrl, ADMIN_TOKEN);
  token = await as.issueJwt({ sub: 'alice', scope: 'orders:read' });
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await proxy?.stop();
  await other?.stop('SIGKILL');
  await Promise.all([as?.close(), echo?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('decision endpoints on a unix socket', () => {
  it('allows and denies over the socket while TCP callers outside trusted_edges stay refused', async () => {
    const ok = await viaSocket('/_portcullis/auth', original('/orders/1', { authorization: `Bearer ${token}` }));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers['x-auth-subject']).toBe('alice');
    expect(ok.headers['cache-control']).toBe('no-store');
    const none = await viaSocket('/_portcullis/auth', original('/orders/1'));
    expect(none.status).toBe(401);
    expect(String(none.headers['www-authenticate'])).toMatch(/^Bearer realm=/);
    const tcp = await send(`${proxy.url}/_portcullis/auth`, original('/orders/1', { authorization: `Bearer ${token}` }));
    expect(tcp.status).toBe(403);
    expect(tcp.json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_UNTRUSTED_EDGE' });
  });

  it('serves only the decision endpoints: a proxied route over the socket is 404 and never reaches the upstream', async () => {
    const before = echo.requests;
    const r = await viaSocket('/orders/1', { authorization: `Bearer ${token}`, host: 'api.example' });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_ROUTE_NOT_FOUND' });
    expect(echo.requests).toBe(before);
  });

  it('refuses a missing original request and oversized headers with the listener\'s statuses', async () => {
    const r = await viaSocket('/_portcullis/auth', { authorization: `Bearer ${token}` });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'PORTCULLIS_ERR_DECISION_ORIGINAL_MISSING' });
    // raw bytes: the listener answers 431 and closes while a client may still be writing the
    // 70 kB head (undici then reports EPIPE instead of the answer a user of nginx would see)
    const head = Object.entries(original('/orders/1', { 'x-filler': 'a'.repeat(70_000) })).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const big = await rawRequest(sock, `GET /_portcullis/auth HTTP/1.1\r\n${head}\r\n`);
    expect(big.status).toBe(431);
  });

  it('the socket file has the configured mode', async () => {
    expect(statSync(sock).isSocket()).toBe(true);
    expect(statSync(sock).mode & 0o777).toBe(0o660);
  });

  it('a socket file left at the path is replaced at start; a regular file at the path stops the start naming it', async () => {
    other = await startProxy(config(sock), { env: ENV });
    // The new process answers on the replaced socket; its first verdict may be a 503 while its
    // verifier pool and key fetch are still starting on a loaded machine, so ask until it decides.
    let r = await viaSocket('/_portcullis/auth', original('/orders/1', { authorization: `Bearer ${token}` }));
    for (let i = 0; i < 50 && r.status === 503; i++) {
      await new Promise((done) => setTimeout(done, 200));
      r = await viaSocket('/_portcullis/auth', original('/orders/1', { authorization: `Bearer ${token}` }));
    }
    expect(r.status, r.text).toBe(200);
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    await expect(startProxy(config(file), { env: ENV, timeoutMs: 15_000 })).rejects.toThrow(/not-a-socket exists and is not a socket/);
    expect(statSync(file).isFile()).toBe(true);
  });

  it('serve --workers 2 (server.workers left at 1): each worker listens on <path>.<N>, and each answers', async () => {
    // before, the socket name followed server.workers only: both workers took the same path, the second
    // replaced the first's file (that worker unreachable) and an edge listing <path>.0 and <path>.1 found neither
    const path = join(dir, 'flag.sock');
    // without the internal-token route: several workers need a shared key_file for it
    const { internal_tokens: _, ...rest } = config(path) as { internal_tokens: unknown; routes: Array<{ forward?: { token?: string } }> };
    const flagged = await startProxy({ ...rest, routes: rest.routes.filter((r) => r.forward?.token !== 'internal') }, { env: ENV, args: ['--workers', '2'], timeoutMs: 40_000 });
    try {
      await waitReady(flagged.adminUrl, ADMIN_TOKEN);
      expect(existsSync(path), 'no un-indexed socket beside the workers\' own').toBe(false);
      for (const n of [0, 1]) {
        const perWorker = new Agent({ connect: { socketPath: `${path}.${n}` } });
        try {
          const r = await request('http://localhost/_portcullis/auth', { headers: original('/orders/1', { authorization: `Bearer ${token}` }), dispatcher: perWorker });
          expect(r.statusCode, `${path}.${n}`).toBe(200);
          await r.body.dump();
        } finally { await perWorker.close(); }
      }
    } finally {
      await flagged.stop();
    }
  });

  it('during a stop\'s drain a call on an open socket connection is judged with Connection: close, not refused 503', async () => {
    // nginx keeps its connections to `server unix:/…` open: a 503 for a call on one of them was a 500 for the user
    const keepAlive = new Client('http://localhost', { socketPath: sock, keepAliveTimeout: 60_000, pipelining: 1 });
    const call = async (uri: string): Promise<{ status: number; connection: unknown; text: string }> => {
      const r = await keepAlive.request({ path: '/_portcullis/auth', method: 'GET', headers: original(uri, { authorization: `Bearer ${token}` }) });
      return { status: r.statusCode, connection: r.headers.connection, text: await r.body.text() };
    };
    const proc = other!;
    try {
      expect((await call('/orders/1')).status).toBe(200);
      // a decision whose introspection the authorization server holds keeps the drain going
      as.setIntrospection('slow', HELD_MS);
      const opaque = as.issueOpaque({ sub: 'bob', scope: 'orders:read' });
      const before = as.counters.introspection;
      const held = viaSocket('/_portcullis/auth', original('/orders/2', { authorization: `Bearer ${opaque}` }));
      await waitFor('the held introspection call', () => as.counters.introspection > before, 5_000);
      proc.proc.kill('SIGTERM');
      // the drain has begun once the socket file is gone (no new connections)
      await waitFor('the socket file removed', () => !existsSync(sock), 5_000);
      const late = await call('/orders/3');
      expect(late.status, late.text).toBe(200);
      expect(late.connection).toBe('close');
      const first = await held;
      expect(first.status, first.text).toBe(200);
      expect(await proc.exited).toBe(0);
      expect(existsSync(sock), 'the socket file is removed at shutdown').toBe(false);
    } finally {
      as.setIntrospection('normal');
      await keepAlive.close().catch(() => {});
    }
  });
});
